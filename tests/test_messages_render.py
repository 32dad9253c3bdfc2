"""Every message the packs and the input catalogue hold renders the same through the fast path.

``findings.render`` tries str.format_map first and falls back to the lenient _Formatter (a missing or
None value as '—', a value its format does not fit as plain text): whatever the values, the message
must be the one the lenient formatter alone gives.
"""

from __future__ import annotations

import itertools
import string
from typing import Any

import pytest

from pipeline.findings import _FMT, input_catalogue, render
from pipeline.packs import all_packs

_MISSING = object()
SAMPLES: tuple[Any, ...] = ("東都大学 Tōto", 1_234_567, 2.5, 0, None, True, "", _MISSING)


def _templates() -> list[tuple[str, str]]:
    found = []
    for code, kind in input_catalogue().items():
        found += [(f"input {code} {lang}", kind["message"][lang]) for lang in ("ja", "en")]
    for pack in all_packs():
        for rule in pack.rules:
            found += [(f"{pack.id} {rule['code']} {lang}", rule["message"][lang]) for lang in ("ja", "en")]
    return found


def _names(template: str) -> list[str]:
    """The top-level names a template reads: "{max:,}" -> max, "{a.b}" -> a."""
    out = []
    for _, field, spec, _ in string.Formatter().parse(template):
        if field:
            out.append(field.split(".")[0].split("[")[0])
        if spec and "{" in spec:
            out += _names(spec)
    return sorted(set(out))


def _outcome(fn: Any, template: str, values: dict[str, Any]) -> Any:
    try:
        return fn(template, values)
    except Exception as exc:  # both ways must fail alike (neither does on the packs' messages)
        return type(exc)


TEMPLATES = _templates()


def test_the_packs_have_messages_with_placeholders() -> None:
    assert len(TEMPLATES) > 100 and sum(bool(_names(t)) for _, t in TEMPLATES) > 50


@pytest.mark.parametrize(("where", "template"), TEMPLATES, ids=[w for w, _ in TEMPLATES])
def test_render_is_the_lenient_formatter(where: str, template: str) -> None:
    names = _names(template)
    # each name takes every sample in turn, the names shifted against each other
    for shift in range(len(SAMPLES)):
        values = {n: v for n, v in zip(names, itertools.islice(itertools.cycle(SAMPLES), shift, None), strict=False)
                  if v is not _MISSING}
        fast = _outcome(render, template, values)
        assert fast == _outcome(lambda t, v: _FMT.vformat(t, (), v), template, values), (where, values)
        assert isinstance(fast, str), (where, values)
