"""Rule packs are data: valid against their schema, complete, and faithful to the calls."""

from __future__ import annotations

import pytest

from pipeline import schemas
from pipeline.packs import load_pack, pack_ids
from pipeline.rules.checks import CHECKS
from pipeline.schema_builder import build_pack_schema, build_submission_schema
from tests.conftest import PACKS


def test_three_packs_exist() -> None:
    assert sorted(pack_ids()) == sorted(PACKS)


@pytest.mark.parametrize("pack_id", PACKS)
def test_pack_is_valid_and_complete(pack_id: str) -> None:
    pack = load_pack(pack_id)
    codes = [r["code"] for r in pack.rules]
    assert len(codes) == len(set(codes)), "rule codes must be unique in a pack"
    for rule in pack.rules:
        assert rule["check"] in CHECKS, f"{rule['code']}: no check {rule['check']}"
        clause = pack.clause(rule["clause"])
        assert clause["document"] and clause["section"]


def test_numbers_of_the_calls() -> None:
    youth, instr, india = (load_pack(p) for p in PACKS)
    assert youth.money["base_amount"] == 7_000_000 and instr.money["base_amount"] == 3_000_000
    assert youth.money["excess_ratio"] == instr.money["excess_ratio"] == 0.10
    assert youth.money["overhead_max_ratio"] == 0.10 and india.money["overhead_max_ratio"] == 0.03
    assert youth.money["consumables_max_unit_price"] == 200_000
    assert india.money["stay_monthly"] == 200_000 and india.money["pi_stay_monthly"] == 413_000
    asean = {c.code for c in youth.lists["countries"]}
    assert asean == {"BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN"}
    rule = {r["code"]: r for r in youth.rules}
    assert rule["participants.too-many"]["params"]["max"] == 15
    assert rule["visit.days-exceeded"]["params"]["max_days"] == 90
    assert rule["participant.too-old"]["params"]["max_age"] == 40
    assert {r["code"]: r for r in instr.rules}["participants.too-many"]["params"]["max"] == 2
    assert "participant.too-old" not in {r["code"] for r in instr.rules}
    irule = {r["code"]: r for r in india.rules}
    assert irule["stay.total-too-long"]["params"]["max_months"] == 12
    assert irule["visit.end-too-late"]["params"]["max"] == "2027-03-31"
    bands = india.money["tax_equivalent"]["transitional_deduction"]["bands"]
    assert [(b["to"], b["deductible"]) for b in bands] == [("2026-09-30", 0.8), ("2028-09-30", 0.7),
                                                           ("2030-09-30", 0.5), ("2031-09-30", 0.3)]


def test_committed_submission_schema_is_generated_from_the_forms() -> None:
    assert schemas.schema("submission") == build_submission_schema(), "run `shinsei schema build`"
    for pack_id in PACKS:   # one schema per pack besides the envelope
        assert schemas.schema(f"submission/{pack_id}") == build_pack_schema(load_pack(pack_id)), \
            "run `shinsei schema build`"


def test_broken_pack_is_refused(tmp_path, monkeypatch) -> None:
    import shutil

    from pipeline import packs as packs_module
    from pipeline import resources

    folder = tmp_path / "packs"
    shutil.copytree(resources.packs_dir(), folder)
    text = (folder / "nexus-ytec-youth-2025.yaml").read_text(encoding="utf-8")
    (folder / "nexus-ytec-youth-2025.yaml").write_text(text.replace("clause: countries", "clause: nowhere"),
                                                       encoding="utf-8")
    monkeypatch.setattr(packs_module, "packs_dir", lambda: folder)
    packs_module.load_pack.cache_clear()
    try:
        with pytest.raises(packs_module.PackError, match="nowhere"):
            packs_module.load_pack("nexus-ytec-youth-2025")
    finally:
        packs_module.load_pack.cache_clear()
