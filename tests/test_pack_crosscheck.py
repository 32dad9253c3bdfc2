"""Cross-submission rules and the programme knowledge that moved out of Python into the packs and forms.

Item 3: the same PI in both NEXUS courses must say how the two applications relate (call 2.(3)).
Item 4: the participants' country column is the counterpart country; Japan is not one, and is not
"a plan including another country". Item 10: what identifies a submission, where the concentration
tables look, how months are counted — data of the pack or its form, not names in the code.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.findings import Report
from pipeline.ingest.crosscheck import concentration, run_cross_checks
from pipeline.packs import Pack, load_pack, submission_identity, submission_key
from pipeline.rules import run_rules, sort_findings
from pipeline.template_builder import template_path
from pipeline.validate import validate_file
from tests.conftest import codes, only

YOUTH, INSTR, INDIA = "nexus-ytec-youth-2025", "nexus-ytec-instructor-2025", "india-circulation-2025"
PEOPLE = "参加者 Participants"


def doc(report: Report, name: str) -> dict[str, Any]:
    sub = report.submission
    return {"key": submission_key(sub), "file": name, "program": sub["program"], "submission": sub}


# ---- item 3: both NEXUS courses at once -------------------------------------------------------------

def _both_courses(check: Callable, base: Callable, youth_relation: str | None,
                  instr_relation: str | None) -> list[dict[str, Any]]:
    youth, instr = base(YOUTH), base(INSTR)
    instr["plan"].update(pi_name=youth["plan"]["pi_name"], institution=youth["plan"]["institution"])
    if youth_relation:
        youth["plan"]["related_application"] = youth_relation
    if instr_relation:
        instr["plan"]["related_application"] = instr_relation
    docs = [doc(check(YOUTH, youth), "youth.xlsx"), doc(check(INSTR, instr), "instructor.xlsx")]
    return run_cross_checks(docs)


@pytest.mark.parametrize(("youth", "instr", "missing"), [
    (None, None, ["instructor.xlsx", "youth.xlsx"]),
    ("若手の成果を指導人材交流で教員側に展開する", None, ["instructor.xlsx"]),
    (None, "若手人材交流の指導体制を強化する", ["youth.xlsx"]),
    ("若手の成果を指導人材交流で教員側に展開する", "若手人材交流の指導体制を強化する", []),
])
def test_same_pi_in_both_courses_must_say_how_they_relate(check: Callable, base: Callable, youth: str | None,
                                                          instr: str | None, missing: list[str]) -> None:
    found = [r for r in _both_courses(check, base, youth, instr) if r["code"] == "cross.both-courses-relation-missing"]
    if not missing:
        assert found == []
        return
    (row,) = found
    assert row["severity"] == "error" and row["program"] == "nexus-ytec/2025"
    assert sorted(row["files"]) == ["instructor.xlsx", "youth.xlsx"]
    assert row["clause_section"].startswith("2.(3)")
    assert all(name in row["message_ja"] for name in missing)
    assert "両コース同時申請の場合の関連性" in row["message_ja"] and "Relation to a simultaneous" in row["message_en"]


def test_two_applications_of_one_course_are_not_a_pair(check: Callable, base: Callable) -> None:
    a, b = base(YOUTH), base(YOUTH)
    b["plan"]["title_ja"] = "別の交流計画"
    rows = run_cross_checks([doc(check(YOUTH, a), "a.xlsx"), doc(check(YOUTH, b), "b.xlsx")])
    assert "cross.both-courses-relation-missing" not in {r["code"] for r in rows}
    assert "cross.same-pi-same-course" in {r["code"] for r in rows}


# ---- item 4: Japan is not a counterpart country ------------------------------------------------------

def _dispatched(data: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in data["participants"] if p["direction"].startswith("派遣"))


def test_a_dispatched_japanese_student_typed_as_japan(check: Callable, base: Callable) -> None:
    data = base(YOUTH)
    _dispatched(data)["country"] = "日本"
    report = check(YOUTH, data)
    assert "country.not-allowed" not in codes(report)
    f = only(report, "country.home-not-counterpart")
    assert len(f) == 1 and f[0].severity == "warning" and f[0].location.sheet == PEOPLE
    assert f[0].location.cell.startswith("E") and "相手国" in f[0].message_ja
    assert codes(report, "error") == []


@pytest.mark.parametrize(("country", "code"), [("韓国 Korea", "country.not-allowed"), ("India", "country.not-allowed"),
                                               ("Japan", "country.home-not-counterpart"),
                                               ("ベトナム Vietnam", None)])
def test_only_what_the_call_restricts(check: Callable, base: Callable, country: str, code: str | None) -> None:
    data = base(YOUTH)
    _dispatched(data)["country"] = country
    found = {f.code for f in check(YOUTH, data).findings if f.code.startswith("country.")}
    assert found == ({code} if code else set())


def test_the_column_says_what_it_means() -> None:
    wb = openpyxl.load_workbook(template_path(load_pack(YOUTH)))
    headers = [c.name for ws in wb.worksheets for t in ws.tables.values() if t.displayName == "tblParticipants"
               for c in t.tableColumns]
    assert any("相手国" in h and "dispatched to" in h for h in headers)


def test_a_workbook_of_the_earlier_template_is_still_read(make_workbook: Callable, base: Callable) -> None:
    """Template 1.0 called the column 国 Country: its workbooks are read the same (the form's aliases)."""
    path = make_workbook(YOUTH, base(YOUTH))
    wb = openpyxl.load_workbook(path)
    ws = wb[PEOPLE]
    table = ws.tables["tblParticipants"]
    head = ws[table.ref.split(":")[0]].row
    for i, col in enumerate(table.tableColumns):
        if col.name.startswith("相手国"):
            col.name = "国 Country"
            ws.cell(row=head, column=i + 1).value = "国 Country"
    wb.save(path)
    report = validate_file(path, isolate=False)
    assert "input.missing-column" not in codes(report)
    assert report.submission["participants"][0]["country"] == "TH"


# ---- item 10: identity, concentration and months are data --------------------------------------------

def _store_key(sub: dict[str, Any]) -> str:
    """The submission key the ingest's store computes today (pipeline/ingest/store.py)."""
    from pipeline.ingest.store import submission_key as store_key

    return store_key(sub)


@pytest.mark.parametrize("pack", [YOUTH, INSTR, INDIA])
def test_identity_from_the_form_gives_the_same_key_as_the_store(check: Callable, base: Callable, pack: str) -> None:
    sub = check(pack, base(pack)).submission
    assert submission_key(sub) == _store_key(sub)
    no_invitee = copy.deepcopy(sub)
    for p in no_invitee["participants"]:
        p["role"] = "pi_india" if pack == INDIA else p["role"]
    assert submission_key(no_invitee) == _store_key(no_invitee)
    if pack == INDIA:
        assert submission_identity(sub)[-1] == sub["participants"][0]["name"]      # one application per invitee
        assert submission_identity(no_invitee)[-1] == sub["plan"]["title_ja"]
    else:
        assert submission_identity(sub)[1:] == [sub["plan"][k] for k in ("institution", "pi_name", "title_ja")]


def test_concentration_reads_where_the_form_says(check: Callable, base: Callable) -> None:
    youth = base(YOUTH)
    _dispatched(youth)["country"] = "日本"
    docs = [doc(check(YOUTH, youth), "y.xlsx"), doc(check(INDIA, base(INDIA)), "i.xlsx")]
    conc = concentration(docs)
    counterparts = {(r["program"], r["counterpart"]) for r in conc["counterpart"]}
    assert (INDIA, "Indian Institute of Technology Madras") in counterparts      # the form's india_institution
    assert (YOUTH, "Chulalongkorn University") in counterparts
    countries = {(r["program"], r["country"]) for r in conc["country"]}
    assert (INDIA, "IN") in countries and (YOUTH, "TH") in countries
    assert not any(c == "日本" for _, c in countries)                              # not a counterpart country
    assert {r["institution"] for r in conc["institution"]} == {"東都大学"}


def test_months_are_counted_as_the_pack_says(check: Callable, base: Callable) -> None:
    """Partial months of stay round up in the budget (the call leaves them to later guidelines); a pack
    that says `down` counts them down. Whole months + days / days_per_month."""
    pack = load_pack(INDIA)
    assert pack.months["days_per_month"] == 30 and pack.months["partial_month"] == "up"
    assert pack.clause(pack.months["clause"])["section"].startswith("別添 3.I.①")
    data = base(INDIA)
    data["visits"][0].update(end=dt.date(2026, 7, 15))     # 5.47 + 4 months of stay: 10 months budgeted
    sub = check(INDIA, data).submission
    assert "stay.months-exceed-stays" not in [f.code for f in run_rules(sub, pack)]
    down = Pack(data={**pack.data, "months": {**pack.months, "partial_month": "down"}}, form=pack.form, path=pack.path,
                lineage=pack.lineage, form_path=pack.form_path)
    assert "stay.months-exceed-stays" in [f.code for f in run_rules(sub, down)]


def test_cross_rules_name_their_scope() -> None:
    scopes = {r["code"]: r["scope"] for p in (YOUTH, INDIA) for r in load_pack(p).cross_rules}
    assert scopes["cross.same-person-both-courses"] == ["programme", "fiscal_year"]
    assert scopes["cross.same-invitee"] == ["programme", "fiscal_year"]
    assert scopes["cross.overlapping-stays"] == ["programme"]      # dates overlap whatever the year


# ---- nothing in the engine names a programme, a table or a column -----------------------------------

OWN = ["packs.py", "formulas.py", "submission.py", "normalise.py", "schema_builder.py", "template_builder.py",
       "pack_check.py", "rules/__init__.py", "rules/checks.py", "rules/context.py", "rules/contract.py",
       "ingest/crosscheck.py"]
# Names only a programme's call or form uses. (The bindings' own vocabulary — people, visits, budget,
# amount, role … — is the engine's, mapped by each form; the renaming test below proves it is not a key.)
NAMES = ["nexus", "india", "ytec", "invitee", "participants", "tax_items", "pi_name", "title_ja",
         "transaction_", "over_base_reason", "related_application", "asean", "jst"]


@pytest.mark.parametrize("module", OWN)
def test_no_programme_name_in_the_engine(module: str) -> None:
    text = (Path(__file__).parent.parent / "pipeline" / module).read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))
    code = "\n".join(part for i, part in enumerate(code.split('"""')) if i % 2 == 0)   # without docstrings
    found = [n for n in NAMES if n in code.lower()]
    assert found == [], f"{module} names {found}"


