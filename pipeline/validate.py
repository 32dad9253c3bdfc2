"""The engine's path for one file: pre-check -> read -> detect pack -> normalise -> rules -> report.

Each step is its own module; this one only chains them. Public files are parsed in a child
process with memory and time limits (a hostile workbook can abort the reader's process).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipeline import schemas, settings
from pipeline.findings import Finding, Location, Report
from pipeline.packs import META_NAMES, Pack, PackError, load_pack, pack_for_template
from pipeline.rules import run_rules, sort_findings
from pipeline.safety import WorkbookRejected, verified_members
from pipeline.sandbox import run_isolated
from pipeline.submission import build_submission, file_sha256
from pipeline.workbook import RawWorkbook, UnreadableWorkbook, read_workbook


def read_raw(path: str | Path, *, isolate: bool = True) -> RawWorkbook:
    """Pre-check the zip, then parse it (in a child process unless ``isolate`` is False).

    The reader parses the bytes the pre-check verified (it does not open the file again, so the file
    cannot change between check and parse, and nothing is inflated twice).
    """
    members = verified_members(path)
    if isolate:
        return run_isolated(read_workbook, Path(path), members=members, timeout=60.0)
    return read_workbook(path, members=members)


def detect_pack(raw: RawWorkbook, program: str | None = None) -> tuple[Pack, dict[str, str]]:
    """The rule pack a workbook belongs to, from its stored template id and version."""
    tid = raw.values.get(META_NAMES["template_id"])
    version = raw.values.get(META_NAMES["template_version"])
    tid = str(tid).strip() if tid not in (None, "") else None
    version = _version_text(version)
    if tid is None:
        if program is None:
            raise UnreadableWorkbook(
                "unknown-template",
                "shinsei の様式ではありません（様式IDが見つかりません）。"
                "配布された様式に記入するか、--program で制度を指定してください",
                "not a shinsei template (no template id found): fill in the distributed template, "
                "or name the programme with --program")
        pack = _load(program)
        return pack, {"id": pack.template["id"], "version": pack.template["version"]}
    pack = _load(program) if program else pack_for_template(tid)
    if pack is None:
        raise UnreadableWorkbook("unknown-template", f"様式ID「{tid}」は未知の様式です",
                                 f"template id {tid!r} is not known to this version of shinsei")
    if pack.template["id"] != tid:
        raise UnreadableWorkbook(
            "program-mismatch",
            f"このブックの様式は「{tid}」で、指定された制度 {pack.id} の様式ではありません",
            f"this workbook is template {tid!r}, not the template of the requested programme {pack.id}")
    if version not in pack.template["accepted_versions"]:
        accepted = ", ".join(pack.template["accepted_versions"])
        if version is None:
            raise UnreadableWorkbook(
                "unknown-template-version",
                f"様式「{tid}」の版の記録が空です（様式の管理情報が消されています）。"
                f"配布された最新の様式（対応版: {accepted}）に記入し直してください",
                f"the version of template {tid!r} is empty (the template's hidden record was cleared); "
                f"copy your entries into a fresh template (supported: {accepted})")
        raise UnreadableWorkbook(
            "unknown-template-version",
            f"様式「{tid}」の版 {version} には対応していません（対応版: {accepted}）。最新の様式に記入し直してください",
            f"version {version} of template {tid!r} is not supported (supported: {accepted}); "
            "copy your entries into the current template")
    return pack, {"id": tid, "version": version or ""}


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
        raise UnreadableWorkbook("unknown-program", str(exc), str(exc)) from exc


def validate_raw(raw: RawWorkbook, program: str | None = None, *, sha256: str | None = None,
                 stage: str = "draft") -> Report:
    """Validate an already-read workbook (what the add-in and the batch pipeline call).

    ``stage="submission"`` is the pre-submission check: the draft rules plus the pack's
    ``stage: submission`` rules (the call's file-name convention and the like).
    """
    started = time.perf_counter()
    pack, template = detect_pack(raw, program)
    sub, input_findings = build_submission(raw, pack, template=template, sha256=sha256)
    findings = input_findings + run_rules(sub, pack, stage)
    findings.extend(schema_findings(sub, pack))
    return Report(file=raw.path.name, program=pack.id, template=template, findings=sort_findings(findings),
                  submission=sub, sha256=sha256, seconds=time.perf_counter() - started)


def validate_file(path: str | Path, program: str | None = None, *, isolate: bool = True,
                  stage: str = "draft") -> Report:
    """Validate one workbook file. Raises WorkbookRejected when the file cannot be read at all."""
    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise UnreadableWorkbook("file-not-found", f"ファイルがありません: {path}", f"no such file: {path}")
    sha256 = file_sha256(path)
    members = verified_members(path)
    if isolate:  # all of the file's work, not only the read: the rules and the classifier are bounded too
        _preload()
        report = run_isolated(_validate_members, path, members, program, sha256, stage,
                              timeout=settings.FILE_TIMEOUT_SECONDS, memory_bytes=settings.FILE_MEMORY_BYTES)
    else:
        report = _validate_members(path, members, program, sha256, stage)
    report.seconds = time.perf_counter() - started
    return report


def _preload() -> None:
    """Before a fork, what every validation uses and no workbook decides: the submission schema's validator
    (jsonschema-rs and its compile, ~7 ms). Neutral for one file; the children of a run over many files
    (``shinsei demo``) inherit it instead of each building it. The pack, and the classifier when the pack
    has cost lines, depend on the workbook: the child loads them."""
    schemas.fast_validator("submission")


def _validate_members(path: Path, members: Any, program: str | None, sha256: str, stage: str) -> Report:
    return validate_raw(read_workbook(path, members=members), program, sha256=sha256, stage=stage)


def schema_findings(sub: dict[str, Any], pack: Pack) -> list[Finding]:
    """Map JSON Schema violations of the submission back to findings (should be none)."""
    out = []
    for path, message in schemas.errors("submission", sub):
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

    for pack_id in pack_ids():
        pack = load_pack(pack_id)
        load_classifier(pack)
        for cached in ("lists", "_choice_index", "sheets", "tables", "fields"):
            getattr(pack, cached, None)
    schemas.fast_validator("submission")
    input_catalogue()
