"""Cost-line eligibility: a data-driven classifier per rule pack (``shinsei classify``).

``load_classifier(pack).classify(category=..., description=..., unit_price=..., quantity=...)``
returns a ``Classification`` (verdict ok / ng / review, reason code, clause, bilingual message).
"""

from pipeline.eligibility.classifier import Classification, Classifier, load_classifier
from pipeline.eligibility.lexicon import LexiconError

__all__ = ["Classification", "Classifier", "LexiconError", "load_classifier"]
