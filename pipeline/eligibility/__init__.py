"""Cost-line eligibility: a data-driven classifier per rule pack (``shinsei classify``).

``load_classifier(pack).classify(category=..., description=..., unit_price=..., quantity=...)``
returns a ``Classification`` (verdict ok / ng / review, reason code, clause, bilingual message).

The names below are imported on first use: ``shinsei --help`` imports ``pipeline.eligibility.cli``
to list the ``classify`` command, and must not pay for the classifier and its lexicon to do so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.eligibility.classifier import Classification, Classifier, load_classifier
    from pipeline.eligibility.lexicon import LexiconError

__all__ = ["Classification", "Classifier", "LexiconError", "load_classifier"]


def __getattr__(name: str) -> Any:
    # import statements, not importlib.import_module: python -X importtime logs only those
    if name == "LexiconError":
        import pipeline.eligibility.lexicon as module
    elif name in __all__:
        import pipeline.eligibility.classifier as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value
