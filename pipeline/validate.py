"""The engine's path for one file: pre-check -> read -> detect pack -> normalise -> rules -> report.

Each step is its own module; this one only chains them. Public files are parsed in a child
process with memory and time limits (a hostile workbook can abort the reader's process).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipeline import settings
from pipeline.filehash import file_sha256
from pipeline.findings import Finding, Location, Report
from pipeline.packs import META_NAMES, Pack, PackError, load_pack, pack_file, pack_for_template, pack_ids
from pipeline.rules import run_rules, sort_findings
from pipeline.safety import WorkbookRejected, verified_members
from pipeline.sandbox import IsolatedCall, run_isolated
from pipeline.submission import build_submission
from pipeline.workbook import RawWorkbook, UnreadableWorkbook, read_workbook


def read_raw(path: str | Path, *, isolate: bool = True, scan: bool = True) -> RawWorkbook:
    """Pre-check the zip, then parse it (in a child process unless ``isolate`` is False).

    The reader parses the bytes the pre-check verified (it does not open the file again, so the file
    cannot change between check and parse, and nothing is inflated twice). ``scan=False`` leaves the
    far-cell scan to the reader's own pass (safety's docstring): only where this process is itself a
    sandboxed worker, whose death costs nothing but that file.
    """
    members = verified_members(path, scan=scan)
    if isolate:
        return run_isolated(read_workbook, Path(path), members=members, scanned=scan, timeout=60.0)
    return read_workbook(path, members=members, scanned=scan)


def detect_pack(raw: RawWorkbook, program: str | None = None) -> tuple[Pack, dict[str, str]]:
    """The rule pack a workbook belongs to, from its stored template id and version."""
    tid = raw.values.get(META_NAMES["template_id"])
    version = raw.values.get(META_NAMES["template_version"])
    tid = str(tid).strip() if tid not in (None, "") else None
    version = _version_text(version)
    if tid is None:
        if program is None:
            raise _refuse("unknown-template")
        pack = _load(program)
        return pack, {"id": pack.template["id"], "version": pack.template["version"]}
    pack = _load(program) if program else pack_for_template(tid)
    if pack is None:
        raise _refuse("unknown-template-id", template=tid)
    if pack.template["id"] != tid:
        raise _refuse("program-mismatch", template=tid, program=pack.id)
    if version not in pack.template["accepted_versions"]:
        accepted = ", ".join(pack.template["accepted_versions"])
        if version is None:
            raise _refuse("unknown-template-version-empty", template=tid, accepted=accepted)
        raise _refuse("unknown-template-version", template=tid, version=version, accepted=accepted)
    return pack, {"id": tid, "version": version or ""}


def _refuse(name: str, detail: str = "", **values: Any) -> UnreadableWorkbook:
    """The catalogue's refusal ``name`` (packs/common/refusals.yaml), raised as the engine's exception."""
    from pipeline.refusals import reject  # on the way to a refusal only

    return reject(name, UnreadableWorkbook, detail=detail, **values)  # type: ignore[return-value]


def _version_text(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, float):
        return f"{value:.1f}" if value == round(value, 1) else str(value)
    return str(value).strip()


def _load(program: str) -> Pack:
    try:
        return load_pack(program)
    except PackError as exc:
        if pack_file(program) is None and not program.endswith((".yaml", ".yml")):
            raise _refuse("unknown-program", program=program, known=", ".join(pack_ids()) or "-") from exc
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _refuse("pack-broken", str(exc), problem=first) from exc


def validate_raw(raw: RawWorkbook, program: str | None = None, *, sha256: str | None = None,
                 stage: str = "draft", schema: bool = True) -> Report:
    """Validate an already-read workbook (what the add-in and the batch pipeline call).

    ``stage="submission"`` is the pre-submission check: the draft rules plus the pack's
    ``stage: submission`` rules (the call's file-name convention and the like). ``schema=False`` leaves
    out the check of the normalised submission against the pack's schema (validate_file does it itself).
    """
    started = time.perf_counter()
    pack, template = detect_pack(raw, program)
    sub, input_findings = build_submission(raw, pack, template=template, sha256=sha256)
    findings = input_findings + _not_also_empty(run_rules(sub, pack, stage), input_findings, pack)
    if schema:
        findings.extend(schema_findings(sub, pack))
    return Report(file=raw.path.name, program=pack.id, template=template, findings=sort_findings(findings),
                  submission=sub, sha256=sha256, seconds=time.perf_counter() - started)


def _not_also_empty(found: list[Finding], input_findings: list[Finding], pack: Pack) -> list[Finding]:
    """The rules' findings less "required field is empty" on a cell whose value could not be read.

    A date typed ``2026/13/01`` normalises to nothing, so the completeness rule would call the cell
    empty besides the input finding saying it is not a date: one root, one finding (the input's).
    """
    unreadable = {f.location.path for f in input_findings if f.location.path}
    if not unreadable:
        return found
    completeness = {r["code"] for r in pack.rules if r.get("check") == "required_fields"}
    return [f for f in found if not (f.code in completeness and f.location.path in unreadable)]


def validate_file(path: str | Path, program: str | None = None, *, isolate: bool = True,
                  stage: str = "draft") -> Report:
    """Validate one workbook file. Raises WorkbookRejected when the file cannot be read at all."""
    started = time.perf_counter()
    path = Path(path)
    try:
        sha256 = file_sha256(regular_file(path))
        members = verified_members(path)
    except WorkbookRejected as exc:
        from pipeline.refusals import refit

        raise refit(exc, path) from None  # a .pdf is told the call asks for the Excel form, an .xls to re-save
    except OSError as exc:
        raise _refuse("cannot-open", f"{path}: {exc}", reason=exc.strerror or type(exc).__name__) from exc
    if isolate:  # all of the file's work, not only the read: the rules and the classifier are bounded too
        with IsolatedCall(_validate_members, (path, members, program, sha256, stage, False),
                          timeout=settings.FILE_TIMEOUT_SECONDS, memory_bytes=settings.FILE_MEMORY_BYTES) as child:
            import jsonschema_rs  # noqa: F401  (meanwhile, on the other core: see _checked_here)
            report = child.result()
        _checked_here(report, program)
    else:
        report = _validate_members(path, members, program, sha256, stage)
    report.seconds = time.perf_counter() - started
    return report


def regular_file(path: Path) -> Path:
    """``path``, or the refusal that says why it is not a file to read (missing, a folder, a device)."""
    try:
        if path.is_file():
            return path
        if path.is_dir():
            raise _refuse("is-a-folder", str(path))
        if path.exists():
            raise _refuse("not-a-regular-file", str(path))
    except OSError as exc:  # a name too long, a loop of links
        raise _refuse("cannot-open", f"{path}: {exc}", reason=exc.strerror or type(exc).__name__) from exc
    raise _refuse("file-not-found", str(path))


def _checked_here(report: Report, program: str | None) -> None:
    """The schema check of a submission the isolated child normalised, done by the parent.

    Importing jsonschema-rs takes ~15 ms (it loads ``email.utils``), about an eighth of a ``shinsei
    validate`` run: the parent imports it while the child reads, normalises and classifies the file,
    instead of before forking it. What it checks is the child's output, plain data, not the file.
    The pack is the one the child chose (``detect_pack``): the named one, else the template's."""
    if report.submission is None or report.program is None:
        return
    extra = schema_findings(report.submission, _load(program) if program else load_pack(report.program))
    if extra:
        report.findings = sort_findings(report.findings + extra)


def _validate_members(path: Path, members: Any, program: str | None, sha256: str, stage: str,
                      schema: bool = True) -> Report:
    return validate_raw(read_workbook(path, members=members), program, sha256=sha256, stage=stage, schema=schema)


def schema_findings(sub: dict[str, Any], pack: Pack) -> list[Finding]:
    """Map violations of the pack's own submission schema back to findings (should be none).

    The pack's schema, not one merged for every form: a field that is text in one programme and a
    choice in another is judged by the form the submission was read with."""
    from pipeline.schema_builder import submission_errors

    out = []
    for path, message in submission_errors(sub, pack):
        out.append(Finding(code="submission.schema", severity="error", clause=pack.clause("form"),
                           message_ja=f"正規化した内容がスキーマに合いません: {path}: {message}",
                           message_en=f"The normalised submission does not match its schema: {path}: {message}",
                           location=Location(path=path)))
    return out


__all__ = ["WorkbookRejected", "detect_pack", "read_raw", "validate_file", "validate_raw"]


def warm_up() -> None:
    """Load and compile what every file needs (packs, classifiers, schema validators) once.

    Called before worker processes are forked (the ingest's pool, the add-in's offload pool): they
    start with all of it, and a recycled worker does not pay ~50 ms again.
    """
    from pipeline.eligibility import load_classifier
    from pipeline.findings import input_catalogue
    from pipeline.packs import pack_ids
    from pipeline.schema_builder import pack_validator

    for pack_id in pack_ids():
        pack = load_pack(pack_id)
        load_classifier(pack)
        pack_validator(pack)
        for cached in ("lists", "_choice_index", "sheets", "tables", "fields"):
            getattr(pack, cached, None)
    input_catalogue()
