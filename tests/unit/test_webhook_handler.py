"""The webhook handler on fakes: every row of the contract table, mapped to HTTP."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from domain import sources
from domain.errors import Unavailable
from handlers.composition import Container, Settings
from tests.fakes import FakeRunStarter, FakeSigningSecrets, FakeStore, fake_ports
from tests.support import DEMO_TOKEN, call_webhook, load_event, using_container, webhook_event

SIGNING_SECRET = "hookrun/test/pipelines/demo/webhook-signing-secret"  # the name, not the value


class FakeContainer(Container):
    def __init__(self, store: FakeStore, runs: FakeRunStarter, signing_secrets: FakeSigningSecrets) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        self.__dict__["trigger_ports"] = fake_ports(store, runs, signing_secrets=signing_secrets)


@pytest.fixture
def signing_secrets() -> FakeSigningSecrets:
    return FakeSigningSecrets({SIGNING_SECRET: "hookrun-example-secret"})


@pytest.fixture(autouse=True)
def wiring(store: FakeStore, runs: FakeRunStarter, signing_secrets: FakeSigningSecrets) -> Iterator[None]:
    with using_container(FakeContainer(store, runs, signing_secrets)):
        yield


def test_general_webhook_is_accepted_with_defaults(runs: FakeRunStarter) -> None:
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert status == 202
    assert body["status"] == "QUEUED" and body["pipelineId"] == "demo"
    assert body["variables"]["abc"] == "123"
    assert body["statusUrl"] == f"https://abc123.execute-api.eu-west-1.amazonaws.com/v1/api/runs/{body['runId']}"
    assert runs.started[0].variables["abc"] == "123"


def test_variable_webhook_overrides_the_default(runs: FakeRunStarter) -> None:
    status, body, _ = call_webhook(load_event("webhook-variables.json"))
    assert status == 202 and body["variables"]["abc"] == "456"
    assert runs.started[0].variables["abc"] == "456"


def test_empty_body_without_content_type_runs_with_defaults(runs: FakeRunStarter) -> None:
    status, _, _ = call_webhook(webhook_event(body=None, content_type=None))
    assert status == 202


def test_base64_body_is_decoded(runs: FakeRunStarter) -> None:
    event = webhook_event(body=base64.b64encode(b'{"abc":"b64"}').decode())
    event["isBase64Encoded"] = True
    status, body, _ = call_webhook(event)
    assert status == 202 and body["variables"]["abc"] == "b64"


def test_unknown_token_is_404() -> None:
    status, body, _ = call_webhook(load_event("webhook-unknown-token.json"))
    assert (status, body["code"]) == (404, "WEBHOOK_NOT_FOUND")


def test_malformed_token_gets_the_same_answer_as_unknown() -> None:
    unknown = call_webhook(load_event("webhook-unknown-token.json"))
    malformed = call_webhook(webhook_event(token="garbage"))
    assert malformed[:2] == unknown[:2]


def test_disabled_trigger_is_403(store: FakeStore) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", enabled=False)
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"]) == (403, "WEBHOOK_DISABLED")


def test_lost_permission_is_403_naming_the_user_and_the_remedy(store: FakeStore) -> None:
    del store.grants[("demo", "alice")]
    status, body, _ = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"], body["runAs"]) == (403, "INSUFFICIENT_PERMISSIONS", "alice")
    assert "alice" in body["message"] and "enable it again" in body["message"]


def test_invalid_json_is_400() -> None:
    status, body, _ = call_webhook(load_event("webhook-invalid-json.json"))
    assert (status, body["code"]) == (400, "INVALID_JSON")


@pytest.mark.parametrize("payload", ["[1,2]", '"text"', "42", "null", '{"a":1,"a":2}', '{"a":NaN}', "[" * 100])
def test_json_that_is_not_a_plain_object_is_400(payload: str) -> None:
    status, body, _ = call_webhook(webhook_event(body=payload))
    assert (status, body["code"]) == (400, "INVALID_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(content_type: str | None) -> None:
    status, body, _ = call_webhook(webhook_event(body='{"abc":"1"}', content_type=content_type))
    assert (status, body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_json_with_charset_is_accepted() -> None:
    status, _, _ = call_webhook(webhook_event(content_type="application/json; charset=utf-8"))
    assert status == 202


def test_body_over_64_kib_is_413() -> None:
    status, body, _ = call_webhook(webhook_event(body=json.dumps({"abc": "x" * (64 * 1024)})))
    assert (status, body["code"]) == (413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("digits", ["9" * 5000, "-" + "9" * 5000])
def test_a_number_of_thousands_of_digits_is_422_out_of_range(digits: str) -> None:
    status, body, _ = call_webhook(webhook_event(body=f'{{"abc": {digits}}}'))
    assert (status, body["code"]) == (422, "INVALID_VARIABLES")
    assert body["errors"] == [{"name": "abc", "reason": "number out of range (at most 9007199254740992 in magnitude)"}]


def test_undeclared_variable_is_422_with_every_problem() -> None:
    status, body, _ = call_webhook(load_event("webhook-undeclared-variable.json"))
    assert (status, body["code"]) == (422, "INVALID_VARIABLES")
    assert body["errors"] == [{"name": "nope", "reason": "not declared by the pipeline"}]


def test_start_execution_throttled_is_503_with_retry_after(runs: FakeRunStarter) -> None:
    runs.fail_with = Unavailable()
    status, body, headers = call_webhook(load_event("webhook-general.json"))
    assert (status, body["code"]) == (503, "UNAVAILABLE")
    assert int(headers["Retry-After"]) > 0


def test_error_bodies_never_echo_the_token_or_secrets() -> None:
    for event in [load_event("webhook-unknown-token.json"), webhook_event(body='{"API_KEY": 5, "x": "s3cr3t"}')]:
        _, body, _ = call_webhook(event)
        text = json.dumps(body)
        assert event["pathParameters"]["token"] not in text
        assert "s3cr3t" not in text


def test_secret_variable_is_masked_in_the_answer() -> None:
    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t"}'))
    assert status == 202 and body["variables"]["API_KEY"] == "***"


def test_other_routes_answer_404_with_a_code() -> None:
    event = webhook_event()
    event["path"] = "/elsewhere"
    status, body, _ = call_webhook(event)
    assert (status, body["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", None),
        ("POST", "/pipeline/webhook/\x00"),
        ("POST", "/pipeline/webhook/"),
        ("POST", "/pipeline/webhook/a/b"),
    ],
    ids=["get", "nul-token", "no-token", "extra-segment"],
)
def test_anything_but_post_on_the_webhook_path_is_404_not_found(method: str, path: str | None) -> None:
    event = webhook_event()
    event["httpMethod"] = method
    event["path"] = path or event["path"]
    status, body, _ = call_webhook(event)
    assert (status, body["code"]) == (404, "NOT_FOUND")


def github_push(**header_changes: str) -> dict[str, Any]:
    """events/source-github-push.json (signed with hookrun-example-secret) with other headers."""
    event = load_event("source-github-push.json")
    event["headers"].update(header_changes)
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def test_signed_source_event_is_accepted_when_the_trigger_has_its_secret(store: FakeStore) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret=SIGNING_SECRET)
    status, body, _ = call_webhook(github_push())
    assert (status, body["triggered"]) == (202, True)


def test_wrongly_signed_source_event_is_401_invalid_signature(store: FakeStore) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret=SIGNING_SECRET)
    status, body, _ = call_webhook(github_push(**{"X-Hub-Signature-256": "sha256=" + "0" * 64}))
    assert (status, body["code"]) == (401, "INVALID_SIGNATURE")


def test_source_event_without_its_ref_is_400_invalid_source_event() -> None:
    event = github_push()
    event["body"] = json.dumps({"after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"})
    status, body, _ = call_webhook(event)
    assert (status, body["code"]) == (400, "INVALID_SOURCE_EVENT")


def test_delivery_id_over_200_characters_is_400_invalid_delivery_id() -> None:
    status, body, _ = call_webhook(github_push(**{"X-GitHub-Delivery": "d" * 201}))
    assert (status, body["code"]) == (400, "INVALID_DELIVERY_ID")


def test_idempotency_key_over_200_characters_is_400_invalid_idempotency_key() -> None:
    status, body, _ = call_webhook(webhook_event(headers={"Idempotency-Key": "k" * 201}))
    assert (status, body["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")


def test_a_token_with_a_trailing_newline_is_not_found(runs: FakeRunStarter) -> None:
    event = load_event("webhook-general.json")
    event["pathParameters"]["token"] += "\n"
    event["path"] += "\n"
    status, body, _ = call_webhook(event)
    assert (status, body["code"]) == (404, "WEBHOOK_NOT_FOUND")
    assert runs.started == []


SOURCES_PACKAGE = Path(sources.__file__).parent


def _in_sources(frame: FrameType | None) -> bool:
    return frame is not None and Path(frame.f_code.co_filename).parent == SOURCES_PACKAGE


def entries_into_sources(event: dict[str, Any]) -> tuple[int, int]:
    """The webhook's status for `event`, and how often control passed from other code into the sources package."""
    entries = 0

    def watch(frame: FrameType, kind: str, _: object) -> None:
        nonlocal entries
        if kind == "call" and _in_sources(frame) and not _in_sources(frame.f_back):
            entries += 1

    sys.setprofile(watch)
    try:
        status, _, _ = call_webhook(event)
    finally:
        sys.setprofile(None)
    return status, entries


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(github_push(), id="push"),
        pytest.param(load_event("webhook-variables.json"), id="variables body"),
        pytest.param(webhook_event(body=None, content_type=None), id="empty body"),
    ],
)
def test_a_request_enters_the_sources_package_once_on_its_way_to_start_execution(
    store: FakeStore, runs: FakeRunStarter, event: dict[str, Any]
) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret=SIGNING_SECRET)
    status, entries = entries_into_sources(event)
    assert (status, len(runs.started), entries) == (202, 1, 1)
