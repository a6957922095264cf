"""The run viewer's serving: its files under /ui/, and `hookrun ui`'s /api forwarder (signing, guards, errors)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrun.cli_ui import UI_HEADER, ApiForwarder, UiServer
from hookrun.local_api import ApiGateway, HttpRequest
from hookrun.ui_static import SESSION_PATH, UI_DIRECTORY, ui_answer

DEPLOYED = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"
INDEX = (UI_DIRECTORY / "index.html").read_bytes()
SESSION = {"mode": "local", "defaultUser": "admin"}


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name.lower()), None)


# The files


def test_a_deep_link_is_the_page_itself() -> None:
    answer = ui_answer("GET", "/ui/runs/run-0123?x=1", SESSION)
    assert answer.status == 200
    assert answer.body == INDEX
    assert header(answer.headers, "Content-Type") == "text/html; charset=utf-8"
    assert "script-src 'self'" in (header(answer.headers, "Content-Security-Policy") or "")


def test_assets_are_served_with_their_type() -> None:
    answer = ui_answer("GET", "/ui/assets/app.js", SESSION)
    assert answer.status == 200
    assert header(answer.headers, "Content-Type") == "text/javascript; charset=utf-8"
    assert answer.body == (UI_DIRECTORY / "assets" / "app.js").read_bytes()


def test_a_missing_asset_is_404_not_the_page() -> None:
    answer = ui_answer("GET", "/ui/assets/nothing.js", SESSION)
    assert answer.status == 404
    assert json.loads(answer.body)["code"] == "NOT_FOUND"


@pytest.mark.parametrize("target", ["/ui/%2e%2e/cli_ui.py", "/ui/../cli_ui.py", "/ui/assets/%2e%2e/%2e%2e/cli_ui.py"])
def test_no_path_reaches_outside_the_page_files(target: str) -> None:
    answer = ui_answer("GET", target, SESSION)
    assert b"ApiForwarder" not in answer.body


def test_the_session_tells_the_page_how_to_act() -> None:
    answer = ui_answer("GET", SESSION_PATH, SESSION)
    assert json.loads(answer.body) == SESSION


def test_ui_without_slash_redirects() -> None:
    answer = ui_answer("GET", "/ui", SESSION)
    assert (answer.status, header(answer.headers, "Location")) == (308, "/ui/")


def test_the_files_take_get_only() -> None:
    answer = ui_answer("POST", "/ui/", SESSION)
    assert answer.status == 405
    assert json.loads(answer.body)["code"] == "METHOD_NOT_ALLOWED"


def test_the_local_gateway_serves_the_page_at_ui() -> None:
    gateway = ApiGateway([], invoke=lambda function, event: None)
    request = HttpRequest("GET", "/ui/runs/run-0123", [("Host", "127.0.0.1:3100")], b"", "127.0.0.1")
    response = gateway.handle(request)
    assert response.status == 200
    assert response.body == INDEX
    session = gateway.handle(HttpRequest("GET", SESSION_PATH, [], b"", "127.0.0.1"))
    assert json.loads(session.body) == {"mode": "local", "defaultUser": "admin"}


# The forwarder's signature


def test_requests_to_a_deployed_stack_are_signed_and_carry_no_user_header() -> None:
    forwarder = ApiForwarder(DEPLOYED)
    prepared = forwarder.prepare("GET", "/api/pipelines/demo/runs?limit=20", {"X-Hookrun-User": "mallory"}, b"")
    authorization = prepared.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "SignedHeaders=accept;host;x-amz-date" in authorization
    assert prepared.headers["X-Amz-Date"].endswith("Z")
    assert "X-Hookrun-User" not in prepared.headers
    assert prepared.url == f"{DEPLOYED}/api/pipelines/demo/runs?limit=20"


def test_the_signature_covers_the_body() -> None:
    forwarder = ApiForwarder(DEPLOYED)
    headers = {"Content-Type": "application/json"}
    one = forwarder.prepare("POST", "/api/runs/run-1/rerun", headers, b'{"a":1}')
    other = forwarder.prepare("POST", "/api/runs/run-1/rerun", headers, b'{"a":2}')
    assert one.headers["X-Amz-Date"] == other.headers["X-Amz-Date"] or pytest.skip("the clock ticked between")
    assert one.headers["Authorization"] != other.headers["Authorization"]
    assert "content-type" in one.headers["Authorization"]


def test_a_session_token_is_sent_with_temporary_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    prepared = ApiForwarder(DEPLOYED).prepare("GET", "/api/pipelines", {}, b"")
    assert prepared.headers["X-Amz-Security-Token"] == "session-token"


def test_requests_to_the_local_stack_name_the_user_and_are_not_signed() -> None:
    prepared = ApiForwarder("http://127.0.0.1:3100").prepare("GET", "/api/pipelines", {"X-Hookrun-User": "bob"}, b"")
    assert prepared.headers["X-Hookrun-User"] == "bob"
    assert "Authorization" not in prepared.headers


def test_without_aws_credentials_the_forwarder_says_cannot_sign(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    answer = ApiForwarder(DEPLOYED).forward("GET", "/api/pipelines", {}, b"")
    body = json.loads(answer.body)
    assert (answer.status, body["code"]) == (500, "CANNOT_SIGN")
    assert "AWS credentials" in body["message"]


def _dead_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_an_api_that_does_not_answer_is_api_unreachable() -> None:
    endpoint = _dead_endpoint()
    answer = ApiForwarder(endpoint, timeout=5).forward("GET", "/api/pipelines", {}, b"")
    body = json.loads(answer.body)
    assert (answer.status, body["code"]) == (502, "API_UNREACHABLE")
    assert endpoint in body["message"]


# The server's guards


@pytest.fixture
def server() -> Iterator[UiServer]:
    ui_server = UiServer(ApiForwarder(_dead_endpoint(), timeout=5), SESSION, 0)
    yield ui_server
    ui_server.server_close()


def own(server: UiServer, **more: str) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{server.server_address[1]}", **more}


def test_the_page_is_served_to_its_own_host(server: UiServer) -> None:
    answer = server.answer("GET", "/ui/runs/run-1", own(server), b"")
    assert (answer.status, answer.body) == (200, INDEX)


def test_another_host_name_is_refused(server: UiServer) -> None:
    answer = server.answer("GET", "/ui/", {"Host": f"evil.example:{server.server_address[1]}"}, b"")
    assert (answer.status, json.loads(answer.body)["code"]) == (403, "CROSS_SITE_REQUEST")


def test_an_api_call_without_the_page_header_is_refused(server: UiServer) -> None:
    answer = server.answer("POST", "/api/runs/run-1/cancel", own(server), b"")
    assert (answer.status, json.loads(answer.body)["code"]) == (403, "CROSS_SITE_REQUEST")


def test_an_api_call_from_another_origin_is_refused(server: UiServer) -> None:
    headers = own(server, Origin="https://evil.example", **{UI_HEADER: "1"})
    answer = server.answer("POST", "/api/runs/run-1/cancel", headers, b"")
    assert (answer.status, json.loads(answer.body)["code"]) == (403, "CROSS_SITE_REQUEST")


def test_an_api_call_from_the_page_is_forwarded(server: UiServer) -> None:
    headers = own(server, Origin=f"http://127.0.0.1:{server.server_address[1]}", **{UI_HEADER: "1"})
    answer = server.answer("GET", "/api/pipelines", headers, b"")
    assert json.loads(answer.body)["code"] == "API_UNREACHABLE"  # it reached the forwarder


def test_paths_outside_ui_and_api_are_not_found(server: UiServer) -> None:
    answer = server.answer("GET", "/swagger", own(server), b"")
    assert (answer.status, json.loads(answer.body)["code"]) == (404, "NOT_FOUND")


def test_a_body_over_the_limit_is_refused_unread(server: UiServer) -> None:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        connection.putrequest("POST", "/api/pipelines")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.putheader(UI_HEADER, "1")
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["code"]) == (413, "PAYLOAD_TOO_LARGE")
        connection.close()
    finally:
        server.shutdown()
        thread.join()
