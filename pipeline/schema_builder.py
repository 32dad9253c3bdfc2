"""Generate ``schemas/submission.schema.json`` from the forms, so schema and templates never drift.

Run ``shinsei schema build`` after changing a form; a test fails while the committed schema
differs from what the forms give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.packs import all_packs
from pipeline.resources import schemas_dir

_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string", "minLength": 1},
    "choice": {"type": "string", "minLength": 1},
    "date": _DATE,
    "yen": {"type": "integer"},
    "int": {"type": "integer"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
}


def _nullable(kind: str) -> dict[str, Any]:
    return {"anyOf": [_TYPES[kind], {"type": "null"}]}


def build_submission_schema() -> dict[str, Any]:
    plan: dict[str, Any] = {}
    stated: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for pack in all_packs():
        for key, spec in pack.fields.items():
            (stated if spec.get("total") else plan)[key] = _nullable(spec["type"])
        for t in pack.form["tables"]:
            props = tables.setdefault(t["key"], {})
            for col in t["columns"]:
                props[col["key"]] = _nullable(col["type"])
                if col.get("formula"):
                    props[f"{col['key']}_stated"] = _nullable(col["type"])
    table_props = {
        key: {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": props}}
        for key, props in sorted(tables.items())
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://shinsei.example/schemas/submission.schema.json",
        "title": "shinsei normalised submission",
        "description": "One application workbook, normalised: money in integer yen, dates ISO 8601, choices as "
                       "list codes (unknown text kept as written), formula values recomputed by the engine with "
                       "the sheet's own values kept as <key>_stated. Generated from packs/forms by "
                       "`shinsei schema build`.",
        "type": "object",
        "required": ["schema_version", "program", "fiscal_year", "template", "plan", "totals", "stated", "source"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": 1},
            "program": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "fiscal_year": {"type": "integer"},
            "template": {"type": "object", "required": ["id", "version"], "additionalProperties": False,
                         "properties": {"id": {"type": "string"}, "version": {"type": "string"}}},
            "plan": {"type": "object", "additionalProperties": False, "properties": dict(sorted(plan.items()))},
            **table_props,
            "totals": {
                "type": "object",
                "required": ["direct_total", "by_category", "overhead", "overhead_rate", "total"],
                "additionalProperties": False,
                "properties": {
                    "direct_total": {"type": "integer"},
                    "by_category": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "overhead": {"type": "integer"},
                    "overhead_rate": {"type": "number", "minimum": 0},
                    "total": {"type": "integer"},
                    "included_tax": {"type": "integer"},
                },
            },
            "stated": {"type": "object", "additionalProperties": False, "properties": dict(sorted(stated.items()))},
            "source": {
                "type": "object",
                "required": ["file", "fields", "tables"],
                "properties": {
                    "file": {"type": "string"},
                    "sha256": {"anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}]},
                    "application": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "tables": {"type": "object", "additionalProperties": {
                        "type": "object", "required": ["sheet", "header_row", "columns", "rows"],
                        "properties": {
                            "sheet": {"type": "string"},
                            "header_row": {"type": "integer", "minimum": 1},
                            "columns": {"type": "object", "additionalProperties": {"type": "string",
                                                                                   "pattern": "^[A-Z]{1,3}$"}},
                            "rows": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                        }}},
                },
            },
        },
    }


def write_submission_schema(folder: Path | None = None) -> Path:
    path = (folder or schemas_dir()) / "submission.schema.json"
    path.write_text(json.dumps(build_submission_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
