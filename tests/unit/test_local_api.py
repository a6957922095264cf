"""The local API Gateway: HTTP requests to API Gateway proxy events, function results back to HTTP."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.exceptions import MethodNotAllowed, NotFound

from domain.errors import ErrorCode
from hookrun.local_api import (
    LOCAL_INFO_PATH,
    MAX_BODY_BYTES,
    ApiGateway,
    FunctionFailed,
    HttpRequest,
    InvalidProxyResponse,
    LocalApiServer,
    Router,
    http_response,
    proxy_event,
)
from hookrun.template import ApiRoute
from tests.support import load_event

WEBHOOK = ApiRoute(function="WebhookFunction", path="/pipeline/webhook/{token}", method="POST")
GET_RUN = ApiRoute(function="ApiFunction", path="/api/runs/{runId}", method="GET")
LATEST_RUN = ApiRoute(function="ApiFunction", path="/api/runs/latest", method="GET")
ROUTES = [WEBHOOK, GET_RUN, LATEST_RUN]


def request(
    target: str = "/pipeline/webhook/hr_abc",
    method: str = "POST",
    body: bytes = b"{}",
    headers: list[tuple[str, str]] | None = None,
) -> HttpRequest:
    default_headers = [("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8.5.0"), ("Content-Type", "application/json")]
    return HttpRequest(method, target, default_headers if headers is None else headers, body, "127.0.0.1")


def event_for(http: HttpRequest, route: ApiRoute = WEBHOOK, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    return proxy_event(
        route,
        {"token": "hr_abc"} if parameters is None else parameters,
        http,
        stage="local",
        request_time=1795791600.123,
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    )


def test_proxy_event_has_every_field_of_a_real_api_gateway_event() -> None:
    real = load_event("webhook-general.json")

    event = event_for(request())

    assert set(event) == set(real)
    assert set(event["requestContext"]) >= set(real["requestContext"])
    assert set(event["requestContext"]["identity"]) >= set(real["requestContext"]["identity"])


def test_proxy_event_names_the_route_path_parameters_and_local_stage() -> None:
    event = event_for(request())

    assert event["resource"] == "/pipeline/webhook/{token}"
    assert event["path"] == "/pipeline/webhook/hr_abc"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"token": "hr_abc"}
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["resourcePath"] == "/pipeline/webhook/{token}"
    assert context["path"] == "/pipeline/webhook/hr_abc"
    assert context["stage"] == "local"
    assert context["httpMethod"] == "POST"
    assert context["requestId"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert context["requestTimeEpoch"] == 1795791600123
    assert context["requestTime"] == "27/Nov/2026:15:00:00 +0000"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "curl/8.5.0"
    assert context["domainName"] == "127.0.0.1"


def test_proxy_event_keeps_repeated_headers_and_query_parameters_in_both_views() -> None:
    headers = [("Host", "localhost:3000"), ("X-Tag", "a"), ("X-Tag", "b")]

    event = event_for(request(target="/pipeline/webhook/hr_abc?x=1&x=2&empty", headers=headers))

    assert event["headers"]["X-Tag"] == "b"
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["queryStringParameters"] == {"x": "2", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "empty": [""]}


def test_proxy_event_without_query_has_null_query_parameters() -> None:
    event = event_for(request())

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None


def test_proxy_event_adds_forwarded_headers_as_api_gateway_does_over_plain_http() -> None:
    headers = [("Host", "127.0.0.1:3000"), ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]

    event = event_for(request(headers=headers))

    assert event["headers"]["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-Port"] == "3000"


def test_proxy_event_carries_a_utf8_body_as_text() -> None:
    event = event_for(request(body='{"abc":"ä"}'.encode()))

    assert event["body"] == '{"abc":"ä"}'
    assert event["isBase64Encoded"] is False


def test_proxy_event_carries_a_binary_body_as_base64() -> None:
    event = event_for(request(body=b"\xff\xfe{}"))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe{}"


def test_proxy_event_of_an_empty_body_has_a_null_body() -> None:
    event = event_for(request(method="GET", body=b""))

    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_router_prefers_a_literal_segment_to_a_parameter() -> None:
    router = Router(ROUTES)

    assert router.match("GET", "/api/runs/latest") == (LATEST_RUN, {})
    assert router.match("GET", "/api/runs/run-1") == (GET_RUN, {"runId": "run-1"})


def test_router_decodes_path_parameters() -> None:
    assert Router(ROUTES).match("GET", "/api/runs/a%20b") == (GET_RUN, {"runId": "a b"})


def test_router_says_which_methods_a_known_path_allows() -> None:
    with pytest.raises(MethodNotAllowed) as raised:
        Router(ROUTES).match("GET", "/pipeline/webhook/hr_abc")

    assert raised.value.valid_methods == ["POST"]


def test_router_does_not_find_an_unknown_path_or_a_longer_one() -> None:
    router = Router(ROUTES)

    for path in ("/pipeline/hooks/x", "/pipeline/webhook/a/b", "/pipeline/webhook/"):
        with pytest.raises(NotFound):
            router.match("POST", path)


def test_router_does_not_find_a_path_that_werkzeug_would_redirect_to_its_trailing_slash() -> None:
    with pytest.raises(NotFound):
        Router([ApiRoute(function="F", path="/files/", method="GET")]).match("GET", "/files")


def test_router_does_not_route_head_to_a_get_route() -> None:
    with pytest.raises(MethodNotAllowed) as raised:
        Router(ROUTES).match("HEAD", "/api/runs/run-1")

    assert raised.value.valid_methods == ["GET"]


def test_router_matches_any_method_and_greedy_parameters() -> None:
    proxy = ApiRoute(function="F", path="/files/{path+}", method="ANY")

    assert Router([proxy]).match("DELETE", "/files/a/b.txt") == (proxy, {"path": "a/b.txt"})


def test_http_response_merges_headers_with_multi_value_headers_winning() -> None:
    result = {
        "statusCode": 202,
        "headers": {"X-One": "1", "X-Two": "single"},
        "multiValueHeaders": {"X-Two": ["a", "b"], "Content-Type": ["application/json"]},
        "body": "{}",
    }

    response = http_response(result)

    assert response.status == 202
    assert response.headers == [("X-One", "1"), ("X-Two", "a"), ("X-Two", "b"), ("Content-Type", "application/json")]
    assert response.body == b"{}"


def test_http_response_decodes_a_base64_body() -> None:
    body = base64.b64encode(b"\x00\x01").decode()

    response = http_response({"statusCode": 200, "body": body, "isBase64Encoded": True})

    assert response.body == b"\x00\x01"


def test_http_response_drops_hop_by_hop_headers_and_defaults_to_json() -> None:
    response = http_response({"statusCode": 204, "headers": {"Content-Length": "99", "Connection": "keep-alive"}})

    assert response.headers == [("Content-Type", "application/json")]
    assert response.body == b""


@pytest.mark.parametrize(
    "result",
    [
        None,
        "ok",
        {"body": "{}"},
        {"statusCode": "200"},
        {"statusCode": 700},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 200, "headers": {"X-Split": "a\r\nSet-Cookie: x=1"}},
    ],
)
def test_http_response_rejects_what_is_not_a_proxy_response(result: Any) -> None:
    with pytest.raises(InvalidProxyResponse):
        http_response(result)


class FakeFunctions:
    """Functions by logical id that record their events and answer with a canned result or failure."""

    def __init__(self, result: Any = None, failure: Exception | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.result = result if result is not None else {"statusCode": 202, "body": '{"ok":true}'}
        self.failure = failure

    def __call__(self, function: str, event: dict[str, Any]) -> Any:
        self.events.append((function, event))
        if self.failure:
            raise self.failure
        return self.result


def test_gateway_invokes_the_routes_function_with_the_proxy_event() -> None:
    functions = FakeFunctions()

    response = ApiGateway(ROUTES, functions).handle(request())

    assert response.status == 202
    assert response.body == b'{"ok":true}'
    ((function, event),) = functions.events
    assert function == "WebhookFunction"
    assert event["pathParameters"] == {"token": "hr_abc"}


def test_gateway_signs_an_iam_route_with_the_principal_of_the_user_header_as_aws_iam_would() -> None:
    functions = FakeFunctions()
    signed = ApiRoute("ApiFunction", "/api/runs/{runId}", "GET", iam=True)
    gateway = ApiGateway([WEBHOOK, signed], functions, signer=lambda user: f"arn:of:{user}")

    gateway.handle(request("/api/runs/run-1", "GET", b"", [("X-Hookrun-User", "bob")]))
    gateway.handle(request(headers=[("X-Hookrun-User", "bob")]))

    assert [event["requestContext"]["identity"]["userArn"] for _, event in functions.events] == ["arn:of:bob", None]


def test_gateway_answers_502_when_the_function_fails() -> None:
    response = ApiGateway(ROUTES, FakeFunctions(failure=FunctionFailed("boom"))).handle(request())

    assert response.status == 502
    assert json.loads(response.body) == {"code": "INTERNAL_ERROR", "message": ErrorCode.INTERNAL_ERROR.message}


def test_gateway_answers_502_when_the_function_answers_nonsense() -> None:
    response = ApiGateway(ROUTES, FakeFunctions(result="nonsense")).handle(request())

    assert response.status == 502


def test_gateway_answers_404_and_405_itself() -> None:
    gateway = ApiGateway(ROUTES, FakeFunctions())

    not_found = gateway.handle(request(target="/nope"))
    not_allowed = gateway.handle(request(method="PUT"))

    assert (not_found.status, json.loads(not_found.body)["code"]) == (404, "NOT_FOUND")
    assert (not_allowed.status, json.loads(not_allowed.body)["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert ("Allow", "POST") in not_allowed.headers


def test_gateway_404_names_the_routes_but_never_echoes_the_path() -> None:
    response = ApiGateway(ROUTES, FakeFunctions()).handle(request(target="/pipeline/webhooks/hr_secretToken"))

    assert response.status == 404
    assert b"hr_secretToken" not in response.body
    assert b"POST /pipeline/webhook/{token}" in response.body


def test_gateway_describes_the_local_stack_at_its_info_path() -> None:
    gateway = ApiGateway(ROUTES, FakeFunctions(), local_info=lambda: {"motoEndpoint": "http://127.0.0.1:5000"})

    response = gateway.handle(request(target=LOCAL_INFO_PATH, method="GET", body=b""))

    assert json.loads(response.body) == {"motoEndpoint": "http://127.0.0.1:5000"}


@pytest.fixture
def served() -> Iterator[tuple[str, FakeFunctions]]:
    functions = FakeFunctions()
    server = LocalApiServer(ApiGateway(ROUTES, functions), "127.0.0.1", 0)
    server.serve_in_background()
    yield f"http://127.0.0.1:{server.port}", functions
    server.stop()


def test_server_round_trips_a_request_over_http(served: tuple[str, FakeFunctions]) -> None:
    endpoint, functions = served

    response = requests.post(f"{endpoint}/pipeline/webhook/hr_abc?x=1", data=b'{"abc":"456"}', timeout=10)

    assert response.status_code == 202
    assert response.json() == {"ok": True}
    assert response.headers["x-amzn-RequestId"]
    ((_, event),) = functions.events
    assert event["body"] == '{"abc":"456"}'
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["headers"]["Host"] == endpoint.removeprefix("http://")


def test_server_reads_a_chunked_body(served: tuple[str, FakeFunctions]) -> None:
    endpoint, functions = served

    response = requests.post(f"{endpoint}/pipeline/webhook/hr_abc", data=iter([b'{"abc":', b'"456"}']), timeout=10)

    assert response.status_code == 202
    assert functions.events[0][1]["body"] == '{"abc":"456"}'


def test_server_refuses_a_body_over_10_mb_with_413_without_reading_it(served: tuple[str, FakeFunctions]) -> None:
    endpoint, functions = served
    host, port = endpoint.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port)), timeout=10) as connection:
        head = f"POST /pipeline/webhook/hr_abc HTTP/1.1\r\nHost: {host}\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
        connection.sendall(head.encode())
        answer = connection.makefile("rb").read().decode()

    assert answer.startswith("HTTP/1.1 413 ")
    assert '"PAYLOAD_TOO_LARGE"' in answer
    assert functions.events == []


def test_proxy_event_survives_a_malformed_host_header() -> None:
    event = event_for(request(headers=[("Host", "example.test:port")]))

    assert event["requestContext"]["domainName"] == "example.test"
    assert event["headers"]["X-Forwarded-Port"] == "80"


def test_the_cli_imports_the_gateway_and_its_werkzeug_only_for_the_commands_that_use_them() -> None:
    code = "import sys, hookrun.cli; print(sorted(m for m in ('hookrun.local_api', 'werkzeug') if m in sys.modules))"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.strip() == "[]"


def test_server_on_a_taken_port_raises_oserror_for_the_stack_to_explain() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(OSError):
        LocalApiServer(ApiGateway(ROUTES, FakeFunctions()), "127.0.0.1", taken.getsockname()[1])
