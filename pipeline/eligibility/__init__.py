"""Cost-line eligibility: a data-driven classifier per rule pack (``shinsei classify``)."""

from pipeline.eligibility.classifier import Classification, Classifier, load_classifier

__all__ = ["Classification", "Classifier", "load_classifier"]
