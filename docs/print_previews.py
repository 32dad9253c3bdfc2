"""Write the print previews in docs/print/: the first page of each template, and of an annotated copy,
as LibreOffice prints them to PDF (``python docs/print_previews.py``; needs LibreOffice and pdftoppm).

The pictures are what tests/test_print_templates.py checks in numbers (A4, one page wide, the pages
each sheet takes); regenerate them after changing a form's layout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "print"
ANNOTATED_SAMPLE = "nexus-ytec-youth-2025__sightseeing-and-souvenirs"


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"{' or '.join(names)} is not installed")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from pipeline.annotate import write_annotated
    from pipeline.packs import load_pack, pack_ids
    from pipeline.template_builder import template_path
    from pipeline.validate import validate_file

    soffice, pdftoppm = _tool("soffice", "libreoffice"), _tool("pdftoppm")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        books = [shutil.copy(template_path(load_pack(p)), work / f"template-{p}.xlsx") for p in pack_ids()]
        source = ROOT / "samples" / f"{ANNOTATED_SAMPLE}.xlsx"
        books.append(write_annotated(source, validate_file(source), work / f"annotated-{ANNOTATED_SAMPLE}.xlsx"))
        subprocess.run([soffice, f"-env:UserInstallation=file://{work / 'profile'}", "--headless",
                        "--convert-to", "pdf", "--outdir", str(work), *map(str, books)],
                       check=True, capture_output=True, timeout=300)
        for book in map(Path, books):
            target = OUT / book.stem
            subprocess.run([pdftoppm, "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                            str(work / f"{book.stem}.pdf"), str(target)], check=True, timeout=120)
            print(target.with_suffix(".png").relative_to(ROOT))


if __name__ == "__main__":
    main()
