"""Every SQL example in the README runs against a real ingest on PostgreSQL and finds what it says."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipeline.ingest.run import ingest
from tests.hostile_workbooks import YOUTH, variant, write_valid

PG = os.environ.get("SHINSEI_TEST_PG_URL")
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_the_queries() -> None:
    assert len(readme_queries()) >= 4


@pytest.mark.skipif(not PG, reason="SHINSEI_TEST_PG_URL is not set (CI sets it where PostgreSQL answers)")
def test_readme_sql_examples_run_on_postgresql(tmp_path: Path) -> None:
    from pipeline.fill import fill_template
    from pipeline.samples import load_scenarios

    folder = tmp_path / "in"
    folder.mkdir()
    write_valid(folder, 6)
    scenario = next(sc for sc in load_scenarios() if sc["pack"] == YOUTH)
    data = variant(scenario["base"], YOUTH, "sightseeing")
    data["budget"].append({"category": "III 旅費", "description": "京都観光ツアー（招へい者）", "unit_price": 15000,
                           "quantity": 4, "fiscal_year": 2026})
    fill_template(YOUTH, data, folder / "sightseeing.xlsx")

    admin = create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PG}?options=-csearch_path%3D{schema}"
        summary = ingest([folder], tmp_path / "out", db_url=url, workers=1, progress=False)
        assert summary.submissions == 7
        with admin.connect() as conn:
            conn.execute(text(f"SET search_path TO {schema}"))
            results = [conn.execute(text(q)).all() for q in readme_queries()]
        vietnam, vietnam_json, sightseeing, per_program = results[:4]
        assert vietnam and len(vietnam) == len(vietnam_json)
        assert [r.description for r in sightseeing] == ["京都観光ツアー(招へい者)"]  # as normalised (NFKC)
        assert sum(r.applications for r in per_program) == 7 and all(r.requested_yen > 0 for r in per_program)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
