"""xlwings Server imports this package by name (from XLWINGS_PROJECT_DIR); the scripts live in addin.scripts."""

from addin.scripts import clear, export_json, presubmission_check, validate

__all__ = ["clear", "export_json", "presubmission_check", "validate"]
