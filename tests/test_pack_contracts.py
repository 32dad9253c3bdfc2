"""A pack that breaks a check's contract is refused when it is loaded, naming the rule and the parameter.

Each case copies the shipped packs, breaks one thing the way an author of next year's pack could,
and asserts the refusal (and `shinsei pack check` saying the same, exit 1). Also: `extends:` merges
as documented, and a changed parent is read again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import pack_check
from pipeline.packs import PackError, load_pack, load_pack_file
from pipeline.resources import packs_dir

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"
INSTR = "nexus-ytec-instructor-2025"
TESTS = Path(__file__).parent / "packs"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped packs folder to break."""
    shutil.copytree(packs_dir(), tmp_path / "packs")
    return tmp_path / "packs"


def broken(folder: Path, name: str, old: str, new: str) -> Path:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# (file, text, replacement, what the refusal must name: the rule and the parameter or placeholder)
REFUSALS = [
    ("mistyped-parameter", f"{YOUTH}.yaml", "params: {max_days: 90}", "params: {max_day: 90}",
     ["visit.days-exceeded", "'max_day'", "'max_days' is missing"]),
    ("parameter-of-wrong-type", f"{YOUTH}.yaml", "params: {max_days: 90}", 'params: {max_days: "90日"}',
     ["visit.days-exceeded", "'max_days' must be a whole number"]),
    ("unknown-placeholder", f"{YOUTH}.yaml", "参加者が{actual}名です。{course_ja}",
     "参加者が{actul}名です。{course_ja}",
     ["participants.too-many", "{actul}"]),
    ("unknown-table", f"{YOUTH}.yaml", "params: {table: participants, max: 15}",
     "params: {table: participant, max: 15}", ["participants.too-many", "'table'", "'participant'"]),
    ("unknown-column", f"{YOUTH}.yaml",
     "params: {tables: [counterparts, participants], column: country, list: countries",
     "params: {tables: [counterparts, participants], column: nation, list: countries",
     ["country.not-allowed", "'column'", "'nation'"]),
    ("unknown-check-kind", f"{YOUTH}.yaml", "check: count_at_most", "check: count_at_mots",
     ["participants.too-many", "count_at_mots"]),
    ("unknown-list", f"{YOUTH}.yaml", "column: country, list: countries,", "column: country, list: country_list,",
     ["country.not-allowed", "'list'", "country_list"]),
    ("code-not-in-list", f"{YOUTH}.yaml", "allowed: [high_school, kosen,", "allowed: [high_scool, kosen,",
     ["participant.category-not-allowed", "'allowed'", "high_scool"]),
    ("where-unknown-column", f"{YOUTH}.yaml", "where: {jst_funds: true}", "where: {jst_fund: true}",
     ["partners.too-many-funded", "'where'", "jst_fund"]),
    ("where-not-yes-no", f"{YOUTH}.yaml", "where: {jst_funds: true}", "where: {jst_funds: はい}",
     ["partners.too-many-funded", "'where'", "true or false"]),
    ("date-that-is-not-one", f"{YOUTH}.yaml", "params: {field: period_end, max: 2026-12-31}",
     'params: {field: period_end, max: "2026-12-32"}', ["period.end-too-late", "'max' must be a date"]),
    ("enum-value", f"{YOUTH}.yaml", "params: {max_from: cap}", "params: {max_from: ceiling}",
     ["budget.over-cap", "'max_from'", "ceiling"]),
    ("unknown-field", f"{YOUTH}.yaml", "unless_filled: over_base_reason", "unless_filled: over_base_reasons",
     ["budget.over-base-without-reason", "'unless_filled'", "over_base_reasons"]),
    ("money-key", f"{INDIA}.yaml", "rate_from: stay_monthly", "rate_from: stay_montly",
     ["stay.rate-exceeded", "'rate_from'", "stay_montly"]),
    ("code-of-a-bound-list", f"{INDIA}.yaml", "params: {subcategory: invitee_stay, rate_from",
     "params: {subcategory: invitee_stays, rate_from", ["stay.rate-exceeded", "'subcategory'", "invitee_stays"]),
    ("nested-parameter", f"{INDIA}.yaml",
     "- {subcategory: pi_stay, role: pi_india, max_months_from: pi_stay_max_months}",
     "- {subcategory: pi_stay, role: pi_india, max_month_from: pi_stay_max_months}",
     ["stay.months-exceed-stays", "'pairs[2].max_month_from'"]),
    ("cross-rule-parameter", f"{YOUTH}.yaml", "params: {roles: [participant, leader]}",
     "params: {roles: [participant, lead]}", ["cross.same-person-both-courses", "'roles'", "lead"]),
    ("cross-rule-mistyped", f"{YOUTH}.yaml", "params: {fields: [pi_name, institution]}",
     "params: {field: [pi_name, institution]}", ["cross.same-pi-same-course", "'field'", "'fields' is missing"]),
    ("cross-rule-placeholder", f"{INDIA}.yaml", "招へい者 {value} さんが{count}件", "招へい者 {name} さんが{count}件",
     ["cross.same-invitee", "{name}"]),
    ("binding-to-a-missing-column", "forms/nexus-ytec-2025.yaml", "birth_date: birth_date, country: country,",
     "birth_date: birthday, country: country,", ["bindings.people.birth_date", "birthday"]),
    ("check-reads-an-unbound-column", "forms/nexus-ytec-2025.yaml", "name: name, role: role, birth_date: birth_date,",
     "name: name, role: role,", ["participant.too-old", "people.birth_date"]),
    ("formula-input", "forms/nexus-ytec-2025.yaml", "type: yen, formula: amount, args: [unit_price, quantity]",
     "type: yen, formula: amount, args: [unit_price, qty]", ["budget.amount", "'qty'"]),
    ("unknown-formula", "forms/nexus-ytec-2025.yaml", "formula: ratio, args: [overhead, direct_total]",
     "formula: rate, args: [overhead, direct_total]", ["totals.overhead_rate", "unknown formula 'rate'"]),
    ("identity-field", "forms/india-circulation-2025.yaml", "  - {field: pi_name}\n  - first_of:",
     "  - {field: pi}\n  - first_of:", ["identity[1]", "'pi'"]),
]


