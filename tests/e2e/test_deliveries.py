"""Signing secrets and the delivery log end to end, over HTTP on the local stack.

One scenario per module: as admin, a pipeline `deliv-<uuid>` that runs on pushes to main and master gets its
webhook enabled and signed with the secret events/source-*.json are signed with. Then GitHub pushes arrive:
one that starts a run, the same delivery again, one to a branch the pipeline ignores, and one signed with
another secret. Each test checks one thing about what the webhook answered or what the delivery log kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from hookrun.template import ROOT
from tests.e2e.conftest import ADMIN, HOOKRUN, RunningStack, admin_call, delivery_log, wait_for_run
from tests.providers import RawRequest
from tests.support import load_event

pytestmark = pytest.mark.e2e

SECRET = "hookrun-example-secret"  # events/source-*.json are signed with it
DELIVERY_LOG_TIMEOUT_SECONDS = 30
SKIPPED_HEADERS = {"host", "content-length", "x-forwarded-proto", "x-forwarded-for", "x-forwarded-port"}


class Push(RawRequest):
    """A GitHub push as it goes over the wire: its headers and its raw body."""

    @classmethod
    def sample(cls) -> Push:
        """events/source-github-push.json as GitHub sent it: branch master, signed with SECRET."""
        event = load_event("source-github-push.json")
        headers = {k: v for k, v in event["headers"].items() if k.lower() not in SKIPPED_HEADERS}
        return cls(headers, event["body"].encode())

    def to_ref(self, ref: str) -> Push:
        """The same push to another ref: a new body, so it is signed again with SECRET, and a new delivery id."""
        payload = json.loads(self.body)
        payload["ref"] = ref
        return Push(self.headers, json.dumps(payload).encode()).signed_with(SECRET).redelivered()

    def signed_with(self, secret: str) -> Push:
        digest = hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return Push(self.headers | {"X-Hub-Signature-256": f"sha256={digest}"}, self.body)

    def redelivered(self) -> Push:
        """The push under a new delivery id, as another delivery."""
        return Push(self.headers | {"X-GitHub-Delivery": str(uuid.uuid4())}, self.body)


@dataclass(frozen=True)
class Scenario:
    """What happened: the pipeline, its webhook URL, each push's answer, and the delivery log afterwards."""

    endpoint: str
    pipeline: str
    url: str
    started: requests.Response
    replayed: requests.Response
    filtered: requests.Response
    rejected: requests.Response
    log: list[dict[str, Any]]

    @property
    def run_id(self) -> str:
        return str(self.started.json()["runId"])

    def logged(self, outcome: str) -> dict[str, Any]:
        (found,) = [delivery for delivery in self.log if delivery["outcome"] == outcome]
        return found


def wait_for_outcome(endpoint: str, pipeline: str, outcome: str) -> list[dict[str, Any]]:
    """The delivery log once it holds `outcome`: the workflow's first state records RUN_STARTED, a little later."""
    deadline = time.monotonic() + DELIVERY_LOG_TIMEOUT_SECONDS
    while True:
        log = delivery_log(endpoint, pipeline)
        if any(delivery["outcome"] == outcome for delivery in log):
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"no {outcome} delivery within {DELIVERY_LOG_TIMEOUT_SECONDS} s: {log}")
        time.sleep(0.2)


def hookrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HOOKRUN), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def scenario(local_stack: RunningStack) -> Scenario:
    endpoint = local_stack.endpoint
    pipeline = f"deliv-{uuid.uuid4()}"
    definition = {
        "name": "Delivery log",
        "source": {"branches": ["main", "master"]},
        "stages": [{"name": "build", "jobs": [{"name": "echo", "script": ['echo "pushed to $HOOKRUN_BRANCH"']}]}],
    }
    created = admin_call(endpoint, "PUT", f"/api/pipelines/{pipeline}", definition)
    assert created.status_code == 201, created.text
    enabled = admin_call(endpoint, "POST", f"/api/pipelines/{pipeline}/webhook/enable")
    assert enabled.status_code == 201, enabled.text
    signed = admin_call(endpoint, "PUT", f"/api/pipelines/{pipeline}/webhook/secret", {"secret": SECRET})
    assert (signed.status_code, signed.json()["signed"]) == (200, True), signed.text
    url = enabled.json()["url"]

    push = Push.sample()
    started = push.send(url)
    replayed = push.send(url)
    filtered = push.to_ref("refs/heads/feature/x").send(url)
    rejected = push.redelivered().signed_with("not-the-pipelines-secret").send(url)

    assert started.status_code == 202, started.text
    wait_for_run(endpoint, started.json()["runId"], user=ADMIN)
    log = wait_for_outcome(endpoint, pipeline, "RUN_STARTED")
    return Scenario(endpoint, pipeline, url, started, replayed, filtered, rejected, log)


