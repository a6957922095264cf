"""The run viewer's files under /ui/: one static page (HTML, CSS, JavaScript modules in hookrun/ui/).

Both the local API Gateway and `hookrun ui` serve it through `ui_answer`. Any /ui/ path that is not a file is the
page itself, so deep links (`/ui/runs/<runId>`) survive a reload; the page routes in the browser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

UI_DIRECTORY = Path(__file__).resolve().parent / "ui"
UI_PREFIX = "/ui/"
SESSION_PATH = "/ui/session.json"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# the page loads only its own files and talks only to its own origin; ansi_up colours by style attributes
_SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]


class UiAnswer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_ui_path(target: str) -> bool:
    """True for `/ui` and everything under `/ui/`."""
    path = urlsplit(target).path
    return path == "/ui" or path.startswith(UI_PREFIX)


def _json(status: int, body: Mapping[str, Any]) -> UiAnswer:
    return UiAnswer(status, [("Content-Type", "application/json"), *_SECURITY_HEADERS], json.dumps(body).encode())


def _file(path: Path) -> UiAnswer:
    content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    return UiAnswer(200, [("Content-Type", content_type), *_SECURITY_HEADERS], path.read_bytes())


def _asset(relative: str) -> Path | None:
    """The file under UI_DIRECTORY that `relative` names, or None (never a path outside it)."""
    if not relative or relative.endswith("/"):
        return None
    candidate = (UI_DIRECTORY / relative).resolve()
    if not candidate.is_relative_to(UI_DIRECTORY) or not candidate.is_file():
        return None
    return candidate


def ui_answer(method: str, target: str, session: Mapping[str, Any]) -> UiAnswer:
    """The answer to a request for a /ui path: a file, the page, `session` as JSON at SESSION_PATH, or 405."""
    if method not in {"GET", "HEAD"}:
        return UiAnswer(
            405,
            [("Allow", "GET, HEAD"), ("Content-Type", "application/json")],
            json.dumps({"code": "METHOD_NOT_ALLOWED", "message": "The run viewer's files take GET only."}).encode(),
        )
    path = unquote(urlsplit(target).path)
    if path == "/ui":
        return UiAnswer(308, [("Location", UI_PREFIX), *_SECURITY_HEADERS], b"")
    if path == SESSION_PATH:
        return _json(200, session)
    asset = _asset(path.removeprefix(UI_PREFIX))
    if asset is not None:
        return _file(asset)
    if path.startswith(f"{UI_PREFIX}assets/") or path.startswith(f"{UI_PREFIX}vendor/"):
        return _json(404, {"code": "NOT_FOUND", "message": "The run viewer has no such file."})
    return _file(UI_DIRECTORY / "index.html")
