"""Run xlwings Server with shinsei's scripts, task pane and manifest (``shinsei addin serve``).

xlwings Server (FastAPI) is configured by XLWINGS_* environment variables, read once when
``xlwings_server`` is first imported; ``configure`` sets them, so it must run before that
import. The project folder (``addin/server_project``) holds what xlwings Server looks for
there: ``custom_scripts``, ``custom_functions``, ``templates`` and ``static`` overrides.
``create_app`` adds shinsei's request guard (addin.limits) to xlwings' app: bad requests are
refused with a bilingual alert before any route runs.
Licence: xlwings Server and the remote interpreter are free for non-commercial use under
the PolyForm Noncommercial licence with the key ``noncommercial``; commercial users need a key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent / "server_project"
DEFAULTS = {
    "XLWINGS_LICENSE_KEY": "noncommercial",
    "XLWINGS_PROJECT_NAME": "shinsei 申請チェック",
    "XLWINGS_ENVIRONMENT": "prod",
    "XLWINGS_ENABLE_SOCKETIO": "false",      # no server push: every action answers a button
    "XLWINGS_ENABLE_HOTRELOAD": "false",
    "XLWINGS_ENABLE_EXAMPLES": "false",
    "XLWINGS_ENABLE_TESTS": "false",
    "XLWINGS_LOG_LEVEL": "WARNING",
    # xlwings reloads a task pane whose Office.js finds no host; ours shows a notice with a reload button
    "XLWINGS_TASKPANE_RELOAD_ATTEMPTS": "0",
}


def configure(**overrides: str) -> None:
    """Point xlwings Server at shinsei's project folder; keeps XLWINGS_* values already set."""
    if "xlwings_server.config" in sys.modules and overrides:
        raise RuntimeError("xlwings Server is already imported; configure() must run before it")
    os.environ["XLWINGS_PROJECT_DIR"] = str(PROJECT_DIR)
    for key, value in {**DEFAULTS, **overrides}.items():
        if key in overrides:
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)


def create_app(**overrides: str) -> Any:
    """The ASGI app (FastAPI behind xlwings' CORS middleware), for uvicorn, gunicorn or a test client."""
    configure(**overrides)
    from xlwings_server.main import app, main_app

    guard(app)
    return main_app


def guard(app: Any) -> None:
    """Put addin.limits in front of xlwings' routes (once): the middleware, and the alerts for refusals in a route.

    The guard goes first among the app's middleware (inside CORS): in front of xlwings' security-headers
    middleware, which as a BaseHTTPMiddleware starts a task group for every chunk of body read through it.
    """
    if getattr(app.state, "shinsei_guarded", False):
        return
    if app.middleware_stack is not None:
        raise RuntimeError("xlwings Server has already started; create_app() must run before it serves")
    from starlette.middleware import Middleware

    from addin import limits

    app.user_middleware.insert(0, Middleware(limits.RequestGuard))
    app.add_exception_handler(limits.Refused, limits.refused_response)
    app.state.shinsei_guarded = True


def serve(host: str = "127.0.0.1", port: int = 8000, certfile: str | None = None, keyfile: str | None = None,
          workers: int = 1, environment: str = "prod") -> None:
    """Start the server with uvicorn; HTTPS when a certificate is given (Excel requires it)."""
    import uvicorn

    configure(XLWINGS_ENVIRONMENT=environment)
    uvicorn.run("addin.server:create_app", factory=True, host=host, port=port, workers=workers,
                ssl_certfile=certfile, ssl_keyfile=keyfile, log_level="info")
