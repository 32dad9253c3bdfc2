"""The command line's one error path (issue 14), as a user meets it: real processes, real files.

Every mistake a user can make ends as one line on stderr, Japanese then English with what to do,
a documented exit code (pipeline.cli.EXIT_CODES, the README's table) and no traceback. Each case
below was a traceback or a misleading message before.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import openpyxl
import pytest

from pipeline.cli import COMMANDS, EXIT_CODES, build_parser
from pipeline.resources import schemas_dir

ROOT = Path(__file__).resolve().parent.parent
YOUTH = "nexus-ytec-youth-2025"
JAPANESE = set(range(0x3040, 0x30FF)) | set(range(0x4E00, 0x9FFF))


def shinsei(*args: str | Path | int, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def one_line(res: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """stderr is one bilingual line (Japanese, " / ", English) with the given words, and the exit code is ``code``."""
    err = res.stderr
    assert "Traceback" not in err + res.stdout, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    ja, _, en = line.partition(" / ")
    assert en and any(ord(ch) in JAPANESE for ch in ja), line            # Japanese first ...
    assert any(ch.isascii() and ch.isalpha() for ch in en), line          # ... then English
    for word in words:
        assert word in line, (word, line)
    assert res.returncode == code, (res.returncode, line)
    assert code in EXIT_CODES
    return line


@pytest.fixture
def workbook(base: Callable[[str], dict], make_workbook: Callable[..., Path]) -> Path:
    return make_workbook(YOUTH, base(YOUTH), "申請書.xlsx")


# ---- the tracebacks of issue 14, each reproduced ------------------------------------------------

def test_template_build_with_an_unknown_programme(tmp_path: Path) -> None:
    res = shinsei("template", "build", "--program", "nexus-youth", "--out", tmp_path / "t")
    line = one_line(res, 64, "nexus-youth", YOUTH, "--program", "[unknown-program]")
    assert line.count("no rule pack") == 1 and not (tmp_path / "t").exists()


def test_annotate_over_the_original_is_a_usage_error(workbook: Path) -> None:
    res = shinsei("validate", workbook, "--annotate", workbook)
    one_line(res, 64, "上書き", "overwrite", "--annotate")
    assert res.stdout == ""   # refused before any work


def test_annotate_into_a_folder_that_cannot_be_written(workbook: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    res = shinsei("validate", workbook, "--annotate", blocker / "注釈.xlsx")
    one_line(res, 73, str(blocker), "[output-folder-is-file]")
    folder = tmp_path / "a-folder.xlsx"
    folder.mkdir()
    one_line(shinsei("validate", workbook, "--annotate", folder), 73, "[output-is-folder]")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, which no one can write into")
def test_annotate_where_the_system_refuses_the_write(workbook: Path) -> None:
    """Even root cannot create a file in /proc: the OSError of the write itself becomes the one line."""
    res = shinsei("validate", workbook, "--annotate", "/proc/注釈.xlsx")
    one_line(res, 73, "/proc/注釈.xlsx", "[cannot-write]")
    assert "VALID" in res.stdout   # the report was printed before the copy failed
    exported = shinsei("export", workbook, "-o", "/proc/申請書.json")
    one_line(exported, 73, "/proc/申請書.json", "[cannot-write]")


def test_ingest_out_into_a_file_creates_nothing(workbook: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("x", encoding="utf-8")
    one_line(shinsei("ingest", workbook, "--out", blocker), 73, "[output-folder-is-file]")
    one_line(shinsei("ingest", workbook, "--out", blocker / "sub"), 73, "[output-folder-is-file]")
    assert blocker.read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_ingest_out_where_the_system_refuses(workbook: Path) -> None:
    one_line(shinsei("ingest", workbook, "--out", "/proc/shinsei-ingest"), 73, "/proc/shinsei-ingest",
             "[cannot-write]")


def test_a_closed_pipe_ends_quietly_with_141(workbook: Path) -> None:
    """``shinsei validate X | head``: the reader went away. Like cat or grep: nothing on stderr, exit 141."""
    for args in (("validate", workbook), ("validate", workbook, "--json"), ("template", "list")):
        read, write = os.pipe()
        os.close(read)   # the reader is gone before the first write: the write fails for sure
        try:
            res = subprocess.run([sys.executable, "-m", "pipeline.cli", *map(str, args)], stdout=write,
                                 stderr=subprocess.PIPE, text=True, timeout=300, cwd=ROOT)
        finally:
            os.close(write)
        assert res.returncode == 141, (args, res.stderr)
        assert res.stderr == "", (args, res.stderr)
    read, write = os.pipe()
    os.close(read)
    try:   # argparse's --help ignores a failed write itself and exits 0: quiet all the same
        res = subprocess.run([sys.executable, "-m", "pipeline.cli", "--help"], stdout=write, stderr=subprocess.PIPE,
                             text=True, timeout=300, cwd=ROOT)
    finally:
        os.close(write)
    assert res.returncode in (0, 141) and res.stderr == "", res.stderr


def test_a_missing_certificate_is_refused_before_any_banner(tmp_path: Path) -> None:
    res = shinsei("addin", "serve", "--cert", tmp_path / "missing.pem", "--key", tmp_path / "missing-key.pem")
    one_line(res, 2, "missing.pem", "mkcert", "[certificate-unreadable]")
    assert "https://" not in res.stderr and res.stdout == ""
    not_pem = tmp_path / "cert.pem"
    not_pem.write_text("not a certificate", encoding="utf-8")
    one_line(shinsei("addin", "serve", "--cert", not_pem), 2, "cert.pem", "[certificate-invalid]")
    one_line(shinsei("addin", "serve", "--key", not_pem), 64, "--cert", "[key-without-certificate]")


def test_a_taken_port_is_refused(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = shinsei("addin", "serve", "--port", port)
    one_line(res, 75, str(port), "--port", "[port-in-use]")


def test_ctrl_c_during_ingest_is_one_line_and_leaves_no_temp_file(workbook: Path, tmp_path: Path) -> None:
    """The ingest blocks reading a FIFO named like a workbook; Ctrl-C there is one line, exit 130, and
    the temporary file a killed worker left in --json-dir is gone."""
    source = tmp_path / "in"
    source.mkdir()
    fifo = source / "待ち.xlsx"
    os.mkfifo(fifo)
    out, json_dir = tmp_path / "out", tmp_path / "json"
    left = json_dir / "findings" / ".shinsei-tmp-killed.json"
    left.parent.mkdir(parents=True)
    left.write_text("{", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", fifo, "--out", out, "--json-dir",
                             json_dir, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not (out / "shinsei.db").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    res = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    one_line(res, 130, "同じコマンド", "run the same command again", "[interrupted]")
    assert not left.exists()


def test_ctrl_c_anywhere_else_is_one_line(tmp_path: Path) -> None:
    """classify waits on its standard input: Ctrl-C there goes through the same path."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "classify", "--program", YOUTH, "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        time.sleep(1.5)       # any moment after start-up gives the same answer
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    one_line(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), 130, "[interrupted]")