TABLES = {"participants": "persons", "visits": "stays", "budget": "costs", "tax_items": "taxes",
          "counterparts": "abroad", "partners": "allies", "schedule": "agenda"}
COLUMNS = {"no": "num", "name": "full_name", "role": "kind", "country": "land", "birth_date": "born",
           "category": "cat", "subcategory": "subcat", "description": "what", "unit_price": "price",
           "quantity": "qty", "amount": "sum_yen", "fiscal_year": "fy", "participant_no": "person_no",
           "start": "date_from", "end": "date_to", "days": "n_days", "transaction_amount": "tx_amount",
           "transaction_date": "tx_date", "deduction_rate": "share", "tax_equivalent": "tax_eq",
           "leave_months": "leave", "military": "soldier", "date": "paid_on", "jst_funds": "funded",
           "institution": "org"}
FIELDS = {"period_start": "begin", "period_end": "finish", "overhead": "admin_cost", "total": "grand_total",
          "direct_total": "direct_sum", "pi_name": "lead", "institution": "applicant", "title_ja": "title_local",
          "over_base_reason": "why_over", "related_application": "relation", "india_institution": "partner_org",
          "overhead_rate": "admin_rate", "included_tax": "tax_in"}


def _rename_ref(ref: str) -> str:
    if "." in ref:
        table, column = ref.split(".", 1)
        return f"{TABLES.get(table, table)}.{COLUMNS.get(column, column)}"
    return FIELDS.get(ref, ref)


