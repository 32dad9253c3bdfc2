"""One catalogue of refusals: every reason shinsei refuses a file or a request, as data.

The reasons (code, what is wrong in Japanese and English, what to do in both, the exit code of the
command line, the HTTP status of the add-in) live in ``packs/common/refusals.yaml``; every front end
formats them from there: the engine raises them (``reject``), the command line prints one line
(``Refusal.line``), the add-in shows an alert (``Refusal.alert``), the ingest quarantines a file with
``code`` / ``message_ja`` / ``message_en``, and ``shinsei validate --json`` prints a findings document
(``Refusal.report``, schemas/findings.schema.json).

A file's name can tell what it is: ``refusal_for_path`` is the refusal of a file by its name alone (a
.pdf is told the call asks for the Excel form, an .xls to be saved as .xlsx), and ``for_file`` gives a
refusal the advice that fits the file's type. Nothing here is imported when nothing is refused: the
engine imports this module on its error paths only, and the YAML is read (or its cached pickle) on
the first refusal.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pipeline.safety import WorkbookRejected

__all__ = ["CommandError", "Refusal", "catalogue", "for_file", "refit", "refusal", "refusal_for_path", "reject"]

EXIT_UNREADABLE = 2           # the default of a refusal: a file the command cannot read
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
_HIDDEN_PARTS = ("__MACOSX",)


class Refusal(NamedTuple):
    """One refusal, rendered: what is wrong and what to do, Japanese first, with its code.

    A NamedTuple: immutable like the frozen dataclass it was, without importing ``dataclasses`` (~7 ms
    of a ``shinsei validate`` that refuses its file; see pipeline.record)."""

    code: str
    ja: str
    en: str
    advice_ja: str = ""
    advice_en: str = ""
    cli_ja: str = ""          # what only the command line offers besides (an option)
    cli_en: str = ""
    detail: str = ""          # technical detail for the curious (a member name, a byte count)
    exit: int = EXIT_UNREADABLE
    status: int | None = None  # the add-in's HTTP status

    @property
    def message_ja(self) -> str:
        """What is wrong and what to do, as one Japanese text (what the ingest stores and the add-in shows)."""
        return _join_ja(self.ja, self.advice_ja)

    @property
    def message_en(self) -> str:
        return _join_en(self.en, self.advice_en)

    def line(self, subject: str = "", *, cli: bool = True) -> str:
        """One line for a terminal: ``subject: 日本語 / English [code] (detail)``, never a line break."""
        ja, en = self.message_ja, self.message_en
        if cli and self.cli_ja:
            ja, en = _join_ja(ja, self.cli_ja), f"{en}; {self.cli_en}"
        head = f"{subject}: " if subject else ""
        shown = self.detail and Path(self.detail) != Path(subject.split(": ")[0] or ".")
        tail = f" ({_one_line(self.detail, 300)})" if shown else ""
        return _one_line(f"{head}{ja} / {en} [{self.code}]{tail}", 4000)

    def alert(self) -> str:
        """The add-in's alert: Japanese, a blank line, English."""
        return f"{self.message_ja}\n\n{self.message_en}"

    def to_dict(self) -> dict[str, Any]:
        out = {"code": self.code, "message_ja": self.message_ja, "message_en": self.message_en,
               "reason_ja": self.ja, "reason_en": self.en, "advice_ja": self.advice_ja, "advice_en": self.advice_en}
        if self.detail:
            out["detail"] = self.detail
        return out

    def error(self, cls: type[WorkbookRejected] | None = None) -> WorkbookRejected:
        """The engine's exception for this refusal (``cls``: WorkbookRejected or one of its kinds)."""
        if cls is None:
            from pipeline.safety import WorkbookRejected as cls
        exc = cls(self.code, self.message_ja, self.message_en, self.detail)
        exc.reason_ja, exc.reason_en, exc.advice_ja, exc.advice_en = self.ja, self.en, self.advice_ja, self.advice_en
        return exc

    def finding(self) -> dict[str, Any]:
        """The refusal as one finding of a findings document (code ``file.<code>``)."""
        return {"code": f"file.{self.code}", "severity": "error", "clause": dict(catalogue()["clause"]),
                "message_ja": self.message_ja, "message_en": self.message_en, "location": {},
                "expected": None, "actual": self.detail or None}

    def report(self, file: str, *, program: str | None = None, sha256: str | None = None) -> dict[str, Any]:
        """What ``shinsei validate --json`` prints for a file it cannot read (schemas/findings.schema.json)."""
        return {"schema_version": 1, "file": file, "sha256": sha256, "program": program, "template": None,
                "valid": False, "counts": {"error": 1, "warning": 0, "info": 0}, "findings": [self.finding()],
                "refusal": self.to_dict()}


class CommandError(Exception):
    """A mistake the command line's user can fix: printed as the refusal's one line, exit with its code."""

    def __init__(self, name: str, /, *, detail: str = "", **values: Any) -> None:
        self.refusal = refusal(name, detail=detail, **values)
        super().__init__(self.refusal.message_en)

    @property
    def exit(self) -> int:
        return self.refusal.exit


# ---- the catalogue ----------------------------------------------------------------------------

