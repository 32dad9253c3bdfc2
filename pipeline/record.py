"""What ``@dataclass`` gave the value classes of ``shinsei validate``'s path: ``==``, ``repr``, pickling.

``shinsei validate FILE`` is one short process, so everything it imports is paid on every run: importing
``dataclasses`` took ~7 ms (it imports ``inspect``, hence ast, dis, tokenize and linecache) and building
each @dataclass class ~0.45 ms, ~14 ms of a ~130 ms run. A class here lists its fields in ``_fields``
(constructor order), ``__slots__ = _fields`` unless a cached property needs a ``__dict__``, and writes its
own ``__init__``; values that need no ``__dict__``, mutation or mutable default are ``typing.NamedTuple``
instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["FrozenInstanceError", "FrozenRecord", "Record"]


class FrozenInstanceError(AttributeError):
    """Assignment to a frozen record (an AttributeError, as ``dataclasses.FrozenInstanceError`` is)."""


class Record:
    """Mutable fields: equal when of the same class with equal fields (unhashable, as a @dataclass)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()          # compared, pickled and shown, in constructor order
    _hidden: ClassVar[frozenset[str]] = frozenset()  # left out of repr (a dataclass's field(repr=False))

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden)
        return f"{type(self).__qualname__}({shown})"

    # The fields only (not what a cached_property keeps in a __dict__), restored without __init__ or
    # __setattr__: any pickle protocol, slots or not, frozen or not.
    def __getstate__(self) -> tuple[Any, ...]:
        return self._values()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._assign(*state)

    def _assign(self, *values: Any) -> None:
        """Every field, in ``_fields`` order, past a frozen record's refusal of assignment."""
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)


class FrozenRecord(Record):
    """Immutable fields (``__init__`` sets them with ``_assign``); hashed by them, as a frozen dataclass."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())
