"""Real deliveries of every provider (../shared/real-payloads) over HTTP to the local stack.

Per provider, a pipeline `real-<provider>-<uuid>` that runs on every branch and tag, signed with the test secret,
receives each real payload as its provider sends it, each accepted one once more (a redelivery), and one signed
with another secret. Every one of them must leave a delivery record with its delivery id, outcome and reason.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, admin_call, delivery_log
from tests.providers import SECRET, SENDERS, deliver, samples_of

pytestmark = pytest.mark.e2e

LOG_TIMEOUT_SECONDS = 120  # every started run's record is written by its workflow; the machine may be loaded


def signed_webhook(endpoint: str, name: str) -> str:
    """A new pipeline that runs on every branch and tag, its webhook enabled and signed with SECRET: its URL."""
    definition = {
        "name": "Real deliveries",
        "source": {"branches": ["**"], "tags": ["**"]},
        "stages": [{"name": "build", "jobs": [{"name": "ok", "script": ["true"]}]}],
    }
    assert admin_call(endpoint, "PUT", f"/api/pipelines/{name}", definition).status_code == 201
    enabled = admin_call(endpoint, "POST", f"/api/pipelines/{name}/webhook/enable")
    assert enabled.status_code == 201, enabled.text
    assert admin_call(endpoint, "PUT", f"/api/pipelines/{name}/webhook/secret", {"secret": SECRET}).status_code == 200
    return str(enabled.json()["url"])


def log_once_complete(endpoint: str, pipeline: str, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + LOG_TIMEOUT_SECONDS
    while True:
        log = delivery_log(endpoint, pipeline)
        if len(log) >= expected or time.monotonic() > deadline:
            return log
        time.sleep(0.5)


@pytest.mark.parametrize("sender", SENDERS)
def test_every_real_delivery_over_http_is_answered_and_leaves_its_record(
    local_stack: RunningStack, sender: str
) -> None:
    endpoint = local_stack.endpoint
    pipeline = f"real-{sender}-{uuid.uuid4().hex[:12]}"
    url = signed_webhook(endpoint, pipeline)
    expected: list[tuple[str, str | None, str | None]] = []
    for sample in samples_of(sender):
        wire = deliver(sample, now_ms=time.time_ns() // 1_000_000)
        response = wire.send(url)
        # without a delivery id, a push or tag event (deletions too) is named by the key derived from it
        pushed = sample.outcome != "IGNORED_EVENT"
        marker = wire.delivery_id if wire.delivery_id is not None else ("derived" if pushed else None)
        if not sample.starts_a_run:
            assert (response.status_code, response.json()["reason"]) == (200, sample.reason), sample.file
            expected.append((sample.outcome, sample.reason, marker))
            continue
        assert (response.status_code, response.json()["replayed"]) == (202, False), (sample.file, response.text)
        again = deliver(sample, now_ms=time.time_ns() // 1_000_000, delivery_id=wire.delivery_id).send(url)
        assert (again.status_code, again.json()["replayed"]) == (202, True), (sample.file, again.text)
        expected += [("RUN_STARTED", None, marker), ("REPLAYED", None, marker)]
    wrong = deliver(samples_of(sender)[0], secret="not-the-webhooks-secret", now_ms=time.time_ns() // 1_000_000)
    rejected = wrong.send(url)
    assert (rejected.status_code, rejected.json()["code"]) == (401, "INVALID_SIGNATURE")
    expected.append(("REJECTED", "INVALID_SIGNATURE", wrong.delivery_id))

    log = log_once_complete(endpoint, pipeline, len(expected))
    recorded = Counter(
        (
            d["outcome"],
            d.get("reason"),
            "derived" if (d.get("deliveryId") or "").startswith("derived-") else d.get("deliveryId"),
        )
        for d in log
    )
    assert recorded == Counter(expected)


def test_a_gitea_form_delivery_signed_as_gitea_signs_it_starts_a_run_and_a_wrong_one_is_401(
    local_stack: RunningStack,
) -> None:
    url = signed_webhook(local_stack.endpoint, f"real-gitea-form-{uuid.uuid4().hex[:12]}")
    (sample, *_) = samples_of("gitea")
    now_ms = time.time_ns() // 1_000_000
    accepted = deliver(sample, now_ms=now_ms, form=True).send(url)
    assert accepted.status_code == 202, accepted.text
    wrong = deliver(sample, secret="not-the-webhooks-secret", now_ms=now_ms, form=True).send(url)
    assert (wrong.status_code, wrong.json()["code"]) == (401, "INVALID_SIGNATURE")
    assert "application/x-www-form-urlencoded" in wrong.json()["message"]


def test_a_gitee_push_redelivered_without_a_delivery_id_replays(local_stack: RunningStack) -> None:
    url = signed_webhook(local_stack.endpoint, f"real-gitee-again-{uuid.uuid4().hex[:12]}")
    (sample, *_) = samples_of("gitee")
    first = deliver(sample, now_ms=time.time_ns() // 1_000_000).send(url).json()
    again = deliver(sample, now_ms=time.time_ns() // 1_000_000 + 1).send(url).json()
    assert (first["replayed"], again["replayed"], again["runId"]) == (False, True, first["runId"])
