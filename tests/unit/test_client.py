"""HookrunClient over a fake HTTP session: what it sends (header or SigV4 signature), and how it reads answers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests

from hookrun.client import ApiError, CannotSign, HookrunClient, is_loopback, signing_region

LOCAL = "http://127.0.0.1:3000"
DEPLOYED = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
RUN_PATH = "/api/runs/run-0195f2a3b4c5d0123456789abcdef"


def canned(status: int, body: bytes, reason: str = "") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.reason = reason
    return response


@dataclass
class FakeHttp:
    """Stands in for requests.Session.send: serves queued responses, records each prepared request."""

    responses: list[requests.Response] = field(default_factory=list)
    sent: list[requests.PreparedRequest] = field(default_factory=list)

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        self.sent.append(request)
        return self.responses.pop(0)


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> FakeHttp:
    fake = FakeHttp()
    monkeypatch.setattr(requests.Session, "send", lambda self, request, **_: fake.send(request))
    return fake


def test_client_sends_the_user_header_and_only_given_params(http: FakeHttp) -> None:
    http.responses.append(canned(200, b'{"runs": []}'))
    client = HookrunClient(LOCAL + "/", "alice")
    assert client.get("/api/pipelines/demo/runs", {"limit": 5, "cursor": None}) == {"runs": []}
    (sent,) = http.sent
    assert sent.url == f"{LOCAL}/api/pipelines/demo/runs?limit=5"
    assert sent.headers["X-Hookrun-User"] == "alice"


def test_client_without_a_user_sends_no_user_header(http: FakeHttp) -> None:
    http.responses.append(canned(200, b"{}"))
    HookrunClient(LOCAL).get(RUN_PATH)
    assert "X-Hookrun-User" not in http.sent[0].headers


def test_client_sends_a_body_as_json(http: FakeHttp) -> None:
    http.responses.append(canned(200, b'{"role": "runner"}'))
    HookrunClient(LOCAL, "owen").put("/api/pipelines/demo/members/alice", {"role": "runner"})
    (sent,) = http.sent
    assert (sent.method, sent.body, sent.headers["Content-Type"]) == ("PUT", b'{"role": "runner"}', "application/json")


def test_client_reads_204_as_an_empty_object(http: FakeHttp) -> None:
    http.responses.append(canned(204, b""))
    assert HookrunClient(LOCAL).delete("/api/pipelines/demo") == {}


def test_client_tells_the_status_it_got(http: FakeHttp) -> None:
    http.responses.append(canned(201, b'{"id": "dave"}'))
    assert HookrunClient(LOCAL).send("PUT", "/api/users/dave", body={}) == (201, {"id": "dave"})


def test_client_turns_an_error_body_into_api_error(http: FakeHttp) -> None:
    http.responses.append(canned(403, b'{"code": "FORBIDDEN", "message": "Ask a pipeline owner."}'))
    with pytest.raises(ApiError) as raised:
        HookrunClient(LOCAL).get("/api/pipelines/demo/runs")
    assert (raised.value.status, raised.value.code, raised.value.message) == (403, "FORBIDDEN", "Ask a pipeline owner.")


def test_client_names_an_error_without_a_json_body_by_its_status(http: FakeHttp) -> None:
    http.responses.append(canned(502, b"<html>Bad Gateway</html>", reason="Bad Gateway"))
    with pytest.raises(ApiError) as raised:
        HookrunClient(LOCAL).get(RUN_PATH)
    assert (raised.value.code, raised.value.message) == ("HTTP_502", "Bad Gateway")


def test_client_refuses_a_success_that_is_not_a_json_object(http: FakeHttp) -> None:
    http.responses.append(canned(200, b"[1, 2]"))
    with pytest.raises(ApiError) as raised:
        HookrunClient(LOCAL).get(RUN_PATH)
    assert raised.value.code == "INVALID_RESPONSE"


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"])
def test_endpoints_on_this_machine_are_loopback(endpoint: str) -> None:
    assert is_loopback(endpoint)


@pytest.mark.parametrize("endpoint", [DEPLOYED, "https://hookrun.example.com", "http://10.0.0.1:3000"])
def test_other_endpoints_are_not_loopback(endpoint: str) -> None:
    assert not is_loopback(endpoint)


def test_deployed_request_is_signed_for_execute_api_in_the_hosts_region(http: FakeHttp) -> None:
    http.responses.append(canned(200, b"{}"))
    HookrunClient(DEPLOYED, "alice").post("/api/pipelines/demo/webhook/enable")
    authorization = http.sent[0].headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization


def test_deployed_request_does_not_name_the_user_in_a_header(http: FakeHttp) -> None:
    http.responses.append(canned(200, b"{}"))
    HookrunClient(DEPLOYED, "alice").get(RUN_PATH)
    assert "X-Hookrun-User" not in http.sent[0].headers


def test_local_request_is_not_signed(http: FakeHttp) -> None:
    http.responses.append(canned(200, b"{}"))
    HookrunClient(LOCAL, "alice").get(RUN_PATH)
    assert "Authorization" not in http.sent[0].headers


def test_custom_domain_is_signed_for_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert signing_region("https://hookrun.example.com/v1") == "ap-southeast-2"


def test_deployed_request_without_credentials_cannot_be_signed(http: FakeHttp, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CannotSign):
        HookrunClient(DEPLOYED).get(RUN_PATH)
    assert http.sent == []


def test_signature_covers_the_host_and_the_clients_own_headers_only(http: FakeHttp) -> None:
    http.responses.append(canned(200, b"{}"))
    HookrunClient(DEPLOYED).put("/api/pipelines/demo/members/bob", {"role": "runner"})
    authorization = http.sent[0].headers["Authorization"]
    assert "SignedHeaders=accept;content-type;host;x-amz-date," in authorization