@pytest.mark.parametrize(("case", "name", "old", "new", "named"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_broken_pack_is_refused_at_load_time(folder: Path, case: str, name: str, old: str, new: str,
                                             named: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    broken(folder, name, old, new)
    target = folder / (f"{INDIA}.yaml" if INDIA in name or "india" in name else f"{YOUTH}.yaml")
    with pytest.raises(PackError) as exc:
        load_pack_file(target)
    for text in named:
        assert text in str(exc.value), f"{case}: {text!r} not in\n{exc.value}"
    assert pack_check.main(["check", str(target)]) == 1
    err = capsys.readouterr().err
    assert all(text in err for text in named)


def test_a_date_yaml_cannot_build_is_a_refusal_not_a_traceback(folder: Path) -> None:
    broken(folder, f"{YOUTH}.yaml", "params: {field: period_end, max: 2026-12-31}",
           "params: {field: period_end, max: 2026-12-32}")
    with pytest.raises(PackError, match="not valid YAML"):
        load_pack_file(folder / f"{YOUTH}.yaml")


def test_shipped_packs_pass_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted(packs_dir().glob("*.yaml"))]
    assert pack_check.main(["check", *files]) == 0
    out = capsys.readouterr().out
    assert all(f"OK {f}" in out for f in files)
    assert pack_check.main(["rules", files[0]]) == 0
    table = capsys.readouterr().out
    assert "| `invitee.too-old` | warning |" in table and "原則40歳以下" in table


def test_a_broken_pack_never_reaches_validation(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the loader every command uses: an id in a packs folder."""
    from pipeline import packs as packs_module

    broken(folder, f"{YOUTH}.yaml", "params: {max_days: 90}", "params: {max_day: 90}")
    monkeypatch.setattr(packs_module, "packs_dir", lambda: folder)
    load_pack.cache_clear()
    try:
        with pytest.raises(PackError, match=r"visit\.days-exceeded.*max_day"):
            load_pack(YOUTH)
    finally:
        load_pack.cache_clear()


# ---- extends ----------------------------------------------------------------------------------

def test_instructor_pack_as_extends_equals_the_pack_written_whole(tmp_path: Path) -> None:
    """The shipped instructor pack states only what differs from the youth pack; merged, it is the pack
    written whole (tests/packs/instructor-full), rule for rule."""
    child = packs_dir() / f"{INSTR}.yaml"
    merged = load_pack(INSTR)
    shutil.copy(TESTS / "instructor-full" / f"{INSTR}.yaml", tmp_path)
    for folder in ("forms", "lexicons"):  # the whole pack names its form and lexicon beside it
        (tmp_path / folder).symlink_to(packs_dir() / folder)
    whole = load_pack_file(tmp_path / f"{INSTR}.yaml")
    assert merged.data == whole.data
    assert [p.name for p in merged.lineage] == [f"{INSTR}.yaml", f"{YOUTH}.yaml"]
    youth_lines = (packs_dir() / f"{YOUTH}.yaml").read_text(encoding="utf-8").count("\n")
    assert child.read_text(encoding="utf-8").count("\n") < youth_lines / 5


def _child(folder: Path, body: str) -> Path:
    path = folder / "nexus-ytec-youth-2030.yaml"
    path.write_text("extends: nexus-ytec-youth-2025\nid: nexus-ytec-youth-2030\nfiscal_year: 2030\n"
                    "template: {id: nexus-ytec-youth-2030, file: nexus-ytec-youth-2030.xlsx}\n" + body,
                    encoding="utf-8")
    return path


def test_extends_merges_by_key_and_by_rule_code(folder: Path) -> None:
    child = _child(folder, "money: {base_amount: 8000000}\nrules:\n"
                           "  - {code: participant.too-old, remove: true}\n"
                           "  - {code: visit.days-exceeded, params: {max_days: 60}}\n")
    pack = load_pack_file(child)
    parent = load_pack(YOUTH)
    assert pack.money["base_amount"] == 8_000_000 and pack.money["excess_ratio"] == parent.money["excess_ratio"]
    assert pack.template["version"] == parent.template["version"]       # a mapping merged key by key
    rules = {r["code"]: r for r in pack.rules}
    assert "participant.too-old" not in rules
    assert rules["visit.days-exceeded"]["params"] == {"max_days": 60}
    assert rules["visit.days-exceeded"]["message"] == {r["code"]: r for r in parent.rules}["visit.days-exceeded"][
        "message"]
    assert len(pack.rules) == len(parent.rules) - 1


@pytest.mark.parametrize(("body", "named"), [
    ("rules:\n  - {code: no.such-rule, remove: true}\n", "no.such-rule"),
    ("rules:\n  - {code: visit.days-exceeded, params: {max_days: ninety}}\n", "'max_days' must be a whole number"),
    ("colour: blue\n", "colour"),
])
def test_a_broken_child_is_refused(folder: Path, body: str, named: str) -> None:
    with pytest.raises(PackError, match=named):
        load_pack_file(_child(folder, body))


def test_extends_loop_is_refused(folder: Path) -> None:
    a = folder / "loop-a-2030.yaml"
    b = folder / "loop-b-2030.yaml"
    a.write_text("extends: loop-b-2030\nid: loop-a-2030\n", encoding="utf-8")
    b.write_text("extends: loop-a-2030\nid: loop-b-2030\n", encoding="utf-8")
    with pytest.raises(PackError, match="loop"):
        load_pack_file(a)


def test_a_changed_parent_is_read_again(folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Files are cached by their own bytes and merged after loading: the child follows its parent."""
    monkeypatch.setenv("SHINSEI_CACHE_DIR", str(tmp_path / "cache"))
    child = _child(folder, "")
    first = load_pack_file(child)
    assert first.money["base_amount"] == 7_000_000
    assert load_pack_file(child).money["base_amount"] == 7_000_000     # from the cache
    broken(folder, f"{YOUTH}.yaml", "base_amount: 7000000", "base_amount: 7500000")
    assert load_pack_file(child).money["base_amount"] == 7_500_000


def test_readme_lists_each_rule_with_its_severity_and_basis() -> None:
    """The README's severity tables are the packs' own (`shinsei pack rules`), kept in step."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- severity:start -->\n", 1)[1].split("\n<!-- severity:end -->", 1)[0]
    files = [str(packs_dir() / f"{p}.yaml") for p in (YOUTH, INSTR, INDIA)]
    assert block == pack_check.readme_tables(files, {INSTR: YOUTH}), "regenerate the README's severity tables"
    for pack_id in (YOUTH, INDIA):
        assert all(rule.get("basis") for rule in load_pack(pack_id).rules), "every rule says why its severity"