@cache
def catalogue() -> dict[str, Any]:
    """``packs/common/refusals.yaml`` as data: ``clause`` and ``refusals`` (name -> entry)."""
    from pipeline import datacache
    from pipeline.resources import packs_dir

    return datacache.load_yaml(packs_dir() / "common" / "refusals.yaml")


@cache
def _by_code() -> dict[str, str]:
    """code -> the entry named so (else the first entry with that code)."""
    out: dict[str, str] = {}
    for name, entry in catalogue()["refusals"].items():
        code = entry.get("code", name)
        if name == code or code not in out:
            out[code] = name
    return out


@cache
def _suffixes() -> dict[str, str]:
    """file-name suffix -> the entry of that type of file."""
    return {s.lower(): name for name, entry in catalogue()["refusals"].items() for s in entry.get("suffixes", ())}


def refusal(name: str, /, *, detail: str = "", **values: Any) -> Refusal:
    """The catalogue's entry ``name`` rendered with ``values`` (its placeholders). KeyError for an unknown name."""
    from pipeline.findings import render

    entry = catalogue()["refusals"][name]
    advice, cli = entry.get("advice") or {}, entry.get("cli") or {}
    return Refusal(code=entry.get("code", name), ja=render(entry["ja"], values), en=render(entry["en"], values),
                   advice_ja=render(advice.get("ja", ""), values), advice_en=render(advice.get("en", ""), values),
                   cli_ja=render(cli.get("ja", ""), values), cli_en=render(cli.get("en", ""), values),
                   detail=detail, exit=int(entry.get("exit", EXIT_UNREADABLE)), status=entry.get("status"))


def reject(name: str, cls: type[WorkbookRejected] | None = None, /, *, detail: str = "",
           **values: Any) -> WorkbookRejected:
    """The engine's exception for the catalogue's entry ``name``: ``raise reject("zip-bomb", UnsafeWorkbook)``."""
    return refusal(name, detail=detail, **values).error(cls)


def refusal_for_path(path: str | PurePath) -> Refusal | None:
    """The refusal of a file by its name alone; None for a workbook's name (.xlsx, .xlsm).

    For the ingest's sources and the command line: an Excel lock file or hidden file (``~$x.xlsx``,
    ``.DS_Store``, anything under ``__MACOSX``) is ``lock-or-hidden-file``; otherwise the suffix decides
    (.xls: save as .xlsx; .pdf/.docx: the call asks for the Excel form; .csv; other spreadsheets; a zip,
    which the ingest expands before it asks), and an unknown suffix is ``not-a-workbook-file``.
    """
    p = PurePath(str(path).replace("\\", "/"))
    if p.name.startswith(("~$", ".")) or any(part in _HIDDEN_PARTS for part in p.parts[:-1]):
        return refusal("lock-or-hidden-file", detail=p.name)
    suffix = p.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        return None
    name = _suffixes().get(suffix, "not-a-workbook-file")
    return refusal(name, suffix=suffix or "拡張子なし / no extension", detail=p.name)


def for_file(exc: WorkbookRejected, path: str | PurePath | None = None) -> Refusal:
    """The refusal to show for ``exc`` raised on ``path``: the advice of the file's type where its reason
    leaves the type open (``by_type``), and what the catalogue adds for the command line (``cli``)."""
    entry = _entry_for(exc.code)
    if path is not None and entry is not None and entry.get("by_type"):
        typed = refusal_for_path(path)
        if typed is not None and typed.code != "not-a-workbook-file":
            return typed._replace(detail=_join_detail(exc.code, exc.detail))
    cli = (entry or {}).get("cli") or {}
    parts = getattr(exc, "reason_ja", "") and getattr(exc, "message_ja", "") == _join_ja(exc.reason_ja, exc.advice_ja)
    ja, en, advice_ja, advice_en = ((exc.reason_ja, exc.reason_en, exc.advice_ja, exc.advice_en) if parts
                                    else (exc.message_ja or str(exc), exc.message_en, "", ""))
    return Refusal(code=exc.code, ja=ja, en=en, advice_ja=advice_ja, advice_en=advice_en, detail=exc.detail,
                   cli_ja=cli.get("ja", ""), cli_en=cli.get("en", ""),
                   exit=int((entry or {}).get("exit", EXIT_UNREADABLE)))


def refit(exc: WorkbookRejected, path: str | PurePath) -> WorkbookRejected:
    """``exc`` as the refusal that fits ``path``'s type (same exception kind), or ``exc`` itself."""
    fitted = for_file(exc, path)
    if fitted.code == exc.code:
        return exc
    return fitted.error(type(exc))


def _entry_for(code: str) -> dict[str, Any] | None:
    try:
        name = _by_code().get(code)
    except (OSError, KeyError):  # the catalogue itself is unreadable: the exception's own text stands
        return None
    return catalogue()["refusals"][name] if name else None


# ---- text -------------------------------------------------------------------------------------

def _join_ja(first: str, then: str) -> str:
    if not then:
        return first
    if not first:
        return then
    return f"{first}{'' if first.endswith(('。', '．', '.')) else '。'}{then}"


def _join_en(first: str, then: str) -> str:
    if not then:
        return first
    if not first:
        return then[:1].upper() + then[1:]
    return f"{first.rstrip('.')}{'; ' if ': ' in first else ': '}{then}"


def _join_detail(code: str, detail: str) -> str:
    return f"{code}: {detail}" if detail else code


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
