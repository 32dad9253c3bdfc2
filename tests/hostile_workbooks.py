"""Workbooks built from the project's own templates, filled with what a careless or hostile applicant can type.

Each case is a change to a clean sample application (the scenarios' ``base``) and the outcome a
person should get: a finding with a code (the file is ingested and its totals reviewed), or the
file quarantined with a code. Nothing here may stop a batch or print a traceback.
"""

from __future__ import annotations

import copy
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.fill import fill_template
from pipeline.samples import load_scenarios

YOUTH, INDIA = "nexus-ytec-youth-2025", "india-circulation-2025"


@dataclass(frozen=True)
class Case:
    name: str
    pack: str
    change: Callable[[dict[str, Any]], None]
    finding: str | None = None      # a finding with this code is reported (the file is ingested)
    quarantine: str | None = None   # the file is quarantined with this code
    after: Callable[[Path], None] | None = None  # a change to the written file (its XML)


def _line(data: dict[str, Any], **values: Any) -> None:
    data["budget"][0].update(values)


def _plan(data: dict[str, Any], **values: Any) -> None:
    data["plan"].update(values)


def _person(data: dict[str, Any], **values: Any) -> None:
    data["participants"][0].update(values)


def _totals(data: dict[str, Any], **values: Any) -> None:
    data.setdefault("totals", {}).update(values)


def _many_lines(data: dict[str, Any], n: int, **values: Any) -> None:
    line = {**data["budget"][0], **values}
    data["budget"] = [dict(line, description=f"{line['description']} {i}") if "description" not in values else
                      dict(line) for i in range(n)]


def _unknown_categories(data: dict[str, Any], n: int) -> None:
    line = dict(data["budget"][0])
    data["budget"] = [dict(line, category=f"不明な費目 {i:05d}", description=f"品目 {i}") for i in range(n)]


def set_cell_xml(path: Path, sheet_title: str, cell: str, xml: str) -> None:
    """Replace one cell's XML in a written workbook (what no writer library will produce: NaN, odd types)."""
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    workbook = parts["xl/workbook.xml"].decode()
    rels = parts["xl/_rels/workbook.xml.rels"].decode()
    rid = re.search(rf'<sheet [^>]*name="{re.escape(sheet_title)}"[^>]*r:id="([^"]+)"', workbook).group(1)
    target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"', rels)
    member = "xl/" + (target.group(1) or target.group(2)).removeprefix("/xl/")
    sheet = parts[member].decode()
    pattern = re.compile(rf'<c r="{cell}"(?: [^>]*)?(?:/>|>.*?</c>)', re.S)
    assert pattern.search(sheet), f"{cell} not in {member}"
    parts[member] = pattern.sub(xml.replace("\\", "\\\\"), sheet, count=1).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())


