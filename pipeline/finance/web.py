"""The review pages: FastAPI, server-rendered HTML (Jinja2) and a little JavaScript.

``/review`` lists the applications with status and totals (filters: programme, status, reason,
undecided only); ``/review/app/{key}`` shows one application's worklist lines with the call's clause,
the decision buttons and comment fields, its totals and its history (the audit log). Writes go through
``/review/api/*`` as JSON and through the same Ledger as the sheet import, so the same checks apply;
a write based on a line version someone else has replaced gets 409 and the other reviewer's entry.

Identity: the reviewer's name from a header set by a reverse proxy or SSO (``user_header``), or a local
login (HTTP Basic against a users file of PBKDF2 hashes). Without either nothing is served: there are
no anonymous writes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.finance.decisions import DecisionError, decisions, label, status_label, statuses
from pipeline.finance.ledger import Conflict, Ledger
from pipeline.finance.lines import vocabulary
from pipeline.ingest.store import Store

PAGES = Path(__file__).resolve().parent / "pages"
_ITERATIONS = 200_000


# ---- local login ------------------------------------------------------------------------------

def _hash(password: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS).hex()


def add_user(path: Path, name: str, password: str) -> None:
    """Add or replace a user in the users file (JSON: name -> salt and PBKDF2 hash; never the password)."""
    users = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    salt = os.urandom(16)
    users[name] = {"salt": salt.hex(), "hash": _hash(password, salt)}
    path.write_text(json.dumps(users, ensure_ascii=False, indent=1), encoding="utf-8")
    path.chmod(0o600)


def _check_basic(header: str | None, users: dict[str, Any]) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = users.get(name)
    if not user:
        return None
    ok = hmac.compare_digest(_hash(password, bytes.fromhex(user["salt"])), user["hash"])
    return name if ok else None


# ---- the app ----------------------------------------------------------------------------------

def create_app(db_url: str, *, out_dir: Path | None = None, user_header: str | None = None,
               users_file: Path | None = None) -> FastAPI:
    """The review pages over the database at ``db_url`` (an ingest's). One of the two identities is required."""
    if not user_header and not users_file:
        raise ValueError("user_header or users_file is required: no anonymous writes")
    store = Store(db_url)
    ledger = Ledger(store.engine, store.reader)
    users = json.loads(users_file.read_text(encoding="utf-8")) if users_file else {}
    env = Environment(loader=FileSystemLoader(PAGES), autoescape=select_autoescape(["html"]))
    env.globals.update(label=label, status_label=status_label, decisions=decisions, statuses=statuses,
                       vocabulary=vocabulary, yen=lambda n: "—" if n is None else f"{n:,}円",
                       qty=lambda q: "" if q is None else f"{q:,g}")
    app = FastAPI(title="shinsei review", docs_url=None, redoc_url=None, openapi_url=None)

    def reviewer(request: Request) -> str:
        if user_header:
            name = (request.headers.get(user_header) or "").strip()
        else:
            name = _check_basic(request.headers.get("authorization"), users) or ""
        if not name:
            raise HTTPException(401, "ログインが必要です / login required",
                                headers=None if user_header else {"WWW-Authenticate": 'Basic realm="shinsei review"'})
        return name

    def page(name: str, **values: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**values))

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/review")

    @app.get("/review", response_class=HTMLResponse)
    def applications(request: Request, program: str = "", status: str = "", reason: str = "",
                     undecided: str = "") -> HTMLResponse:
        who = reviewer(request)
        apps = ledger.applications()
        programs = sorted({a.program for a in apps})
        reasons = sorted({ln["reason"] or ln["code"] for a in apps for ln in a.lines if ln["reason"] or ln["code"]})
        shown = [a for a in apps
                 if (not program or a.program == program) and (not status or a.status == status)
                 and (not reason or any(reason in (ln["reason"], ln["code"]) for ln in a.lines))
                 and (not undecided or a.undecided)]
        totals = {k: sum(a.totals[k] for a in shown) for k in ("requested", "flagged", "disallowed", "allowed_total")}
        return page("applications.html", who=who, apps=shown, programs=programs, reasons=reasons,
                    f={"program": program, "status": status, "reason": reason, "undecided": undecided},
                    totals=totals, count=len(apps))

    @app.get("/review/app/{key}", response_class=HTMLResponse)
    def application(request: Request, key: str) -> HTMLResponse:
        who = reviewer(request)
        found = ledger.application(key)
        if found is None:
            raise HTTPException(404, "その申請はありません / no such application")
        log = list(ledger.log(key))
        status_seq = max((e["seq"] for e in log if e["kind"] == "status"), default=0)
        return page("application.html", who=who, app=found, log=log, status_seq=status_seq)

    @app.post("/review/api/decide")
    async def decide(request: Request) -> JSONResponse:
        who = reviewer(request)
        body = await request.json()
        try:
            entry = ledger.decide(str(body.get("line_key", "")), str(body.get("decision", "")), reviewer=who,
                                  seq=int(body.get("seq", -1)), allowed=body.get("allowed"),
                                  comment=body.get("comment"), note=body.get("note"), source="web",
                                  sha256=body.get("sha256"))
        except Conflict as exc:
            cur = exc.current or {}
            return JSONResponse({"error": str(exc), "current": {
                "reviewer": cur.get("reviewer"), "decision": label(cur["value"]) if cur.get("value") else None,
                "allowed": cur.get("allowed"), "comment": cur.get("comment"), "at": cur.get("at")}}, 409)
        except (DecisionError, KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 422)
        app_now = ledger.application(entry["submission_key"])
        return JSONResponse({"ok": True, "seq": entry["seq"], "totals": app_now.totals if app_now else {}})

    @app.post("/review/api/status")
    async def set_status(request: Request) -> JSONResponse:
        who = reviewer(request)
        body = await request.json()
        try:
            entry = ledger.set_status(str(body.get("key", "")), str(body.get("status", "")), reviewer=who,
                                      seq=int(body["seq"]) if body.get("seq") is not None else None,
                                      comment=body.get("comment"), source="web")
        except Conflict as exc:
            return JSONResponse({"error": str(exc)}, 409)
        except DecisionError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        return JSONResponse({"ok": True, "status": entry["value"]})

    app.state.ledger = ledger
    app.state.out_dir = out_dir
    return app