# ---- the misleading messages ------------------------------------------------------------------

def test_a_folder_is_not_called_a_missing_file() -> None:
    res = shinsei("validate", ROOT / "samples")
    line = one_line(res, 2, "フォルダ", "folder", "shinsei ingest", "[is-a-folder]")
    assert "no such file" not in line.lower()
    one_line(shinsei("validate", ROOT / "samples" / "nothing.xlsx"), 2, "nothing.xlsx", "[file-not-found]")


def test_a_fifo_is_not_a_file_to_validate(tmp_path: Path) -> None:
    fifo = tmp_path / "申請書.xlsx"
    os.mkfifo(fifo)
    one_line(shinsei("validate", fifo), 2, "申請書.xlsx", "[not-a-regular-file]")


def test_a_wrong_programme_is_a_usage_error_said_once(workbook: Path) -> None:
    line = one_line(shinsei("validate", workbook, "--program", "nexus-youth"), 64, "[unknown-program]")
    assert line.count("nexus-youth") == 2 and "cannot read" not in line   # once in each language
    mismatch = one_line(shinsei("validate", workbook, "--program", "india-circulation-2025"), 64,
                        "india-circulation-2025", "[program-mismatch]")
    assert "cannot read" not in mismatch


def test_ingest_of_a_source_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    one_line(shinsei("ingest", tmp_path / "nonexist", "--out", out), 2, "nonexist", "[source-not-found]")
    assert not out.exists()


def test_unknown_template_advice_fits_the_front_end(tmp_path: Path) -> None:
    """The command line may suggest --program; the ingest, which has no such option, must not."""
    plain = tmp_path / "in" / "plain.xlsx"
    plain.parent.mkdir()
    wb = openpyxl.Workbook()
    wb.active["A1"] = "氏名"
    wb.save(plain)
    cli = one_line(shinsei("validate", plain), 2, "[unknown-template]")
    assert "--program" in cli
    out = tmp_path / "out"
    res = shinsei("ingest", plain.parent, "--out", out, "--quiet")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    text = (out / "quarantine.json").read_text(encoding="utf-8")
    assert "unknown-template" in text and "--program" not in text


def test_a_programme_on_a_plain_workbook_has_no_sentinel_location(tmp_path: Path) -> None:
    plain = tmp_path / "plain.xlsx"
    openpyxl.Workbook().save(plain)
    res = shinsei("validate", plain, "--program", YOUTH, "--json")
    report = json.loads(res.stdout)
    paths = {f["location"].get("path") for f in report["findings"]}
    assert "/budget" in paths and not any(p and "1000000000" in p for p in paths), sorted(map(str, paths))
    assert "1000000000" not in shinsei("validate", plain, "--program", YOUTH).stdout


