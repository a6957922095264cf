"""A local API Gateway: HTTP requests in, API Gateway REST proxy events to the functions, their answers out.

It serves the routes that template.yaml declares as `Api` events, the way `sam local start-api` does, with the
gateway's own answers where API Gateway gives them (unknown route, body too large, a failed function: 502).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from hookrun.job_gate import from_a_job
from hookrun.template import ApiRoute
from hookrun.ui_static import is_ui_path, ui_answer

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LOCAL_INFO_PATH = "/_hookrun/local"
LOCAL_UI_SESSION = {"mode": "local", "defaultUser": "admin"}  # the page picks the acting user (X-Hookrun-User)
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}

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


@dataclass(frozen=True)
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    parameters: int


def _compile(route: ApiRoute) -> _CompiledRoute:
    parts = []
    parameters = 0
    for segment in route.path.strip("/").split("/"):
        match = re.fullmatch(r"\{([A-Za-z0-9_]+)(\+?)\}", segment)
        if match:
            parameters += 1
            parts.append(f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})")
        else:
            parts.append(re.escape(segment))
    return _CompiledRoute(route, re.compile("/" + "/".join(parts)), parameters)


class RouteNotFound(LookupError):
    """No route has this path."""


class MethodNotAllowed(LookupError):
    """Routes have this path, but none this method; `allowed` lists theirs."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


class Router:
    """Matches a raw path to a route; a literal segment beats a `{param}`, as in API Gateway."""

    def __init__(self, routes: list[ApiRoute]) -> None:
        self._routes = sorted((_compile(route) for route in routes), key=lambda compiled: compiled.parameters)

    def match(self, method: str, raw_path: str) -> tuple[ApiRoute, dict[str, str]]:
        """The route and its decoded path parameters; RouteNotFound or MethodNotAllowed otherwise."""
        allowed: list[str] = []
        for compiled in self._routes:
            found = compiled.pattern.fullmatch(raw_path)
            if not found:
                continue
            if compiled.route.method in (method, "ANY"):
                return compiled.route, {name: unquote(value) for name, value in found.groupdict().items()}
            allowed.append(compiled.route.method)
        if allowed:
            raise MethodNotAllowed(sorted(set(allowed)))
        raise RouteNotFound(raw_path)


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
        except RouteNotFound:
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
            message = f"{request.method} is not allowed here; use {', '.join(exc.allowed)}."
            response = error_response(405, "METHOD_NOT_ALLOWED", message, [("Allow", ", ".join(exc.allowed))])
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
        return error_response(502, "INTERNAL_ERROR", "Internal server error")


class _BodyTooLarge(ValueError):
    """The body is over MAX_BODY_BYTES; API Gateway answers 413 without reading it."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hookrun-local-api"
    server: LocalApiServer

    def __getattr__(self, name: str) -> Any:
        # every method reaches the gateway (do_GET, do_TRACE, ...): unrouted ones get 405, never the stdlib's 501
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True  # the unread body would otherwise be taken for the next request
            message = f"The request body is larger than {MAX_BODY_BYTES} bytes, API Gateway's limit."
            self._write(error_response(413, "PAYLOAD_TOO_LARGE", message))
            return
        except ValueError:
            self.close_connection = True
            self._write(error_response(400, "BAD_REQUEST", "The request body could not be read."))
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=self._headers(),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        self._write(self.server.gateway.handle(request))

    def _headers(self) -> list[tuple[str, str]]:
        """The request's headers; a job's connection cannot name a user (hookrun/job_gate.py)."""
        headers = list(self.headers.items())
        if any(name.lower() == "x-hookrun-user" for name, _ in headers) and from_a_job(
            self.client_address, int(self.server.server_address[1])
        ):
            return [(name, value) for name, value in headers if name.lower() != "x-hookrun-user"]
        return headers

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge()
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks = bytearray()
        while size := int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16):
            if len(chunks) + size > MAX_BODY_BYTES:
                raise _BodyTooLarge()
            chunks += self.rfile.read(size)
            self.rfile.readline(1024)
        while self.rfile.readline(1024).strip():  # trailer fields, up to the blank line
            pass
        return bytes(chunks)

    def _write(self, response: HttpResponse) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", self.date_time_string())
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """ApiGateway.handle logs each request without its raw path, which may hold a webhook token."""


class LocalApiServer(ThreadingHTTPServer):
    """The HTTP server of the local API Gateway; `serve_in_background` runs it on a daemon thread."""

    daemon_threads = True
    request_queue_size = 256  # the stdlib's 5 resets bursts of concurrent webhooks, which API Gateway absorbs

    def __init__(self, gateway: ApiGateway, host: str, port: int) -> None:
        super().__init__((host, port), _RequestHandler)
        self.gateway = gateway
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_background(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="local-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