# What the webhook answered


def test_a_push_signed_with_the_secret_starts_a_run(scenario: Scenario) -> None:
    body = scenario.started.json()
    assert (scenario.started.status_code, body["triggered"], body["replayed"]) == (202, True, False)


def test_the_same_delivery_again_replays_the_run(scenario: Scenario) -> None:
    body = scenario.replayed.json()
    assert (scenario.replayed.status_code, body["replayed"], body["runId"]) == (202, True, scenario.run_id)


def test_a_push_to_another_branch_is_filtered(scenario: Scenario) -> None:
    body = scenario.filtered.json()
    assert (scenario.filtered.status_code, body["triggered"], body["reason"]) == (200, False, "BRANCH_FILTERED")


def test_a_push_signed_with_another_secret_is_401(scenario: Scenario) -> None:
    assert (scenario.rejected.status_code, scenario.rejected.json()["code"]) == (401, "INVALID_SIGNATURE")


# What the delivery log kept


def test_the_log_has_the_four_deliveries_newest_first(scenario: Scenario) -> None:
    outcomes = [delivery["outcome"] for delivery in scenario.log]
    assert sorted(outcomes) == ["FILTERED", "REJECTED", "REPLAYED", "RUN_STARTED"]
    assert [d["receivedAt"] for d in scenario.log] == sorted((d["receivedAt"] for d in scenario.log), reverse=True)


def test_the_started_and_replayed_deliveries_name_the_run(scenario: Scenario) -> None:
    started, replayed = scenario.logged("RUN_STARTED"), scenario.logged("REPLAYED")
    assert (started["runId"], replayed["runId"]) == (scenario.run_id, scenario.run_id)
    assert started["deliveryId"] == replayed["deliveryId"] == Push.sample().headers["X-GitHub-Delivery"]
    assert (started["source"], started["event"], started["runAs"]) == ("github", "push", ADMIN)


def test_the_filtered_and_rejected_deliveries_say_why(scenario: Scenario) -> None:
    assert scenario.logged("FILTERED")["reason"] == "BRANCH_FILTERED"
    assert scenario.logged("REJECTED")["reason"] == "INVALID_SIGNATURE"


def test_no_delivery_record_holds_the_secret_the_token_or_a_signature(scenario: Scenario) -> None:
    text = json.dumps(delivery_log(scenario.endpoint, scenario.pipeline))
    token = scenario.url.rsplit("/", 1)[1]
    assert SECRET not in text and token not in text and "sha256=" not in text


# What `hookrun deliveries` prints


def test_hookrun_deliveries_json_lists_every_outcome(scenario: Scenario) -> None:
    result = hookrun("deliveries", scenario.pipeline, "--as", ADMIN, "--endpoint", scenario.endpoint, "--json")
    assert result.returncode == 0, result.stderr
    shown = {(d["outcome"], d["reason"], d["runId"]) for d in json.loads(result.stdout)["deliveries"]}
    assert shown == {
        ("RUN_STARTED", None, scenario.run_id),
        ("REPLAYED", None, scenario.run_id),
        ("FILTERED", "BRANCH_FILTERED", None),
        ("REJECTED", "INVALID_SIGNATURE", None),
    }


def test_hookrun_deliveries_table_shows_every_outcome_and_the_run(scenario: Scenario) -> None:
    result = hookrun("deliveries", scenario.pipeline, "--as", ADMIN, "--endpoint", scenario.endpoint)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (started,) = [line for line in lines if "RUN_STARTED" in line]
    assert scenario.run_id in started
    assert any("FILTERED" in line and "BRANCH_FILTERED" in line for line in lines)
    assert any("REJECTED" in line and "INVALID_SIGNATURE" in line for line in lines)
    assert any("REPLAYED" in line and scenario.run_id in line for line in lines)
