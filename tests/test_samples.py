"""Every bundled sample produces exactly the kind of findings its scenario says it shows."""

from __future__ import annotations

import pytest

from pipeline.resources import samples_dir
from pipeline.samples import sample_file_name, variants
from pipeline.validate import validate_file

VARIANTS = variants()


@pytest.mark.parametrize(("pack", "name", "spec"), [(p, n, s) for p, n, s, _ in VARIANTS],
                         ids=[f"{p}:{n}" for p, n, _, _ in VARIANTS])
def test_bundled_sample(pack: str, name: str, spec: dict) -> None:
    path = samples_dir() / sample_file_name(pack, name)
    assert path.is_file(), f"{path.name} missing: run `shinsei samples build`"
    report = validate_file(path)
    found = {f.code for f in report.findings}
    for code in spec.get("expect", []):
        assert code in found, f"{name}: expected {code}, got {sorted(found)}"
    if spec.get("expect_no_errors"):
        errors = [(f.code, f.message_en) for f in report.findings if f.severity == "error"]
        assert errors == []
    assert report.program == pack


def test_samples_cover_the_typical_mistakes() -> None:
    expected = {code for _, _, spec, _ in VARIANTS for code in spec.get("expect", [])}
    for code in ("budget.over-cap", "overhead.too-high", "participants.too-many", "participant.too-old",
                 "visit.days-exceeded", "country.not-allowed", "cost.ineligible.sightseeing",
                 "cost.ineligible.deposit", "budget.amount-mismatch"):
        assert code in expected