def test_an_impossible_date_is_one_finding_not_also_empty(workbook: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(workbook)
    sheet, ref = next(iter(wb.defined_names["plan_period_start"].destinations))
    cell = ref.replace("$", "")
    wb[sheet][cell] = "2026/13/01"
    bad = tmp_path / "bad-date.xlsx"
    wb.save(bad)
    report = json.loads(shinsei("validate", bad, "--json").stdout)
    at_cell = [f["code"] for f in report["findings"] if f["location"].get("cell") == cell
               and f["location"].get("sheet") == sheet]
    assert at_cell == ["input.invalid-date"], at_cell


# ---- options, usage, the console ----------------------------------------------------------------

@pytest.mark.parametrize(("args", "words"), [
    (("ingest", "x", "--out", "o", "--workers", "0"), ("--workers", "[bad-option]")),
    (("ingest", "x", "--out", "o", "--workers", "many"), ("--workers", "[bad-option]")),
    (("ingest", "x", "--out", "o", "--wait", "-1"), ("--wait", "[bad-option]")),
    (("addin", "serve", "--port", "70000"), ("--port", "[bad-option]")),
    (("validate",), ("shinsei validate --help", "[usage]")),
    (("validate", "x.xlsx", "--no-such-option"), ("--no-such-option", "shinsei validate --help", "[usage]")),
    (("no-such-command",), ("no-such-command", "[usage]")),
    ((), ("shinsei --help", "[usage]")),
    (("export",), ("[usage]",)),
])
def test_usage_errors_are_one_line_and_64(args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path) -> None:
    res = shinsei(*args, cwd=tmp_path)
    one_line(res, 64, *words)
    assert not (tmp_path / "o").exists()


def test_a_bad_database_url_is_a_usage_error(workbook: Path, tmp_path: Path) -> None:
    one_line(shinsei("ingest", workbook, "--out", tmp_path / "out", "--db", "not a url"), 64, "[database-url]")
    one_line(shinsei("export", "--db", "not a url", "--all", "-o", tmp_path / "json"), 64, "[database-url]")


def test_json_for_an_unreadable_file_is_a_findings_document(tmp_path: Path) -> None:
    schema = json.loads((schemas_dir() / "findings.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    pdf = tmp_path / "申請書.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    xls = tmp_path / "申請書.xls"
    xls.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really")
    for path, code in ((pdf, "not-the-excel-form"), (xls, "xls-file"), (broken, "corrupt-zip"),
                       (tmp_path / "nothing.xlsx", "file-not-found"), (tmp_path, "is-a-folder")):
        res = shinsei("validate", path, "--json")
        assert res.returncode == 2, (path, res.stderr)
        doc = json.loads(res.stdout)
        assert sorted(e.message for e in validator.iter_errors(doc)) == [], path
        assert doc["valid"] is False and doc["counts"]["error"] == 1
        assert doc["findings"][0]["code"] == f"file.{code}" and doc["refusal"]["code"] == code
        assert doc["refusal"]["advice_ja"] and doc["refusal"]["advice_en"]
        one_line(res, 2, f"[{code}]")


def _unexplained(parser: argparse.ArgumentParser, name: str) -> list[str]:
    """What ``parser`` (and its sub-commands) leaves without a description or a help text."""
    missing = [] if parser.description else [f"{name}: no description"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                missing += _unexplained(sub, f"{name} {sub_name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help:
            missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
    return missing


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_sub_command_explains_itself(command: str) -> None:
    """Each command and sub-action has a description, and every argument its help text (issue 14)."""
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    assert _unexplained(sub, f"shinsei {command}") == []


def test_help_lists_the_exit_codes() -> None:
    res = shinsei("--help")
    assert res.returncode == 0
    for code in EXIT_CODES:
        assert f"  {code} " in res.stdout, code


@pytest.mark.parametrize("args", [("--help",), ("ingest", "--help"), ("addin", "serve", "--help"), ("validate", "x")])
def test_a_cp932_console_gets_ascii_stand_ins_never_a_crash(args: tuple[str, ...], tmp_path: Path) -> None:
    """PYTHONIOENCODING=cp932 is a Japanese Windows console: "—" becomes "-", nothing crashes."""
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONIOENCODING": "cp932"})
    out, err = res.stdout.decode("cp932"), res.stderr.decode("cp932")   # strict: all of it is cp932
    assert "Traceback" not in out + err
    if args == ("--help",):
        assert res.returncode == 0 and "申請 shinsei - JST" in out
    if args == ("validate", "x"):
        one_line(subprocess.CompletedProcess(args, res.returncode, out, err), 2, "[file-not-found]")


def test_a_cp932_console_shows_a_report(workbook: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", workbook], capture_output=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "cp932"})
    text = res.stdout.decode("cp932")
    assert res.returncode == 0 and "検証結果" in text and "Traceback" not in res.stderr.decode("cp932")


def test_the_readme_lists_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes and errors", 1)[1].split("\n## ", 1)[0]
    listed = {int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert listed == set(EXIT_CODES)
