"""Real deliveries of every provider (../shared/real-payloads) through the webhook handler, on fakes.

Each is sent as its provider sends it, signed with the webhook's secret: every push and tag starts a run (and
again is a replay), every deletion is filtered, every other event ignored, and a wrongly signed one is 401;
each leaves a delivery record (or, for a started run, the workflow's delivery) with its delivery id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from domain.deliveries import Delivery
from handlers import composition, webhook
from handlers.composition import Container, Settings
from tests.fakes import FakeDeliveryLog, FakeRunStarter, FakeSigningSecrets, FakeStore, fake_ports
from tests.providers import SECRET, SENDERS, Sample, Wire, deliver, samples_of
from tests.support import DEMO_TOKEN, FakeLambdaContext, webhook_event

NOW_MS = 1_795_791_600_000  # the fakes' clock
SECRET_NAME = "demo-secret"


class RecordingContainer(Container):
    def __init__(self, store: FakeStore, runs: FakeRunStarter, deliveries: FakeDeliveryLog) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        secrets = FakeSigningSecrets({SECRET_NAME: SECRET})
        self.__dict__["trigger_ports"] = fake_ports(store, runs, deliveries, secrets)


@pytest.fixture(autouse=True)
def wiring(store: FakeStore, runs: FakeRunStarter, deliveries: FakeDeliveryLog) -> Iterator[None]:
    store.enable(DEMO_TOKEN, "demo", "alice", signing_secret=SECRET_NAME)
    composition.use_container(RecordingContainer(store, runs, deliveries))
    yield
    composition.use_container(None)


def send(wire: Wire) -> tuple[int, dict[str, Any]]:
    headers = {k: v for k, v in wire.headers.items() if k.lower() != "content-type"}
    event = webhook_event(wire.body.decode("utf-8"), headers=headers, content_type=wire.headers["Content-Type"])
    response = webhook.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"])


def last(deliveries: FakeDeliveryLog) -> Delivery:
    return deliveries.deliveries[-1]


def check_sample(sample: Sample, runs: FakeRunStarter, deliveries: FakeDeliveryLog, *, form: bool = False) -> None:
    wire = deliver(sample, now_ms=NOW_MS, form=form)
    status, body = send(wire)
    if not sample.starts_a_run:
        assert (status, body["outcome"], body["reason"]) == (200, sample.outcome, sample.reason), sample.file
        assert (last(deliveries).outcome, last(deliveries).reason) == (sample.outcome, sample.reason)
        if wire.delivery_id is not None:
            assert last(deliveries).delivery_id == wire.delivery_id, sample.file
        return
    assert (status, body["replayed"]) == (202, False), (sample.file, body)
    started = runs.started[-1]
    assert started.run_id == body["runId"] and started.variables["HOOKRUN_SOURCE"] == sample.provider
    assert started.delivery is not None and started.delivery.delivery_id is not None, sample.file
    if wire.delivery_id is not None:
        assert started.delivery.delivery_id == wire.delivery_id
    status, again = send(wire)
    assert (status, again["replayed"], again["runId"]) == (202, True, body["runId"]), sample.file
    replayed = last(deliveries)
    assert (replayed.outcome, replayed.run_id, replayed.delivery_id) == (
        "REPLAYED",
        body["runId"],
        started.delivery.delivery_id,
    )


@pytest.mark.parametrize("sender", SENDERS)
def test_every_real_delivery_of_the_provider_is_answered_and_recorded(
    sender: str, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    for sample in samples_of(sender):
        check_sample(sample, runs, deliveries)


@pytest.mark.parametrize("sender", SENDERS)
def test_a_wrongly_signed_real_delivery_is_401_and_recorded_with_its_delivery_id(
    sender: str, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    wire = deliver(samples_of(sender)[0], secret="not-the-webhooks-secret", now_ms=NOW_MS)
    status, body = send(wire)
    assert (status, body["code"]) == (401, "INVALID_SIGNATURE")
    assert runs.started == []
    assert (last(deliveries).outcome, last(deliveries).reason) == ("REJECTED", "INVALID_SIGNATURE")
    assert last(deliveries).delivery_id == wire.delivery_id


@pytest.mark.parametrize("sender", ["gitea", "forgejo"])
def test_gitea_and_forgejo_form_deliveries_signed_as_they_sign_them_are_accepted(
    sender: str, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    for sample in samples_of(sender):
        check_sample(sample, runs, deliveries, form=True)


def test_a_wrongly_signed_gitea_form_delivery_is_401_naming_header_and_content_type(runs: FakeRunStarter) -> None:
    (sample, *_) = samples_of("gitea")
    status, body = send(deliver(sample, secret="not-the-webhooks-secret", now_ms=NOW_MS, form=True))
    assert (status, body["code"]) == (401, "INVALID_SIGNATURE")
    assert "X-Hub-Signature-256" in body["message"] and "application/x-www-form-urlencoded" in body["message"]
    assert "payload" in body["message"] and runs.started == []


def test_the_gitlab_system_hook_push_starts_a_run(runs: FakeRunStarter) -> None:
    (sample,) = [s for s in samples_of("gitlab") if s.event == "System Hook"]
    status, body = send(deliver(sample, now_ms=NOW_MS))
    assert status == 202, body
    assert runs.started[-1].variables["HOOKRUN_BRANCH"] == "master"


def test_a_gitee_push_redelivered_without_a_delivery_id_replays(
    runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    (sample, *_) = samples_of("gitee")
    first = send(deliver(sample, now_ms=NOW_MS))[1]
    again = send(deliver(sample, now_ms=NOW_MS + 1000))[1]  # a redelivery is signed anew
    assert (first["replayed"], again["replayed"], again["runId"]) == (False, True, first["runId"])
    assert len(runs.started) == 1
    assert (last(deliveries).delivery_id or "").startswith("derived-")
