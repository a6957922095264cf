"""receive_webhook with source events, idempotency and the delivery log, on fakes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace

import pytest

from domain.deliveries import Outcome, run_id_for_delivery
from domain.errors import (
    BadRequest,
    HookrunError,
    IdempotencyKeyReused,
    InvalidSignature,
    Unavailable,
    WebhookDisabled,
)
from domain.models import AcceptedRun
from domain.ports import Access
from domain.sources import SourceSettings
from domain.trigger_pipeline import DryRun, Skipped, TriggerPorts, WebhookRequest, receive_webhook
from tests.fakes import FakeDeliveryLog, FakeRunStarter, FakeSigningSecrets, FakeStore, fake_ports
from tests.support import DEMO_TOKEN, SOURCE_EVENT_VARIABLES, demo_pipeline, load_event

SECRET = "hookrun-example-secret"
GITHUB_DELIVERY = "6dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11"  # events/source-github-push.json's X-GitHub-Delivery


def request_from(event_file: str, **header_changes: str | None) -> WebhookRequest:
    event = load_event(event_file)
    headers = {k: v for k, v in {**event["headers"], **header_changes}.items() if v is not None}
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    return WebhookRequest(DEMO_TOKEN, headers, body, request_id="req-1")


def delivered_twice(ports: TriggerPorts, event_file: str) -> tuple[AcceptedRun, AcceptedRun]:
    """The answers to events/<event_file> delivered, then delivered again."""
    return received_twice(ports, request_from(event_file))


def received_twice(ports: TriggerPorts, request: WebhookRequest) -> tuple[AcceptedRun, AcceptedRun]:
    """The same request received twice, both times accepted: the first answer and the second."""
    first, again = receive_webhook(ports, request), receive_webhook(ports, request)
    assert isinstance(first, AcceptedRun) and isinstance(again, AcceptedRun)
    return first, again


@pytest.fixture
def ports(store: FakeStore, runs: FakeRunStarter, deliveries: FakeDeliveryLog) -> TriggerPorts:
    return fake_ports(store, runs, deliveries, FakeSigningSecrets({"demo-secret": SECRET}))


@pytest.mark.parametrize(
    ("event_file", "expected"),
    SOURCE_EVENT_VARIABLES,
)
def test_push_and_tag_events_start_a_run_with_built_in_variables(
    ports: TriggerPorts, runs: FakeRunStarter, event_file: str, expected: dict[str, str]
) -> None:
    result = receive_webhook(ports, request_from(event_file))
    assert isinstance(result, AcceptedRun) and not result.replayed
    (run,) = runs.started
    assert expected.items() <= run.variables.items()
    assert run.variables["abc"] == "123"  # declared defaults still apply
    assert run.variables["HOOKRUN_COMMIT_SHA"] and run.trigger_kind == "source"


def test_github_ping_starts_nothing_and_says_why(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    result = receive_webhook(ports, request_from("source-github-ping.json"))
    assert isinstance(result, Skipped) and result.outcome is Outcome.IGNORED_EVENT and result.reason == "PING"
    assert runs.started == []
    assert [(d.outcome, d.reason, d.source) for d in deliveries.deliveries] == [
        (Outcome.IGNORED_EVENT, "PING", "github")
    ]


def test_branch_deletion_starts_nothing(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    result = receive_webhook(ports, request_from("source-github-branch-delete.json"))
    assert isinstance(result, Skipped) and result.reason == "BRANCH_DELETED"
    assert runs.started == []


def test_branch_filter_skips_other_branches(
    store: FakeStore, ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    store.add_pipeline(demo_pipeline(source=SourceSettings(branches=("release/*",)).model_dump(by_alias=True)))
    result = receive_webhook(ports, request_from("source-gitlab-push.json"))
    assert isinstance(result, Skipped) and (result.outcome, result.reason) == (Outcome.FILTERED, "BRANCH_FILTERED")
    assert runs.started == [] and deliveries.deliveries[-1].outcome is Outcome.FILTERED


def test_signed_event_is_accepted_when_the_trigger_has_a_secret(store: FakeStore, ports: TriggerPorts) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret="demo-secret")
    assert isinstance(receive_webhook(ports, request_from("source-github-push.json")), AcceptedRun)


@pytest.mark.parametrize(
    ("event_file", "header", "value"),
    [
        ("source-github-push.json", "X-Hub-Signature-256", "sha256=" + "0" * 64),
        ("source-github-push.json", "X-Hub-Signature-256", None),
        ("source-gitlab-push.json", "X-Gitlab-Token", "wrong"),
        ("source-gitlab-push.json", "X-Gitlab-Token", None),
        ("source-codeup-push.json", "X-Codeup-Token", "wrong"),
        ("source-gitee-push.json", "X-Gitee-Token", "wrong"),
    ],
)
def test_wrong_or_missing_signature_is_rejected_and_recorded(
    store: FakeStore,
    ports: TriggerPorts,
    runs: FakeRunStarter,
    deliveries: FakeDeliveryLog,
    event_file: str,
    header: str,
    value: str | None,
) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret="demo-secret")
    with pytest.raises(InvalidSignature):
        receive_webhook(ports, request_from(event_file, **{header: value}))
    assert runs.started == []
    assert [(d.outcome, d.reason) for d in deliveries.deliveries] == [(Outcome.REJECTED, "INVALID_SIGNATURE")]


def test_a_delivery_id_decides_the_run_id_and_a_redelivery_replays(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    first, again = delivered_twice(ports, "source-github-push.json")
    assert first.run_id == again.run_id == run_id_for_delivery("demo", GITHUB_DELIVERY)
    assert (first.replayed, again.replayed) == (False, True)
    assert len(runs.started) == 1
    assert [(d.outcome, d.run_id) for d in deliveries.deliveries] == [(Outcome.REPLAYED, first.run_id)]


def test_idempotency_key_makes_a_variable_webhook_replay(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    request = WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json", "Idempotency-Key": "k-1"}, b"{}")
    first, again = received_twice(ports, request)
    assert first.run_id == again.run_id and again.replayed and len(runs.started) == 1


def _keyed(key: str, body: bytes, token: str = DEMO_TOKEN) -> WebhookRequest:
    return WebhookRequest(token, {"Content-Type": "application/json", "Idempotency-Key": key}, body)


def test_a_reused_idempotency_key_with_another_body_is_409_naming_the_first_run_and_starts_nothing(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    first = receive_webhook(ports, _keyed("k-1", b'{"abc": "456"}'))
    with pytest.raises(IdempotencyKeyReused) as caught:
        receive_webhook(ports, _keyed("k-1", b'{"abc": "789"}'))
    assert isinstance(first, AcceptedRun)
    assert caught.value.run_id == first.run_id and first.run_id in caught.value.message
    assert [run.variables["abc"] for run in runs.started] == ["456"]
    assert [(d.outcome, d.reason, d.run_id) for d in deliveries.deliveries] == [
        (Outcome.REJECTED, "IDEMPOTENCY_KEY_REUSED", first.run_id)
    ]


def test_a_replay_answers_with_the_variables_its_run_started_with(store: FakeStore, ports: TriggerPorts) -> None:
    receive_webhook(ports, _keyed("k-1", b'{"abc": "456"}'))
    store.add_pipeline(demo_pipeline(variables={"abc": "changed", "API_KEY": {"secret": True, "required": False}}))
    again = receive_webhook(ports, _keyed("k-1", b'{"abc": "456"}'))
    assert isinstance(again, AcceptedRun) and again.replayed
    assert again.variables["abc"] == "456" and "API_KEY" not in again.variables


def test_the_same_request_with_its_json_written_otherwise_replays(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    receive_webhook(ports, _keyed("k-1", b'{"abc": "456", "RETRIES": 4}'))
    again = receive_webhook(ports, _keyed("k-1", b'{ "RETRIES":4,"abc":"456" }'))
    assert isinstance(again, AcceptedRun) and again.replayed and len(runs.started) == 1


def test_a_reused_key_keeps_the_first_runs_secret_values(
    store: FakeStore, ports: TriggerPorts, runs: FakeRunStarter
) -> None:
    receive_webhook(ports, _keyed("k-1", b'{"API_KEY": "first-secret"}'))
    with pytest.raises(IdempotencyKeyReused):
        receive_webhook(ports, _keyed("k-1", b'{"API_KEY": "second-secret"}'))
    assert store.run_secrets == {runs.started[0].run_id: {"API_KEY": "first-secret"}}


def test_the_request_digest_travels_with_the_run_and_holds_no_value(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    receive_webhook(ports, _keyed("k-1", b'{"API_KEY": "s3cr3t-value"}'))
    (run,) = runs.started
    assert run.request_digest is not None and len(run.request_digest) == 64
    assert "s3cr3t" not in run.model_dump_json()


def test_a_redelivered_push_with_its_delivery_id_still_replays(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    _, again = delivered_twice(ports, "source-gitlab-push.json")
    assert again.replayed and len(runs.started) == 1


def test_a_run_started_before_digests_were_kept_replays(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    receive_webhook(ports, _keyed("k-1", b'{"abc": "456"}'))
    runs.started[0] = runs.started[0].model_copy(update={"request_digest": None})
    again = receive_webhook(ports, _keyed("k-1", b'{"abc": "789"}'))
    assert isinstance(again, AcceptedRun) and again.replayed and again.variables["abc"] == "456"


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_idempotency_key_is_400_not_no_key(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog, value: str
) -> None:
    with pytest.raises(HookrunError) as caught:
        receive_webhook(ports, _keyed(value, b"{}"))
    assert caught.value.code == "INVALID_IDEMPOTENCY_KEY" and "empty" in caught.value.message
    assert runs.started == [] and [d.reason for d in deliveries.deliveries] == ["INVALID_IDEMPOTENCY_KEY"]


def test_variables_in_the_query_string_are_refused_by_name_not_dropped(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    request = WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, b"{}", query={"abc": "456", "b": "1"})
    with pytest.raises(BadRequest) as caught:
        receive_webhook(ports, request)
    assert caught.value.code == "UNSUPPORTED_QUERY"
    assert "'abc', 'b'" in caught.value.message and "JSON body" in caught.value.message
    assert runs.started == [] and [d.reason for d in deliveries.deliveries] == ["UNSUPPORTED_QUERY"]


def test_dry_run_stays_a_query_parameter(ports: TriggerPorts) -> None:
    request = WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, b"{}", query={"dryRun": "true"})
    assert isinstance(receive_webhook(ports, request), DryRun)


def test_a_started_run_carries_its_delivery_for_the_workflow_to_log(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    receive_webhook(ports, request_from("source-gitlab-push.json"))
    delivery = runs.started[0].delivery
    assert delivery is not None
    assert (delivery.source, delivery.event, delivery.delivery_id) == (
        "gitlab",
        "Push Hook",
        "c0ffee00-1234-4abc-8def-0123456789aa",
    )


def test_rejections_of_a_known_token_leave_a_record(
    store: FakeStore, ports: TriggerPorts, deliveries: FakeDeliveryLog
) -> None:
    with pytest.raises(BadRequest):
        receive_webhook(ports, WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, b"{broken"))
    store.enable(DEMO_TOKEN, "demo", "alice", enabled=False)
    with pytest.raises(WebhookDisabled):
        receive_webhook(ports, WebhookRequest(DEMO_TOKEN, {}, b""))
    assert [(d.outcome, d.reason) for d in deliveries.deliveries] == [
        (Outcome.REJECTED, "INVALID_JSON"),
        (Outcome.REJECTED, "WEBHOOK_DISABLED"),
    ]


def test_unknown_tokens_leave_no_record(ports: TriggerPorts, deliveries: FakeDeliveryLog) -> None:
    with pytest.raises(Exception, match="No webhook trigger"):
        receive_webhook(ports, WebhookRequest("hr_" + "x" * 43, {}, b""))
    assert deliveries.deliveries == []


def test_source_bodies_may_be_larger_than_variable_bodies(ports: TriggerPorts) -> None:
    big = b'{"abc": "' + b"x" * (70 * 1024) + b'"}'
    with pytest.raises(BadRequest) as caught:
        receive_webhook(ports, WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, big))
    assert caught.value.code == "PAYLOAD_TOO_LARGE"


def test_a_run_that_could_not_start_keeps_no_secret_values(store: FakeStore, deliveries: FakeDeliveryLog) -> None:
    runs = FakeRunStarter(fail_with=Unavailable())
    ports = fake_ports(store, runs, deliveries)
    request = WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, b'{"API_KEY": "s3cr3t"}')
    with pytest.raises(Unavailable):
        receive_webhook(ports, request)
    assert store.run_secrets == {}
    assert [(d.outcome, d.reason) for d in deliveries.deliveries] == [(Outcome.REJECTED, "UNAVAILABLE")]


# --- every record written after the delivery id is known carries it ----------------------------------------------


def _disabled(store: FakeStore) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", enabled=False)


def _lost_role(store: FakeStore) -> None:
    del store.grants[("demo", "alice")]


def _signed(store: FakeStore) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret="demo-secret")


def _required_variable(store: FakeStore) -> None:
    store.add_pipeline(demo_pipeline(variables={"NEEDED": {"type": "string", "required": True}}))


@pytest.mark.parametrize(
    ("code", "arrange", "headers", "body"),
    [
        ("WEBHOOK_DISABLED", _disabled, {}, None),
        ("INSUFFICIENT_PERMISSIONS", _lost_role, {}, None),
        ("INVALID_SIGNATURE", _signed, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, None),
        ("PAYLOAD_TOO_LARGE", None, {}, b'{"x": "' + b"y" * (5 * 1024 * 1024) + b'"}'),
        ("UNSUPPORTED_MEDIA_TYPE", None, {"Content-Type": "text/plain"}, None),
        ("INVALID_JSON", None, {}, b"{not json"),
        ("INVALID_SOURCE_EVENT", None, {}, b'{"ref": "refs/heads/main"}'),
        ("INVALID_VARIABLES", _required_variable, {}, None),
        ("INVALID_PARAMETER", None, {}, None),
    ],
)
def test_a_rejected_source_delivery_is_recorded_with_its_delivery_id(
    store: FakeStore,
    ports: TriggerPorts,
    deliveries: FakeDeliveryLog,
    code: str,
    arrange: Callable[[FakeStore], None] | None,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    if arrange is not None:
        arrange(store)
    request = request_from("source-github-push.json", **headers)
    request = replace(request, body=request.body if body is None else body)
    if code == "INVALID_PARAMETER":
        request = replace(request, query={"dryRun": "maybe"})
    with pytest.raises(HookrunError) as caught:
        receive_webhook(ports, request)
    assert caught.value.code == code
    (record,) = deliveries.deliveries
    assert (record.outcome, record.reason, record.delivery_id) == (Outcome.REJECTED, code, GITHUB_DELIVERY)


@pytest.mark.parametrize(
    ("code", "body"),
    [("INVALID_JSON", b"{broken"), ("INVALID_VARIABLES", b'{"nope": 1}'), ("PAYLOAD_TOO_LARGE", b" " * 70_000)],
)
def test_a_rejected_variable_call_is_recorded_with_its_idempotency_key(
    ports: TriggerPorts, deliveries: FakeDeliveryLog, code: str, body: bytes
) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "k-42"}
    with pytest.raises(HookrunError):
        receive_webhook(ports, WebhookRequest(DEMO_TOKEN, headers, body))
    assert [(d.reason, d.delivery_id) for d in deliveries.deliveries] == [(code, "k-42")]


def test_an_unavailable_start_is_recorded_with_the_delivery_id(store: FakeStore, deliveries: FakeDeliveryLog) -> None:
    ports = fake_ports(store, FakeRunStarter(fail_with=Unavailable()), deliveries)
    with pytest.raises(Unavailable):
        receive_webhook(ports, request_from("source-github-push.json"))
    assert [(d.reason, d.delivery_id) for d in deliveries.deliveries] == [("UNAVAILABLE", GITHUB_DELIVERY)]


class _UnavailableReads:
    """Access and signing secret reads that fail as a throttled table or secret store does."""

    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        raise Unavailable()

    def get_signing_secret(self, name: str) -> str | None:
        raise Unavailable()


@pytest.mark.parametrize("port", ["access", "signing_secrets"])
def test_an_unavailable_read_before_the_start_is_recorded_with_the_delivery_id(
    store: FakeStore, ports: TriggerPorts, deliveries: FakeDeliveryLog, port: str
) -> None:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret="demo-secret")
    with pytest.raises(Unavailable):
        receive_webhook(replace(ports, **{port: _UnavailableReads()}), request_from("source-github-push.json"))
    assert [(d.reason, d.delivery_id) for d in deliveries.deliveries] == [("UNAVAILABLE", GITHUB_DELIVERY)]


def test_a_push_without_delivery_id_replays_by_its_derived_key(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    first, again = delivered_twice(ports, "source-gitee-push.json")
    assert (again.replayed, again.run_id) == (True, first.run_id) and len(runs.started) == 1
    delivery = runs.started[0].delivery
    assert delivery is not None and (delivery.delivery_id or "").startswith("derived-")
    assert deliveries.deliveries[-1].delivery_id == delivery.delivery_id


def test_an_idempotency_key_names_a_push_without_delivery_id(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    result = receive_webhook(ports, request_from("source-codeup-push.json", **{"Idempotency-Key": "codeup-1"}))
    assert isinstance(result, AcceptedRun) and result.run_id == run_id_for_delivery("demo", "codeup-1")


# --- dry runs ------------------------------------------------------------------------------------------------------


def dry(request: WebhookRequest) -> WebhookRequest:
    return replace(request, query={"dryRun": "true"})


def variables_call(body: bytes) -> WebhookRequest:
    return WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, body)


def test_a_dry_run_of_defaults_would_run_and_starts_nothing(
    ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    result = receive_webhook(ports, dry(variables_call(b"{}")))
    assert isinstance(result, DryRun)
    assert (result.decision, result.variables["abc"], result.source_variables, result.filters) == (
        "WOULD_RUN",
        "123",
        {},
        {},
    )
    assert runs.started == []
    assert [(d.outcome, d.reason) for d in deliveries.deliveries] == [(Outcome.DRY_RUN, "WOULD_RUN")]


def test_a_dry_run_masks_secrets_and_keeps_none(
    store: FakeStore, ports: TriggerPorts, deliveries: FakeDeliveryLog
) -> None:
    result = receive_webhook(ports, dry(variables_call(b'{"abc": "456", "API_KEY": "s3cr3t"}')))
    assert isinstance(result, DryRun) and (result.variables["abc"], result.variables["API_KEY"]) == ("456", "***")
    assert store.run_secrets == {} and "s3cr3t" not in repr(deliveries.deliveries)


def test_a_dry_run_of_a_push_shows_its_source_variables_and_matched_filters(ports: TriggerPorts) -> None:
    result = receive_webhook(ports, dry(request_from("source-github-push.json")))
    assert isinstance(result, DryRun) and result.decision == "WOULD_RUN"
    assert result.source_variables["HOOKRUN_BRANCH"] == "master" == result.variables["HOOKRUN_BRANCH"]
    assert result.filters == {"events": "push", "branches": "*"}
    assert result.delivery_id == GITHUB_DELIVERY


def test_a_dry_run_of_a_filtered_push_says_why(
    store: FakeStore, ports: TriggerPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    store.add_pipeline(demo_pipeline(source={"branches": ["release/*"]}))
    result = receive_webhook(ports, dry(request_from("source-github-push.json")))
    assert isinstance(result, DryRun)
    assert (result.decision, result.filters, result.variables) == ("BRANCH_FILTERED", {"events": "push"}, {})
    assert runs.started == [] and deliveries.deliveries[-1].reason == "BRANCH_FILTERED"


def test_a_dry_run_with_an_undeclared_variable_is_422_and_recorded_as_a_dry_run(
    ports: TriggerPorts, deliveries: FakeDeliveryLog
) -> None:
    with pytest.raises(HookrunError) as caught:
        receive_webhook(ports, dry(variables_call(b'{"nope": "1"}')))
    assert caught.value.code == "INVALID_VARIABLES"
    assert [(d.outcome, d.reason) for d in deliveries.deliveries] == [(Outcome.DRY_RUN, "INVALID_VARIABLES")]


def test_dry_run_false_is_a_real_delivery(ports: TriggerPorts, runs: FakeRunStarter) -> None:
    result = receive_webhook(ports, replace(variables_call(b"{}"), query={"dryRun": "false"}))
    assert isinstance(result, AcceptedRun) and len(runs.started) == 1
