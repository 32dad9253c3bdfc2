"""Each pack has its own submission schema: no form's types overwrite another's.

The committed envelope (schemas/submission.schema.json) applies each shipped pack's schema to that
pack's submissions; the per-pack files (schemas/submission/<pack id>.schema.json) are the same
schemas on their own; ``submission_errors(sub, pack)`` builds one for any pack.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from pipeline import schemas
from pipeline.packs import load_pack
from pipeline.schema_builder import build_pack_schema, submission_errors
from tests.conftest import PACKS

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"


@pytest.mark.parametrize("pack_id", PACKS)
def test_a_submission_matches_its_own_schema_only(check: Callable, base: Callable, pack_id: str) -> None:
    sub = check(pack_id, base(pack_id)).submission
    assert submission_errors(sub, load_pack(pack_id)) == []
    assert schemas.errors(f"submission/{pack_id}", sub) == []
    assert schemas.errors("submission", sub) == []
    for other in PACKS:
        if other != pack_id:
            assert submission_errors(sub, load_pack(other)), f"{pack_id} passes {other}'s schema"


def test_a_key_of_one_form_is_not_allowed_in_another(check: Callable, base: Callable) -> None:
    """India's budget has a payment date, NEXUS's does not: one merged schema let a NEXUS line carry one."""
    sub = copy.deepcopy(check(YOUTH, base(YOUTH)).submission)
    sub["budget"][0]["date"] = "2026-02-01"
    assert any("date" in message for _, message in schemas.errors("submission", sub))
    india = copy.deepcopy(check(INDIA, base(INDIA)).submission)
    india["budget"][0]["date"] = "2026-02-01"
    assert schemas.errors("submission", india) == []


def test_field_types_per_pack() -> None:
    """plan.field is free text in NEXUS and a choice of the India call's list; each schema says its own."""
    youth, india = build_pack_schema(load_pack(YOUTH)), build_pack_schema(load_pack(INDIA))
    assert youth["properties"]["plan"]["properties"]["field"] == india["properties"]["plan"]["properties"]["field"]
    assert "tax_items" in india["properties"] and "tax_items" not in youth["properties"]
    assert "included_tax" in india["properties"]["totals"]["properties"]
    assert "included_tax" not in youth["properties"]["totals"]["properties"]
    price = youth["properties"]["budget"]["items"]["properties"]["unit_price"]["anyOf"][0]
    assert price == {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}     # the form's range


@pytest.mark.parametrize("isolate", [True, False], ids=["isolated", "in-process"])
def test_a_submission_its_schema_refuses_is_a_finding_isolated_or_not(monkeypatch: pytest.MonkeyPatch,
                                                                        isolate: bool) -> None:
    """The schema check is the engine's last step: in-process, and when the file is validated in an isolated
    child (the parent checks what the child normalised, meanwhile importing jsonschema-rs), the same finding."""
    from pipeline import schema_builder
    from pipeline.resources import samples_dir
    from pipeline.validate import validate_file

    strict = build_pack_schema(load_pack(YOUTH))
    strict = {**strict, "required": [*strict.get("required", []), "no_such_part"]}
    monkeypatch.setattr(schema_builder, "build_pack_schema", lambda pack: strict)
    monkeypatch.setattr(schema_builder, "_VALIDATORS", {})
    report = validate_file(samples_dir() / f"{YOUTH}__clean.xlsx", isolate=isolate)
    found = [f for f in report.findings if f.code == "submission.schema"]
    assert len(found) == 1 and "no_such_part" in found[0].message_en, [f.code for f in report.findings]
    from pipeline.rules import sort_findings

    assert report.findings == sort_findings(report.findings)
