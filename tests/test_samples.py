"""Every bundled sample produces exactly the kind of findings its scenario says it shows, is its own
application, and is left as an applicant leaves it in Excel: numbers typed as numbers, so the sheet's
own formulas compute (LibreOffice re-saves each one and no formula shows #VALUE!), except the samples
that show numbers pasted as text."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from pipeline.packs import load_pack, submission_key
from pipeline.resources import samples_dir
from pipeline.samples import build_samples, sample_file_name, variants
from pipeline.validate import validate_file
from tests.conftest import soffice

VARIANTS = variants()
TYPED_AS_TEXT = "input.typed-as-text"


def _path(pack: str, name: str) -> Path:
    return samples_dir() / sample_file_name(pack, name)


@pytest.mark.parametrize(("pack", "name", "spec"), [(p, n, s) for p, n, s, _ in VARIANTS],
                         ids=[f"{p}:{n}" for p, n, _, _ in VARIANTS])
def test_bundled_sample(pack: str, name: str, spec: dict) -> None:
    path = _path(pack, name)
    assert path.is_file(), f"{path.name} missing: run `shinsei samples build`"
    report = validate_file(path)
    found = {f.code for f in report.findings}
    for code in spec.get("expect", []):
        assert code in found, f"{name}: expected {code}, got {sorted(found)}"
    if spec.get("expect_no_errors"):
        errors = [(f.code, f.message_en) for f in report.findings if f.severity == "error"]
        assert errors == []
    if TYPED_AS_TEXT not in spec.get("expect", []):
        assert TYPED_AS_TEXT not in found, name     # numbers typed as numbers
    assert report.program == pack


def test_samples_cover_the_typical_mistakes() -> None:
    expected = {code for _, _, spec, _ in VARIANTS for code in spec.get("expect", [])}
    for code in ("budget.over-cap", "overhead.too-high", "participants.too-many", "participant.too-old",
                 "visit.days-exceeded", "country.not-allowed", "cost.ineligible.sightseeing",
                 "cost.ineligible.deposit", "budget.amount-mismatch", TYPED_AS_TEXT):
        assert code in expected


def test_committed_samples_are_current(tmp_path: Path) -> None:
    """`shinsei samples build` is reproducible and the committed samples are what it writes."""
    built = build_samples(tmp_path)
    assert sorted(p.name for p in built) == sorted(p.name for p in samples_dir().glob("*.xlsx"))
    for path in built:
        assert path.read_bytes() == (samples_dir() / path.name).read_bytes(), \
            f"samples/{path.name} is stale: run `shinsei samples build`"


def test_every_sample_is_its_own_application() -> None:
    """Each variant has its own identity (the form's `identity`: institution, PI, title; India: the invitee),
    and its own people, so no sample is a version of another and no two share a participant."""
    keys: dict[str, str] = {}
    people: dict[tuple[str, str, str], str] = {}
    for pack_id, name, _spec, data in VARIANTS:
        pack = load_pack(pack_id)
        report = validate_file(_path(pack_id, name), isolate=False)
        key = submission_key(report.submission, pack)
        assert key not in keys, f"{name} and {keys.get(key)} are the same application"
        keys[key] = name
        programme = pack.id.split("-")[0]
        for person in data["participants"]:
            who = (programme, person["name"], str(person.get("birth_date")))
            assert who not in people or people[who] == name, f"{person['name']} in {name} and {people[who]}"
            people[who] = name
    assert len(keys) == len(VARIANTS)


def test_ingesting_the_samples_gives_one_submission_per_file(tmp_path: Path) -> None:
    from pipeline.ingest.executor import InlineExecutor
    from pipeline.ingest.run import ingest

    inbox = tmp_path / "samples"
    inbox.mkdir()
    for path in samples_dir().glob("*.xlsx"):
        shutil.copy(path, inbox / path.name)
    summary = ingest([inbox], tmp_path / "out", executor=InlineExecutor(), progress=False)
    files = len(list(inbox.glob("*.xlsx")))
    assert (summary.files_seen, summary.processed, summary.quarantined) == (files, files, 0)
    assert summary.submissions == files == len(VARIANTS)


def _formula_cells(path: Path) -> list[tuple[str, str, object]]:
    """(sheet, cell, cached value) of every formula cell, as the file's own application computed it."""
    formulas = openpyxl.load_workbook(path)
    values = openpyxl.load_workbook(path, data_only=True)
    return [(ws.title, c.coordinate, values[ws.title][c.coordinate].value)
            for ws in formulas.worksheets for row in ws.iter_rows() for c in row
            if isinstance(c.value, str) and c.value.startswith("=")]


def test_no_formula_shows_value_in_a_sample_resaved_by_libreoffice(tmp_path: Path) -> None:
    """Done-when of issue 14: every sample typed as an applicant types it, opened and saved by a real spreadsheet
    application, computes every formula (no #VALUE!, no other error) and validates as before; the samples of
    numbers pasted as text do show #VALUE!, and the engine warns on the text cells."""
    exe = soffice()
    if exe is None:
        pytest.skip("LibreOffice is not installed (CI installs libreoffice-calc-nogui)")
    sources = []
    for pack_id, name, _spec, _data in VARIANTS:
        sources.append(tmp_path / sample_file_name(pack_id, name))
        shutil.copy(_path(pack_id, name), sources[-1])
    out = tmp_path / "libreoffice"
    subprocess.run([exe, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--calc",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), *map(str, sources)],
                   check=True, capture_output=True, timeout=600)
    for (_pack_id, name, spec, _data), source in zip(VARIANTS, sources, strict=True):
        resaved = out / source.name
        cells = _formula_cells(resaved)
        assert len(cells) > 20, name
        errors = [(s, c, v) for s, c, v in cells if isinstance(v, str) and v.startswith("#")]
        before, after = validate_file(source, isolate=False), validate_file(resaved, isolate=False)
        assert "LibreOffice" in (after.submission["source"]["application"] or ""), name
        if TYPED_AS_TEXT in spec.get("expect", []):
            assert any(v == "#VALUE!" for _, _, v in errors), name
            warned = {(f.location.sheet, f.location.cell) for f in after.findings if f.code == TYPED_AS_TEXT}
            assert warned >= {(f.location.sheet, f.location.cell) for f in before.findings
                              if f.code == TYPED_AS_TEXT} != set(), name
            assert not [f for f in after.findings if f.code == "input.formula-error"], name
        else:
            assert errors == [], (name, errors[:5])
            assert TYPED_AS_TEXT not in {f.code for f in after.findings}, name
        assert [f.code for f in after.findings if f.severity == "error"] == \
               [f.code for f in before.findings if f.severity == "error"], name