def _renamed(pack_id: str) -> Any:
    """The pack and its form with every table, column and field key renamed (labels and names kept)."""
    from pipeline.ingest.crosscheck import CROSS_CONTRACTS
    from pipeline.packs import Pack, check_pack
    from pipeline.rules.checks import CONTRACTS

    pack = load_pack(pack_id)
    form, data = copy.deepcopy(pack.form), copy.deepcopy(pack.data)
    for section in [*form["sections"], form["totals"]]:
        for f in section["fields"]:
            f["key"] = FIELDS.get(f["key"], f["key"])
            if "args" in f:
                f["args"] = [_rename_ref(a) for a in f["args"]]
    for t in form["tables"]:
        t["key"] = TABLES.get(t["key"], t["key"])
        for c in t["columns"]:
            c["key"] = COLUMNS.get(c["key"], c["key"])
            if "args" in c:
                c["args"] = [COLUMNS.get(a, a) for a in c["args"]]
    for group, names in form["bindings"].items():
        form["bindings"][group] = {k: (TABLES.get(v, v) if k == "table" else
                                       FIELDS.get(v, v) if "table" not in names else COLUMNS.get(v, v))
                                   for k, v in names.items()}

    def ref(item: dict[str, Any]) -> dict[str, Any]:
        if "first_of" in item:
            return {"first_of": [ref(i) for i in item["first_of"]]}
        if "field" in item:
            return {"field": FIELDS.get(item["field"], item["field"])}
        return {"table": TABLES[item["table"]], "column": COLUMNS.get(item["column"], item["column"]),
                **({"where": {COLUMNS.get(k, k): v for k, v in item["where"].items()}} if "where" in item else {})}
    form["identity"] = [ref(i) for i in form["identity"]]
    form["report"] = {k: [ref(i) for i in v] for k, v in form["report"].items()}

    def params(contract: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in p.items():
            kind = contract.get(name, contract.get(name + "?"))
            if isinstance(kind, list):
                value = [params(kind[0], v) for v in value]
            elif kind == "table":
                value = TABLES.get(value, value)
            elif kind == "tables":
                value = [TABLES.get(v, v) for v in value]
            elif kind in ("column", "column:people"):
                value = COLUMNS.get(value, value)
            elif kind == "field":
                value = FIELDS.get(value, value)
            elif kind == "fields":
                value = [FIELDS.get(v, v) for v in value]
            elif kind == "where":
                value = {COLUMNS.get(k, k): v for k, v in value.items()}
            elif name == "pattern":
                for old, new in FIELDS.items():
                    value = value.replace("{" + old + "}", "{" + new + "}")
            out[name] = value
        return out
    for rules, contracts in ((data["rules"], CONTRACTS), (data.get("cross_rules", []), CROSS_CONTRACTS)):
        for rule in rules:
            rule["params"] = params(contracts[rule["check"]].params, rule["params"])
    renamed = Pack(data=data, form=form, path=pack.path, lineage=pack.lineage, form_path=pack.form_path)
    assert check_pack(renamed) == []
    return renamed


@pytest.mark.parametrize("pack_id", [YOUTH, INDIA])
def test_renaming_every_table_and_column_changes_no_finding(base: Callable, make_workbook: Callable,
                                                            pack_id: str) -> None:
    """The engine reads tables and columns only through the form: rename them all (form and pack alike)
    and every finding is the same, on the same cell, with the same message."""
    from pipeline.submission import build_submission
    from pipeline.workbook import read_workbook

    data = base(pack_id)
    data["budget"][0]["amount"] = 1                                   # a few findings to compare
    data["participants"][0]["birth_date"] = dt.date(1950, 1, 1)
    data["visits"][0]["participant_no"] = 42
    raw = read_workbook(make_workbook(pack_id, data))

    def findings(pack: Any) -> list[tuple[str, str, Any, Any, str]]:
        sub, found = build_submission(raw, pack)
        found += run_rules(sub, pack)
        return sorted((f.code, f.severity, f.location.sheet, f.location.cell, f.message_ja) for f in found)

    renamed = _renamed(pack_id)
    assert findings(renamed) == findings(load_pack(pack_id))
    assert len(findings(renamed)) >= 3


@pytest.mark.parametrize("pack_id", [YOUTH, INDIA])
def test_renaming_every_table_and_column_changes_no_database_row(base: Callable, make_workbook: Callable,
                                                                 pack_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest finds tables and columns through the form's bindings too: renamed, a file gives the same
    rows in participants, cost_items, findings and the finance worklist's lines."""
    from pipeline.finance import lines
    from pipeline.ingest import store
    from pipeline.submission import build_submission
    from pipeline.workbook import read_workbook

    data = base(pack_id)
    data["budget"][0]["description"] = "京都観光ツアー"                # a flagged line
    raw = read_workbook(make_workbook(pack_id, data))

    def rows(pack: Any) -> tuple[Any, ...]:
        monkeypatch.setattr(store, "load_pack", lambda _id: pack)
        monkeypatch.setattr(lines, "load_pack", lambda _id: pack)
        lines._layout.cache_clear()
        lines._money_codes.cache_clear()
        sub, found = build_submission(raw, pack)
        found += run_rules(sub, pack)
        report = {"submission": sub, "findings": [f.to_dict() for f in sort_findings(found)]}
        got = store.file_rows("0" * 64, report)
        return got.key, got.institution, got.pi_name, got.title, got.rows

    original, renamed = rows(load_pack(pack_id)), rows(_renamed(pack_id))
    lines._layout.cache_clear()
    lines._money_codes.cache_clear()
    assert renamed == original
    assert original[4][0] and original[4][1] and any(r[13] == "ng" for r in original[4][3])
