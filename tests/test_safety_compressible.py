"""Highly compressible text is not a zip bomb; zip bombs still are (pipeline.safety's compression rule).

A cell of 32,767 × "あ" written by the template deflates ~30:1; twenty of them ~220:1, over the
ratio limit of 200 that used to be judged on any part above 1 MiB. The rule now allows the whole
file max_ratio × its compressed size plus a fixed allowance (Limits.ratio_allowance), which also
refuses bombs cut into many parts that each stayed under the old per-part floor.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest.executor import InlineExecutor
from pipeline.ingest.run import ingest
from pipeline.safety import DEFAULT_LIMITS, Limits, precheck
from pipeline.validate import validate_file
from tests.test_safety import build, rejected

PACKS = ["nexus-ytec-youth-2025", "nexus-ytec-instructor-2025", "india-circulation-2025"]


def _long_lines(data: dict[str, Any], text: str, n: int) -> dict[str, Any]:
    line = data["budget"][0]
    data["budget"] = [dict(line, description=text) for _ in range(n)] + data["budget"][1:]
    return data


def _excess(path: Path) -> int:
    """What the members inflate beyond max_ratio times their compressed size, summed: what the rule judges."""
    with zipfile.ZipFile(path) as zf:
        return sum(max(0, i.file_size - DEFAULT_LIMITS.max_ratio * i.compress_size) for i in zf.infolist())


def _recompress(path: Path, level: int) -> Path:
    """The same parts, deflated at ``level`` (9: the best ratio any deflate writer reaches)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    out = path.with_name(f"{path.stem}-level{level}.xlsx")
    out.write_bytes(buf.getvalue())
    return out


@pytest.mark.parametrize("pack", PACKS)
@pytest.mark.parametrize("letter", ["a", "あ"])
def test_one_cell_of_32767_repeated_letters_is_accepted(pack: str, letter: str, base: Callable[[str], dict[str, Any]],
                                                        make_workbook: Callable[..., Path]) -> None:
    data = base(pack)
    data["plan"]["title_ja"] = letter * 32767
    data["budget"][0]["description"] = letter * 32767
    path = make_workbook(pack, data)
    precheck(path)
    precheck(_recompress(path, 9))
    report = validate_file(path)  # and read in the sandbox: a finding at most, never a refusal
    assert report.submission["budget"][0]["description"] == letter * 32767


@pytest.mark.parametrize(("letter", "lines"), [("あ", 20), ("あ", 40), ("a", 100), ("観光", 20)])
def test_many_long_repeated_cells_are_accepted(letter: str, lines: int, base: Callable[[str], dict[str, Any]],
                                               make_workbook: Callable[..., Path]) -> None:
    """20 × 32,767 "あ" deflates ~200:1, 40 ~280:1 (refused before: 4 MB at 280:1); level 9 does no worse."""
    text = (letter * 32767)[:32767]
    path = make_workbook("nexus-ytec-youth-2025", _long_lines(base("nexus-ytec-youth-2025"), text, lines))
    with zipfile.ZipFile(path) as zf:
        ratio = max(i.file_size / i.compress_size for i in zf.infolist() if i.compress_size)
    if (letter, lines) == ("あ", 40):
        assert ratio > DEFAULT_LIMITS.max_ratio, "over the ratio limit: what the former rule refused"
    precheck(path)
    precheck(_recompress(path, 9))


def test_the_ingest_takes_the_long_cell(tmp_path: Path, base: Callable[[str], dict[str, Any]],
                                        make_workbook: Callable[..., Path]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for letter in ("a", "あ"):
        data = base("nexus-ytec-youth-2025")
        data["plan"]["title_ja"] = f"{letter} の課題"
        data["budget"][0]["description"] = letter * 32767
        make_workbook("nexus-ytec-youth-2025", data).rename(folder / f"{letter}.xlsx")
    summary = ingest([folder], tmp_path / "out", executor=InlineExecutor(), progress=False)
    assert summary.processed == 2 and summary.quarantined == 0


# ---- zip bombs stay refused -------------------------------------------------------------------

def test_zeros_in_one_part_or_spread_over_many_are_refused(tmp_path: Path) -> None:
    one = build(tmp_path / "one.xlsx", extra={"xl/media/zeros.bin": bytes(8 << 20)})
    err = rejected(one)
    assert err.code == "zip-bomb" and "xl/media/zeros.bin" in err.detail
    # 100 parts of 1 MiB of zeros (~1 KB each): each part under the former 1 MiB floor, 100 MiB from 100 KB.
    spread = build(tmp_path / "spread.xlsx", extra={f"xl/media/z{i}.bin": bytes(1 << 20) for i in range(100)})
    assert spread.stat().st_size < 200_000
    assert rejected(spread).code == "zip-bomb"
    # So few such parts that they stay inside the allowance: inflating them costs nothing.
    few = build(tmp_path / "few.xlsx", extra={f"xl/media/z{i}.bin": bytes(1 << 20) for i in range(3)})
    precheck(few)


def test_a_bomb_inside_a_real_template_workbook_is_refused(tmp_path: Path, base: Callable[[str], dict[str, Any]],
                                                           make_workbook: Callable[..., Path]) -> None:
    path = make_workbook("nexus-ytec-youth-2025", base("nexus-ytec-youth-2025"))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/image1.png", bytes(6 << 20))
    assert rejected(path).code == "zip-bomb"


def test_the_guarantee_and_its_limit_are_configurable(tmp_path: Path) -> None:
    """A file inflates to at most max_ratio × its compressed size + ratio_allowance: one byte more is refused."""
    path = build(tmp_path / "z.xlsx", extra={"xl/media/zeros.bin": bytes(2 << 20)})
    excess = _excess(path)
    assert excess > 0
    precheck(path, limits=Limits(ratio_allowance=excess))
    err = rejected(path, Limits(ratio_allowance=excess - 1))
    assert err.code == "zip-bomb" and f"{excess:,}" in err.detail
    precheck(path, limits=Limits(max_ratio=2000, ratio_allowance=0))  # ratio alone, as a deployment may set it
