"""A local API Gateway: HTTP requests in, API Gateway REST proxy events to the functions, their answers out.

It serves the routes that template.yaml declares as `Api` events, the way `sam local start-api` does, with the
gateway's own answers where API Gateway gives them (unknown route, body too large, a failed function: 502).
werkzeug serves HTTP/1.1 and routes; what is ours is the proxy event, and the bounds a server facing any client needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import InvalidHeaderDefect, MissingHeaderBodySeparatorDefect
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from werkzeug.exceptions import ClientDisconnected, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler, select_address_family
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_input_stream

from domain.errors import ErrorCode
from hookrun.job_gate import from_a_job
from hookrun.template import ApiRoute
from hookrun.ui_static import is_ui_path, ui_answer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LOCAL_INFO_PATH = "/_hookrun/local"
LOCAL_UI_SESSION = {"mode": "local", "defaultUser": "admin"}  # the page picks the acting user (X-Hookrun-User)
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}
_LINE_BREAK = re.compile(r"[\r\n]")  # in a header it would end the answer's head early: a split response

log = logging.getLogger("local.api")


class FunctionFailed(Exception):
    """The function raised, timed out or could not be invoked; API Gateway answers 502."""


Invoke = Callable[[str, dict[str, Any]], Any]
"""Invoke the function with this logical id on this event; return its result or raise FunctionFailed."""


@dataclass(frozen=True)
class HttpRequest:
    """A request as it came off the wire: raw target (path and query), headers in order, body bytes."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class InvalidProxyResponse(ValueError):
    """The function's result is not a valid Lambda proxy response."""


