"""`hookrun ui`: the run viewer on 127.0.0.1, its /api calls forwarded to a stack, SigV4-signed when it is deployed.

The deployed API stays behind AWS_IAM: the page's calls reach it signed with the user's own AWS credentials, as the
CLI's are (`hookrun.client.sign_request`). Only the page may use the forwarder: a request must carry the
X-Hookrun-Ui header (which a cross-site page cannot send without a CORS preflight this server never allows) and name
this server in Host (no DNS rebinding), so no other web page can make it sign for them.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any
from urllib.parse import urlsplit

import requests
import typer

from hookrun.cli_common import (
    DEFAULT_ENDPOINT,
    EXIT_USAGE_OR_CONNECTION,
    EndpointOption,
    StackOption,
    console,
    fail_plainly,
    stack_endpoint,
)
from hookrun.client import USER_HEADER, CannotSign, is_loopback, sign_request
from hookrun.ui_static import UiAnswer, is_ui_path, ui_answer

UI_HEADER = "X-Hookrun-Ui"
DEFAULT_PORT = 3300
FORWARD_TIMEOUT_SECONDS = 30.0
MAX_FORWARDED_BODY_BYTES = 1024 * 1024
_FORWARDED_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})


def _error(status: int, code: str, message: str) -> UiAnswer:
    body = json.dumps({"code": code, "message": message}).encode()
    return UiAnswer(status, [("Content-Type", "application/json")], body)


@dataclass
class ApiForwarder:
    """Sends the page's /api requests to `endpoint`: signed unless it is on this machine, where the user is a header."""

    endpoint: str
    timeout: float = FORWARD_TIMEOUT_SECONDS
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        self.endpoint = self.endpoint.rstrip("/")

    @property
    def signed(self) -> bool:
        return not is_loopback(self.endpoint)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def prepare(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> requests.PreparedRequest:
        """The request to send upstream: only the headers the API reads, signed for a deployed stack."""
        sent = {"Accept": "application/json"}
        if body:
            sent["Content-Type"] = headers.get("Content-Type") or "application/json"
        user = headers.get(USER_HEADER)
        if user and not self.signed:
            sent[USER_HEADER] = user
        prepared = self._session().prepare_request(
            requests.Request(method, self.endpoint + target, data=body or None, headers=sent)
        )
        if self.signed:
            sign_request(prepared, sent, self.endpoint)
        return prepared

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> UiAnswer:
        """The API's answer to the page's request, or the forwarder's own error (CANNOT_SIGN, API_UNREACHABLE)."""
        try:
            prepared = self.prepare(method, target, headers, body)
        except CannotSign as exc:
            return _error(500, "CANNOT_SIGN", f"{exc}. Then restart `hookrun ui`.")
        try:
            response = self._session().send(prepared, timeout=self.timeout, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout):
            return _error(502, "API_UNREACHABLE", f"The hookrun API at {self.endpoint} does not answer.")
        answer_headers = [("Content-Type", response.headers.get("Content-Type", "application/json"))]
        if "Retry-After" in response.headers:
            answer_headers.append(("Retry-After", response.headers["Retry-After"]))
        return UiAnswer(response.status_code, answer_headers, response.content)


class _UiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hookrun-ui"
    server: UiServer

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_FORWARDED_BODY_BYTES:
            self.close_connection = True
            self._write(_error(413, "PAYLOAD_TOO_LARGE", f"The body is over {MAX_FORWARDED_BODY_BYTES} bytes."))
            return
        body = self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        self._write(self.server.answer(self.command, self.path, headers, body))

    def _write(self, answer: UiAnswer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the paths are the user's own, and the terminal shows the URL to open."""


class UiServer(ThreadingHTTPServer):
    """The run viewer's files and the /api forwarder on one port of 127.0.0.1."""

    daemon_threads = True

    def __init__(self, forwarder: ApiForwarder, session: Mapping[str, Any], port: int) -> None:
        super().__init__(("127.0.0.1", port), _UiRequestHandler)
        self.forwarder = forwarder
        self.session = dict(session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ui/"

    def _is_own(self, headers: Mapping[str, str]) -> bool:
        port = self.server_address[1]
        own = {f"127.0.0.1:{port}", f"localhost:{port}"}
        origin = headers.get("Origin")
        return headers.get("Host") in own and (origin is None or urlsplit(origin).netloc in own)

    def answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> UiAnswer:
        """A /ui file, a forwarded /api call from the page, or an error with its code."""
        if not self._is_own(headers):
            return _error(403, "CROSS_SITE_REQUEST", "Open the run viewer at the URL `hookrun ui` printed.")
        if is_ui_path(target):
            return ui_answer(method, target, self.session)
        if not urlsplit(target).path.startswith("/api/"):
            return _error(404, "NOT_FOUND", "The run viewer is at /ui/; it forwards /api/ calls only.")
        if headers.get(UI_HEADER) != "1":
            return _error(403, "CROSS_SITE_REQUEST", f"Only the run viewer's page may call /api here ({UI_HEADER}).")
        if method not in _FORWARDED_METHODS:
            return _error(405, "METHOD_NOT_ALLOWED", f"{method} is not forwarded.")
        return self.forwarder.forward(method, target, headers, body)


def ui(
    endpoint: EndpointOption = DEFAULT_ENDPOINT,
    stack: StackOption = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="HOOKRUN_USER",
            help="Local stack: the page's first acting user (else admin). Deployed: the hookrun user your AWS "
            "credentials map to, so the page shows cancel and re-run only if you may use them.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = DEFAULT_PORT,
) -> None:
    """Serve the run viewer on 127.0.0.1 and forward its API calls, signed with your AWS credentials on AWS."""
    forwarder = ApiForwarder(stack_endpoint(stack) if stack else endpoint)
    session = {
        "mode": "signed" if forwarder.signed else "local",
        "defaultUser": user if forwarder.signed else (user or "admin"),
        "api": forwarder.endpoint,
    }
    try:
        server = UiServer(forwarder, session, port)
    except OSError as exc:
        fail_plainly(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}). Pick another with --port.",
            code=EXIT_USAGE_OR_CONNECTION,
        )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    thread = threading.Thread(target=server.serve_forever, name="hookrun-ui", daemon=True)
    thread.start()
    how = "signed with your AWS credentials" if forwarder.signed else "as the user picked on the page"
    console.print(f"The run viewer: {server.url} (API: {forwarder.endpoint}, {how})", markup=False)
    console.print("Ctrl-C stops it.")
    print(f"HOOKRUN_UI_URL={server.url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
