"""Generate the submission schemas from the forms, so schemas and templates never drift.

Each pack gets its own schema (``schemas/submission/<pack id>.schema.json``): its plan fields, tables
and totals with their own types. ``schemas/submission.schema.json`` is the envelope every submission
shares, with each shipped pack's schema applied to the submissions of that pack (``program``), so two
forms that give a key different types never overwrite each other. Run ``shinsei schema build`` after
changing a form; a test fails while the committed schemas differ from what the forms give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.packs import Pack, all_packs
from pipeline.resources import schemas_dir

_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string", "minLength": 1},
    "choice": {"type": "string", "minLength": 1},
    "date": _DATE,
    "yen": {"type": "integer"},
    "int": {"type": "integer"},
    "fiscal_year": {"type": "integer"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
}
_SOURCE = {
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
                "columns": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[A-Z]{1,3}$"}},
                "rows": {"type": "array", "items": {"type": "integer", "minimum": 1}},
            }}},
    },
}
_FIXED = ("schema_version", "program", "fiscal_year", "template", "plan", "totals", "stated", "source")


def _nullable(kind: str) -> dict[str, Any]:
    return {"anyOf": [_TYPES[kind], {"type": "null"}]}


def _value(spec: dict[str, Any]) -> dict[str, Any]:
    """A field's JSON type, bounded by its plausible range when it has one."""
    base = dict(_TYPES[spec["type"]])
    if "range" in spec and spec["type"] in ("yen", "int", "number", "fiscal_year"):
        base["minimum"], base["maximum"] = spec["range"]
    return {"anyOf": [base, {"type": "null"}]}


def build_pack_schema(pack: Pack) -> dict[str, Any]:
    """The schema of one pack's normalised submissions: every key with the type its form gives it."""
    plan = {k: _value(s) for k, s in pack.fields.items() if not s.get("total")}
    stated = {k: _value(s) if not s.get("formula") else _nullable(s["type"])
              for k, s in pack.fields.items() if s.get("total")}
    tables: dict[str, Any] = {}
    for t in pack.form["tables"]:
        props: dict[str, Any] = {}
        for col in t["columns"]:
            props[col["key"]] = _value(col) if not col.get("formula") else _nullable(col["type"])
            if col.get("formula"):
                props[f"{col['key']}_stated"] = _nullable(col["type"])
        tables[t["key"]] = {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                       "properties": props}}
    totals_props: dict[str, Any] = {}
    for f in pack.form["totals"]["fields"]:
        kind = dict(_TYPES[f["type"]])
        if f["type"] == "number" or f["type"] == "yen":
            kind["minimum"] = 0
        totals_props[f["key"]] = kind
    if pack.bound_table("budget") and pack.bind("budget", "category"):
        totals_props["by_category"] = {"type": "object", "additionalProperties": {"type": "integer"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://shinsei.example/schemas/submission/{pack.id}.schema.json",
        "title": f"shinsei normalised submission of {pack.id}",
        "description": f"{pack.title['en']}: one workbook normalised (money in integer yen, dates ISO 8601, choices "
                       "as list codes, formula values recomputed with the sheet's own kept as <key>_stated). "
                       "Generated from the pack's form by `shinsei schema build`.",
        "type": "object",
        "required": [*_FIXED, *(t["key"] for t in pack.form["tables"])],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": 1},
            "program": {"const": pack.id},
            "fiscal_year": {"const": pack.data["fiscal_year"]},
            "template": {"type": "object", "required": ["id", "version"], "additionalProperties": False,
                         "properties": {"id": {"const": pack.template["id"]}, "version": {"type": "string"}}},
            "plan": {"type": "object", "additionalProperties": False, "properties": dict(sorted(plan.items()))},
            **dict(sorted(tables.items())),
            "totals": {"type": "object", "required": sorted(totals_props), "additionalProperties": False,
                       "properties": dict(sorted(totals_props.items()))},
            "stated": {"type": "object", "additionalProperties": False, "properties": dict(sorted(stated.items()))},
            "source": _SOURCE,
        },
    }


def build_submission_schema(packs: list[Pack] | None = None) -> dict[str, Any]:
    """The envelope of every submission, each shipped pack's schema applied to its own submissions."""
    packs = all_packs() if packs is None else packs
    defs = {}
    for p in packs:
        inner = {k: v for k, v in build_pack_schema(p).items() if k not in ("$schema", "$id")}
        defs[p.id] = inner
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://shinsei.example/schemas/submission.schema.json",
        "title": "shinsei normalised submission",
        "description": "One application workbook, normalised: money in integer yen, dates ISO 8601, choices as "
                       "list codes (unknown text kept as written), formula values recomputed by the engine with "
                       "the sheet's own values kept as <key>_stated. The envelope every submission shares; a "
                       "submission of a shipped pack must also match that pack's schema ($defs, also written to "
                       "schemas/submission/<pack id>.schema.json). Generated from packs/forms by "
                       "`shinsei schema build`.",
        "type": "object",
        "required": list(_FIXED),
        "additionalProperties": {"type": "array", "items": {"type": "object"}},
        "properties": {
            "schema_version": {"const": 1},
            "program": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "fiscal_year": {"type": "integer"},
            "template": {"type": "object", "required": ["id", "version"], "additionalProperties": False,
                         "properties": {"id": {"type": "string"}, "version": {"type": "string"}}},
            "plan": {"type": "object"},
            "totals": {"type": "object", "required": ["total"], "properties": {"total": {"type": "integer"}}},
            "stated": {"type": "object"},
            "source": _SOURCE,
        },
        "allOf": [{"if": {"properties": {"program": {"const": pid}}, "required": ["program"]},
                   "then": {"$ref": f"#/$defs/{pid}"}} for pid in sorted(defs)],
        "$defs": dict(sorted(defs.items())),
    }


_VALIDATORS: dict[int, tuple[Pack, Any, dict[str, Any]]] = {}


def pack_validator(pack: Pack) -> tuple[Pack, Any, dict[str, Any]]:
    """(pack, compiled jsonschema-rs validator, schema) of the pack's own submission schema, once per process."""
    found = _VALIDATORS.get(id(pack))
    if found is None or found[0] is not pack:
        import jsonschema_rs  # with the first validator, not at import (start-up time)

        schema = build_pack_schema(pack)
        found = _VALIDATORS[id(pack)] = (pack, jsonschema_rs.validator_for(schema), schema)
    return found


def submission_errors(sub: dict[str, Any], pack: Pack) -> list[tuple[str, str]]:
    """Every violation of ``pack``'s own schema by ``sub`` as (JSON path, message); empty when valid.

    For any pack, shipped or not (a test pack, a draft of next year's call): the schema is built from
    the pack's form and compiled once per process (~0.06 ms a document after that).
    """
    _pack, validator, schema = pack_validator(pack)
    if validator.is_valid(sub):
        return []
    import jsonschema  # only when a document fails: readable paths

    cls = jsonschema.validators.validator_for(schema)
    return [("/" + "/".join(str(p) for p in err.absolute_path), err.message)
            for err in sorted(cls(schema).iter_errors(sub), key=lambda e: list(e.absolute_path))]


def write_submission_schema(folder: Path | None = None) -> Path:
    """Write the envelope and every shipped pack's schema; returns the envelope's path."""
    folder = folder or schemas_dir()
    packs = all_packs()
    path = folder / "submission.schema.json"
    path.write_text(json.dumps(build_submission_schema(packs), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / "submission").mkdir(exist_ok=True)
    for p in packs:
        (folder / "submission" / f"{p.id}.schema.json").write_text(
            json.dumps(build_pack_schema(p), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
