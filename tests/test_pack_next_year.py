"""Next year's call is a data change: a fourth pack, written as `extends:` of the FY2025 youth pack with
one changed number, works with no code change — template built, workbook validated, cross checks
scoped by fiscal year, ingested — and its submissions match its own schema.

The pack lives in tests/packs/ (it is not a real call); SHINSEI_PACKS_PATH points the loader at it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.fill import fill_template
from pipeline.ingest.crosscheck import run_cross_checks
from pipeline.packs import SEARCH_PATH_ENV, load_pack, pack_ids, submission_key
from pipeline.schema_builder import build_pack_schema, submission_errors
from pipeline.template_builder import build_template
from pipeline.validate import validate_file
from tests.conftest import codes, only

TEST_PACKS = Path(__file__).parent / "packs"
Y25, Y26, INSTR = "nexus-ytec-youth-2025", "nexus-ytec-youth-2026", "nexus-ytec-instructor-2025"


@pytest.fixture
def next_year(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """The test packs on the search path; a function that writes a filled FY2026 workbook."""
    monkeypatch.setenv(SEARCH_PATH_ENV, str(TEST_PACKS))
    load_pack.cache_clear()
    template = build_template(Y26, tmp_path / "templates")
    counter = iter(range(1000))

    def write(data: dict[str, Any], name: str | None = None) -> Path:
        return fill_template(Y26, data, tmp_path / (name or f"fy2026-{next(counter)}.xlsx"), template=template)

    yield write
    load_pack.cache_clear()


def add_people(data: dict[str, Any], n: int) -> None:
    start = max(p["no"] for p in data["participants"]) + 1
    for i in range(n):
        data["participants"].append({**data["participants"][0], "no": start + i, "name": f"Person {start + i}"})


def test_the_pack_is_found_and_states_only_what_differs(next_year: Callable) -> None:
    assert Y26 in pack_ids()
    pack, parent = load_pack(Y26), load_pack(Y25)
    assert pack.data["fiscal_year"] == 2026 and pack.template["id"] == Y26
    assert [p.name for p in pack.lineage] == [f"{Y26}.yaml", f"{Y25}.yaml"]
    changed = [r["code"] for r, q in zip(pack.rules, parent.rules, strict=True) if r != q]
    assert changed == ["participants.too-many"]
    assert (TEST_PACKS / f"{Y26}.yaml").read_text(encoding="utf-8").count("\n") < 20


def test_template_built_and_workbook_validated(next_year: Callable, base: Callable) -> None:
    report = validate_file(next_year(base(Y25)))        # isolated, as the CLI reads a file
    assert report.program == Y26 and report.submission["fiscal_year"] == 2026
    assert report.template == {"id": Y26, "version": "1.0"}
    assert codes(report, "error") == [], [(f.code, f.message_en) for f in report.findings]


@pytest.mark.parametrize(("extra", "fires"), [(5, True), (4, False)])   # base has 8 people: 12 is the new limit
def test_the_changed_number_at_and_across_its_limit(next_year: Callable, base: Callable, extra: int,
                                                    fires: bool) -> None:
    data = base(Y25)
    add_people(data, extra)
    report = validate_file(next_year(data), isolate=False)
    found = only(report, "participants.too-many")
    assert bool(found) is fires
    if fires:
        assert "12名以下" in found[0].message_ja and "at most 12" in found[0].message_en
        assert found[0].severity == "error" and found[0].clause["section"].startswith("2.(1)")


def _doc(path: Path, name: str) -> dict[str, Any]:
    sub = validate_file(path, isolate=False).submission
    return {"key": submission_key(sub), "file": name, "program": sub["program"], "submission": sub}


def test_cross_checks_are_scoped_by_fiscal_year(next_year: Callable, base: Callable, make_workbook: Callable) -> None:
    """The same PI and the same people in FY2025 and FY2026 do not collide; within FY2026 they do."""
    fy25 = _doc(make_workbook(Y25, base(Y25)), "fy2025.xlsx")
    fy26 = _doc(next_year(base(Y25)), "fy2026.xlsx")
    assert fy25["key"] != fy26["key"]                       # another programme year, another submission
    assert run_cross_checks([fy25, fy26]) == []
    other = base(Y25)
    other["plan"]["title_ja"] = "別の交流計画"
    fy26b = _doc(next_year(other), "fy2026-b.xlsx")
    rows = run_cross_checks([fy25, fy26, fy26b])
    assert {r["code"] for r in rows} == {"cross.same-pi-same-course", "cross.same-person-both-courses"}
    assert all(r["files"] == ["fy2026-b.xlsx", "fy2026.xlsx"] for r in rows)
    assert {r["program"] for r in rows} == {"nexus-ytec/youth/2026", "nexus-ytec/2026"}


def test_ingested_with_no_code_change(next_year: Callable, base: Callable, tmp_path: Path) -> None:
    from pipeline.ingest.executor import InlineExecutor
    from pipeline.ingest.run import ingest

    folder = tmp_path / "inbox"
    next_year(base(Y25), "inbox/a.xlsx")
    second = base(Y25)
    second["plan"]["title_ja"] = "別の交流計画"
    next_year(second, "inbox/b.xlsx")
    summary = ingest([folder], tmp_path / "out", executor=InlineExecutor(), progress=False)
    assert (summary.processed, summary.quarantined, summary.submissions) == (2, 0, 2)
    cross = json.loads((tmp_path / "out" / "crosscheck.json").read_text(encoding="utf-8"))
    assert "cross.same-pi-same-course" in {c["code"] for c in cross}


def test_its_submissions_match_its_own_schema(next_year: Callable, base: Callable) -> None:
    pack = load_pack(Y26)
    sub = validate_file(next_year(base(Y25)), isolate=False).submission
    assert submission_errors(sub, pack) == []
    schema = build_pack_schema(pack)
    assert schema["properties"]["program"] == {"const": Y26}
    assert schema["properties"]["fiscal_year"] == {"const": 2026}
    wrong = {**sub, "program": Y25}
    assert submission_errors(wrong, pack)