def _budget_cell(path: Path, column_header: str) -> tuple[str, str]:
    """The sheet and address of the first budget row's cell under ``column_header`` (from the template)."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for table in ws.tables.values():
            if table.name.lower().startswith("budget") or "budget" in table.displayName.lower():
                first = ws[table.ref.split(":")[0]]
                for cell in ws[first.row]:
                    if isinstance(cell.value, str) and cell.value.startswith(column_header):
                        return ws.title, f"{cell.column_letter}{first.row + 1}"
    raise AssertionError(f"no budget column {column_header}")


def _nan_price(path: Path) -> None:
    sheet, cell = _budget_cell(path, "単価")
    set_cell_xml(path, sheet, cell, f'<c r="{cell}"><v>NaN</v></c>')


def _template_version_empty(path: Path) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(path)
    sheet, ref = next(iter(wb.defined_names["shinsei_template_version"].destinations))
    wb[sheet][ref.replace("$", "")].value = None
    wb.save(path)


NINES_25 = "9" * 25
CASES: list[Case] = [
    # 1. one number stops the whole batch
    Case("price-25-nines-text", YOUTH, lambda d: _line(d, unit_price=NINES_25), finding="input.out-of-range"),
    Case("price-25-nines-number", YOUTH, lambda d: _line(d, unit_price=1e25), finding="input.out-of-range"),
    Case("price-max-float", YOUTH, lambda d: _line(d, unit_price=1.7976931348623157e308),
         finding="input.invalid-yen"),
    Case("price-4000-digits", YOUTH, lambda d: _line(d, unit_price="9" * 4000), finding="input.out-of-range"),
    Case("price-4000-digits-india", INDIA, lambda d: _line(d, unit_price="1" * 4000), finding="input.out-of-range"),
    Case("quantity-max-float", INDIA, lambda d: _line(d, quantity=1.7976931348623157e308),
         finding="input.invalid-number"),
    Case("quantity-tiny", YOUTH, lambda d: _line(d, quantity=1e-300), finding="input.out-of-range"),
    Case("amount-overflows", YOUTH, lambda d: _line(d, unit_price=10**11, quantity=10**8),
         finding="input.out-of-range"),
    Case("fiscal-year-30-digits", YOUTH, lambda d: _line(d, fiscal_year="9" * 30), finding="input.out-of-range"),
    Case("participant-no-huge", INDIA, lambda d: _person(d, no=10**15), finding="input.out-of-range"),
    Case("price-nan", YOUTH, lambda d: None, finding="input.invalid-yen", after=_nan_price),
    # 2. PostgreSQL: long choices, NUL
    Case("category-100-chars", YOUTH, lambda d: _line(d, category="旅" * 100), finding="budget.category-not-allowed"),
    Case("country-200-chars", INDIA, lambda d: _person(d, country="X" * 200), finding="invitee.country-not-india"),
    Case("nul-in-description", YOUTH, lambda d: _line(d, description="航空券_x0000_代"), finding=None),
    Case("nul-in-category", INDIA, lambda d: _line(d, category="III 旅費_x0000_"), finding=None),
    Case("nul-in-name", INDIA, lambda d: _person(d, name="山田_x0000_花子"), finding=None),
    Case("control-in-institution", YOUTH, lambda d: _plan(d, institution="東都_x0001__x001F_大学"), finding=None),
    Case("surrogate-in-description", YOUTH, lambda d: _line(d, description="航空券_xD800_代"), finding=None),
    # 3. long lines (bounded by the classifier)
    Case("long-lines", YOUTH, lambda d: _many_lines(d, 20, description="観光" * 16383), finding=None),
    # 4. the Summary's columns
    Case("many-unknown-categories", YOUTH, lambda d: _unknown_categories(d, 2000),
         finding="budget.category-not-allowed"),
    Case("formula-category", YOUTH, lambda d: _line(d, category="+cmd|' /C calc'!A0"),
         finding="budget.category-not-allowed"),
    Case("formula-category-eq", INDIA, lambda d: _line(d, category="=HYPERLINK(\"http://x\")"), finding=None),
    # 6. tracebacks instead of findings
    Case("overhead-400-digits", YOUTH, lambda d: _totals(d, overhead="9" * 400), finding="input.out-of-range"),
    Case("overhead-1e30", INDIA, lambda d: _totals(d, overhead=1e30), finding="input.out-of-range"),
    Case("overhead-negative-huge", YOUTH, lambda d: _totals(d, overhead=-1e20), finding="input.out-of-range"),
    # dates
    Case("date-serial-huge", INDIA, lambda d: _line(d, date=1e308), finding="input.invalid-date"),
    Case("birth-date-era-999", INDIA, lambda d: _person(d, birth_date="令和999年1月1日"), finding=None),
    Case("period-year-9999", YOUTH, lambda d: _plan(d, period_end="9999-12-31"), finding=None),
    # 8. smaller
    Case("one-letter-32767", YOUTH, lambda d: _line(d, description="a" * 32767), finding=None),
    Case("template-version-empty", YOUTH, lambda d: None, quarantine="unknown-template-version",
         after=_template_version_empty),
]


def variant(data: dict[str, Any], pack: str, tag: str) -> dict[str, Any]:
    """``data`` as its own application (a title and invitee of its own), so each file is its own submission."""
    data = copy.deepcopy(data)
    data["plan"]["title_ja"] = f"{data['plan'].get('title_ja', '')} [{tag}]"
    for p in data.get("participants") or []:
        if str(p.get("role", "")).startswith("招へい者"):
            p["name"] = f"{p['name']} {tag}"
    return data


def write_case(case: Case, folder: Path, bases: dict[str, dict[str, Any]] | None = None) -> Path:
    bases = bases or {sc["pack"]: sc["base"] for sc in load_scenarios()}
    data = variant(bases[case.pack], case.pack, case.name)
    case.change(data)
    path = fill_template(case.pack, data, folder / f"{case.pack}__{case.name}.xlsx")
    if case.after is not None:
        case.after(path)
    return path


def write_valid(folder: Path, n: int, bases: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """``n`` clean applications, each its own submission, alternating the packs."""
    bases = bases or {sc["pack"]: sc["base"] for sc in load_scenarios()}
    packs = [YOUTH, INDIA, "nexus-ytec-instructor-2025"]
    return [fill_template(packs[i % 3], variant(bases[packs[i % 3]], packs[i % 3], f"valid-{i}"),
                          folder / f"valid-{i:02d}.xlsx") for i in range(n)]