def error_response(status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    """The gateway's own rejections, shaped like hookrun's: `{"code", "message"}`."""
    body = json.dumps({"code": code, "message": message}).encode()
    return HttpResponse(status, [("Content-Type", "application/json"), *(headers or [])], body)


def _rule(route: ApiRoute) -> Rule:
    """A werkzeug rule for `route`: `{name}` is one segment, `{name+}` the rest of the path (API Gateway's proxy)."""
    path = re.sub(r"\{(\w+)(\+?)\}", lambda found: f"<{'path:' if found[2] else ''}{found[1]}>", route.path)
    rule = Rule(path, endpoint=route)
    if route.method != "ANY":
        rule.methods = {route.method}  # set after: werkzeug's constructor adds HEAD to GET, API Gateway does not
    return rule


class Router:
    """Matches a raw path to a route; a literal segment beats a `{param}`, as in API Gateway."""

    def __init__(self, routes: list[ApiRoute]) -> None:
        rules = Map([_rule(route) for route in routes], merge_slashes=False, redirect_defaults=False)
        self._routes = rules.bind("local")

    def match(self, method: str, raw_path: str) -> tuple[ApiRoute, dict[str, str]]:
        """The route and its decoded path parameters; werkzeug's NotFound or MethodNotAllowed otherwise."""
        try:
            route, parameters = self._routes.match(raw_path, method)
        except RequestRedirect:  # a path werkzeug would only redirect: API Gateway has no such route
            raise NotFound() from None
        # matched on the raw path, so an encoded `/` stays inside its parameter as in API Gateway
        return route, {name: unquote(value) for name, value in parameters.items()}


def _group(pairs: list[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated names: the last value, and all values in order (None when empty)."""
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return {name: values[-1] for name, values in multi.items()}, multi


def _forwarded(headers: list[tuple[str, str]], source_ip: str, port: int) -> list[tuple[str, str]]:
    """What API Gateway adds: X-Forwarded-For (appended), -Port and -Proto (replaced); plain http locally."""
    forwarded_for = [value for name, value in headers if name.lower() == "x-forwarded-for"]
    kept = [(n, v) for n, v in headers if n.lower() not in {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}]
    return [
        *kept,
        ("X-Forwarded-For", ", ".join([*forwarded_for, source_ip])),
        ("X-Forwarded-Port", str(port)),
        ("X-Forwarded-Proto", "http"),
    ]


def _host_and_port(headers: list[tuple[str, str]]) -> tuple[str, int]:
    host = next((value for name, value in headers if name.lower() == "host"), "localhost")
    parsed = urlsplit(f"//{host}")
    try:
        port = parsed.port or 80
    except ValueError:  # a Host header with a malformed port still deserves an answer
        port = 80
    return parsed.hostname or "localhost", port


def proxy_event(
    route: ApiRoute,
    path_parameters: dict[str, str],
    request: HttpRequest,
    *,
    stage: str,
    request_time: float,
    request_id: str,
    api_id: str = "local",
    account_id: str = "123456789012",
    user_arn: str | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload format 1.0) for `request` on `route`, signed by `user_arn`.

    The path carries no stage prefix (as with a custom domain), so the functions' absolute URLs are the local ones.
    Bodies are text when they are UTF-8, otherwise base64 with `isBase64Encoded`.
    """
    split = urlsplit(request.target)
    path = unquote(split.path)
    domain_name, port = _host_and_port(request.headers)
    headers, multi_headers = _group(_forwarded(request.headers, request.source_ip, port))
    query, multi_query = _group(parse_qsl(split.query, keep_blank_values=True))
    user_agent = next((value for name, value in request.headers if name.lower() == "user-agent"), None)
    body: str | None
    try:
        body, is_base64 = (request.body.decode("utf-8") if request.body else None), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    at = datetime.fromtimestamp(request_time, UTC)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": hashlib.sha256(f"{route.method} {route.path}".encode()).hexdigest()[:6],
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": base64.b64encode(uuid.UUID(request_id).bytes[:10]).decode("ascii"),
            "requestTime": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": path,
            "accountId": account_id,
            "protocol": request.protocol,
            "stage": stage,
            "domainPrefix": domain_name.split(".", 1)[0],
            "requestTimeEpoch": round(request_time * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": user_arn,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": domain_name,
            "apiId": api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def http_response(result: Any) -> HttpResponse:
    """The HTTP answer for a Lambda proxy result; `multiValueHeaders` win over `headers` for the same name."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise InvalidProxyResponse("the function's result has no integer statusCode")
    status: int = result["statusCode"]
    if not 100 <= status <= 599:
        raise InvalidProxyResponse(f"the function answered with status {status}")
    multi: dict[str, Any] = result.get("multiValueHeaders") or {}
    single: dict[str, Any] = result.get("headers") or {}
    headers = [(name, str(value)) for name, value in single.items() if name not in multi]
    headers += [(name, str(value)) for name, values in multi.items() for value in values]
    headers = [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]
    if any(_LINE_BREAK.search(name + value) for name, value in headers):
        raise InvalidProxyResponse("a header of the function's answer holds a line break")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    text = result.get("body") or ""
    if not isinstance(text, str):
        raise InvalidProxyResponse("the function's body is not a string")
    try:
        body = base64.b64decode(text, validate=True) if result.get("isBase64Encoded") else text.encode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidProxyResponse("the function's body is marked base64 but is not") from None
    return HttpResponse(status, headers, body)


class ApiGateway:
    """Routes requests to the functions through `invoke`, and answers for the gateway where API Gateway would.

    `GET /_hookrun/local` answers `local_info()`: how tools (`hookrun invoke`) find the stack behind this gateway.
    """

    def __init__(
        self,
        routes: list[ApiRoute],
        invoke: Invoke,
        local_info: Callable[[], Mapping[str, Any]] = dict,
        stage: str = "local",
        signer: Callable[[str | None], str | None] | None = None,
    ) -> None:
        self._router = Router(routes)
        # a 404 names the known routes, never the requested path: it may hold a webhook token
        self._known_routes = ", ".join(f"{route.method} {route.path}" for route in routes)
        self._invoke = invoke
        self._local_info = local_info
        self._stage = stage
        self._signer = signer  # plays AWS_IAM: the principal an `X-Hookrun-User` header signs as

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request: the function's response, or the gateway's 404, 405 or 502."""
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        raw_path = urlsplit(request.target).path
        resource = "(no route)"
        try:
            route, parameters = self._router.match(request.method, raw_path)
        except NotFound:
            if (request.method, raw_path) == ("GET", LOCAL_INFO_PATH):
                resource = LOCAL_INFO_PATH
                response = HttpResponse(
                    200, [("Content-Type", "application/json")], json.dumps(self._local_info()).encode()
                )
            elif is_ui_path(request.target):
                resource = "/ui/"
                response = HttpResponse(*ui_answer(request.method, request.target, LOCAL_UI_SESSION))
            else:
                response = error_response(
                    404, "NOT_FOUND", f"No route matches this path; the routes are {self._known_routes}."
                )
        except MethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or [])
            message = f"{request.method} is not allowed here; use {', '.join(allowed)}."
            response = error_response(405, "METHOD_NOT_ALLOWED", message, [("Allow", ", ".join(allowed))])
        else:
            resource = route.path
            event = proxy_event(
                route,
                parameters,
                request,
                stage=self._stage,
                request_time=time.time(),
                request_id=request_id,
                user_arn=self._user_arn(route, request),
            )
            response = self._call(route.function, event)
        response.headers.append(("x-amzn-RequestId", request_id))
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info("%s %s -> %d (%.0f ms)", request.method, resource, response.status, elapsed_ms)
        return response

    def _user_arn(self, route: ApiRoute, request: HttpRequest) -> str | None:
        if not route.iam or self._signer is None:
            return None
        return self._signer(next((v for n, v in request.headers if n.lower() == "x-hookrun-user"), None))

    def _call(self, function: str, event: dict[str, Any]) -> HttpResponse:
        try:
            return http_response(self._invoke(function, event))
        except (FunctionFailed, InvalidProxyResponse) as exc:
            log.error("%s failed: %s", function, exc)
        except Exception:
            log.exception("%s could not be invoked", function)
        failed = ErrorCode.INTERNAL_ERROR
        return error_response(failed.status, failed.name, failed.message)


_HEADER_LINE_DEFECTS = (MissingHeaderBodySeparatorDefect, InvalidHeaderDefect)  # a line that is no `name: value`


def _request_line_problem(target: str, version: str) -> str | None:
    """Why a request line that http.server accepted cannot be served (HTTP/0.9, a target that is no URL), or None."""
    if version == "HTTP/0.9":
        return "HTTP/0.9 is not served. Send an HTTP/1.1 request."
    try:
        urlsplit(target)
    except ValueError:
        return "The request target is not a URL. Send a path, or an absolute http URL."
    return None


def _framing_problem(headers: Message, version: str) -> str | None:
    """Why the request's framing is ambiguous (RFC 9112 sections 5 and 6), or None: nothing can be smuggled."""
    if any(isinstance(defect, _HEADER_LINE_DEFECTS) for defect in headers.defects) or "\n" in "".join(headers.values()):
        return "A header line is malformed (no colon, a space before it, or a folded line). Send one header per line."
    lengths, codings = headers.get_all("Content-Length", []), headers.get_all("Transfer-Encoding", [])
    if codings and (lengths or version == "HTTP/1.0"):
        return "Transfer-Encoding goes with HTTP/1.1 and without Content-Length. Send one of them."
    if codings and [coding.strip().lower() for coding in codings] != ["chunked"]:
        return "The only transfer coding served is one 'Transfer-Encoding: chunked'. Send that or Content-Length."
    if len(lengths) > 1 or (lengths and not re.fullmatch(r"[0-9]+", lengths[0].strip())):
        return "Content-Length must be given once, in decimal digits. Send one."
    return None


_CLOSE = ("Connection", "close")
RAW_HEADERS = "hookrun.headers"  # the request's headers as sent: WSGI's HTTP_* keys lose their case, order and repeats


class GatewayApp:
    """The local API Gateway as a WSGI application: the body read whole (or nothing runs), then `ApiGateway.handle`."""

    def __init__(self, gateway: ApiGateway) -> None:
        self.gateway = gateway

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        response = self._answer(environ)
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {HTTP_STATUS_CODES.get(response.status, '')}", headers)
        return [response.body]

    def _answer(self, environ: WSGIEnvironment) -> HttpResponse:
        try:
            body = get_input_stream(environ, max_content_length=MAX_BODY_BYTES).read()
        except RequestEntityTooLarge:  # not read: the rest of it would be taken for the next request
            message = f"The request body is larger than {MAX_BODY_BYTES} bytes, API Gateway's limit."
            return error_response(413, "PAYLOAD_TOO_LARGE", message, [_CLOSE])
        except ClientDisconnected:  # cut short, timed out or badly chunked: a body that did not arrive whole never runs
            return error_response(400, "BAD_REQUEST", "The request body did not arrive whole; nothing ran.", [_CLOSE])
        client = (environ["REMOTE_ADDR"], int(environ["REMOTE_PORT"]))
        headers: list[tuple[str, str]] = environ[RAW_HEADERS]
        if any(name.lower() == "x-hookrun-user" for name, _ in headers) and from_a_job(
            client, int(environ["SERVER_PORT"])
        ):  # a job's connection cannot name a user (hookrun/job_gate.py)
            headers = [(name, value) for name, value in headers if name.lower() != "x-hookrun-user"]
        request = HttpRequest(
            method=environ["REQUEST_METHOD"],
            target=environ["RAW_URI"],
            headers=headers,
            body=body,
            source_ip=client[0],
            protocol=environ["SERVER_PROTOCOL"],
        )
        return self.gateway.handle(request)


class _TimedReads(socket.SocketIO):
    """Socket reads that wait `idle` seconds for a request to begin, then end at its deadline `whole` seconds on."""

    def __init__(self, connection: socket.socket, idle: float, whole: float) -> None:
        super().__init__(connection, "rb")
        self._connection, self._idle, self._whole = connection, idle, whole
        self.deadline: float | None = None  # None while waiting for a request

    def readinto(self, buffer: Any) -> int | None:
        waiting = self.deadline is None
        left = self._idle if self.deadline is None else self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive whole in time")
        self._connection.settimeout(left)
        count = super().readinto(buffer)
        if waiting:
            self.deadline = time.monotonic() + self._whole
        return count


# http.server's own refusals of a request head (any other status it picks is a 400)
_HEAD_ERRORS = {
    error.status: error
    for error in (ErrorCode.URI_TOO_LONG, ErrorCode.HEADERS_TOO_LARGE, ErrorCode.HTTP_VERSION_NOT_SUPPORTED)
}


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, with what a server facing any client needs and its dev server leaves out.

    Bounded reads (`_TimedReads`), framing checks before the body is read, JSON for every refusal, and one write per
    answer: werkzeug's `run_wsgi` ends each connection (Connection: close) and lingers on it, our answers are whole.
    """

    server: LocalApiServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket stays open; its reads go through deadlines instead
        self._reads = _TimedReads(self.connection, self.server.idle_seconds, self.server.request_seconds)
        self.rfile = io.BufferedReader(self._reads)

    def handle_one_request(self) -> None:
        self._reads.deadline = None
        super().handle_one_request()

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ

    def run_wsgi(self) -> None:
        version = self.request_version
        problem = _request_line_problem(self.path, version) or _framing_problem(self.headers, version)
        if problem:
            self._refuse(ErrorCode.BAD_REQUEST, problem)
            return
        response = Response.from_app(self.server.app, self.make_environ(), buffered=True)
        self._write(response.status_code, response.headers.to_wsgi_list(), response.get_data())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's refusals of a request head, as `{code, message}` without its HTML page or the raw input."""
        error = _HEAD_ERRORS.get(code, ErrorCode.BAD_REQUEST)
        self._refuse(error, error.message)

    def _refuse(self, error: ErrorCode, message: str) -> None:
        self.close_connection = True
        answer = error_response(error.status, error.name, message)
        self._write(answer.status, answer.headers, answer.body)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """The answer in one write: a head and a body sent apart wait out delayed ACKs on a kept-alive connection."""
        if any(name.lower() == "connection" and value.lower() == "close" for name, value in headers):
            self.close_connection = True
        headers = [(name, value) for name, value in headers if name.lower() not in {"connection", "content-length"}]
        headers.append(("Content-Length", str(len(body))))
        if self.close_connection:
            headers.append(_CLOSE)
        lines = [f"HTTP/1.1 {status} {HTTP_STATUS_CODES.get(status, '')}", f"Date: {self.date_time_string()}"]
        lines += [f"{name}: {value}" for name, value in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.connection.settimeout(self.server.idle_seconds)  # a client that reads nothing is let go
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def log(self, type: str, message: str, *args: Any) -> None:
        """ApiGateway.handle logs each request without its raw path, which may hold a webhook token."""


class LocalApiServer(ThreadedWSGIServer):
    """The HTTP server of the local API Gateway; `serve_in_background` runs it on a daemon thread.

    A connection waits `idle_seconds` for a request to begin (the first, or the next one kept alive), and a request
    must arrive whole within `request_seconds`; otherwise the connection is closed and nothing runs.
    """

    request_queue_size = 256  # a burst of concurrent webhooks is absorbed, as API Gateway does
    idle_seconds = 5.0
    request_seconds = 30.0

    def __init__(self, gateway: ApiGateway, host: str, port: int) -> None:
        # bound here, so that a taken port raises OSError: werkzeug's own bind would exit the process
        family = select_address_family(host, port)
        with socket.create_server((host, port), family=family, backlog=self.request_queue_size) as listening:
            super().__init__(host, port, GatewayApp(gateway), handler=_RequestHandler, fd=listening.fileno())
        self.gateway = gateway
        self._thread: threading.Thread | None = None

    def serve_in_background(self) -> None:
        # polled often, so that stop() returns at once: werkzeug's default keeps it waiting half a second
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="local-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
