"""Dry runs end to end: `?dryRun=true` on the webhook and the management API's test route (with its CLI).

A pipeline `dry-<uuid>` (runs on pushes to main only, declares `abc` and a secret `TOKEN`), its webhook enabled by
admin (its owner); bob is a viewer on it. Every dry run is answered without starting an execution (counted on
moto) and leaves a DRY_RUN delivery record; no secret value is kept anywhere in the table.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hookrun.template import ROOT
from tests.e2e.conftest import HOOKRUN, RunningStack, moto_client
from tests.support import load_event

pytestmark = pytest.mark.e2e

ADMIN = "admin"
SECRET_VALUE = "s3cr3t-dry-run-value"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Webhook:
    endpoint: str
    pipeline: str
    url: str
    stack: RunningStack

    def dry_run(self, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(f"{self.url}?dryRun=true", data=body, headers=headers or JSON, timeout=30)

    def test_route(self, sample: dict[str, Any], user: str = ADMIN) -> requests.Response:
        return requests.post(
            f"{self.endpoint}/api/pipelines/{self.pipeline}/webhook/test",
            json=sample,
            headers={"X-Hookrun-User": user},
            timeout=30,
        )

    def deliveries(self) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.endpoint}/api/pipelines/{self.pipeline}/deliveries?limit=100",
            headers={"X-Hookrun-User": ADMIN},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["deliveries"]
        return found

    def executions(self) -> int:
        sfn, info = moto_client(self.stack, "stepfunctions")
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=info["stateMachineArn"])
        return sum(len(page["executions"]) for page in pages)


def admin_call(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, f"{endpoint}{path}", json=body, headers={"X-Hookrun-User": ADMIN}, timeout=30)


@pytest.fixture(scope="module")
def webhook(local_stack: RunningStack) -> Webhook:
    endpoint, pipeline = local_stack.endpoint, f"dry-{uuid.uuid4().hex[:12]}"
    definition = {
        "name": "Dry runs",
        "variables": {"abc": "123", "TOKEN": {"type": "string", "secret": True, "required": False}},
        "source": {"branches": ["main"]},
        "stages": [{"name": "build", "jobs": [{"name": "echo", "script": ['echo "abc is $abc"']}]}],
    }
    assert admin_call(endpoint, "PUT", f"/api/pipelines/{pipeline}", definition).status_code == 201
    enabled = admin_call(endpoint, "POST", f"/api/pipelines/{pipeline}/webhook/enable")
    assert enabled.status_code == 201, enabled.text
    viewer = admin_call(endpoint, "PUT", f"/api/pipelines/{pipeline}/members/bob", {"role": "viewer"})
    assert viewer.status_code == 200, viewer.text
    return Webhook(endpoint, pipeline, str(enabled.json()["url"]), local_stack)


def github_push(ref: str = "refs/heads/master") -> tuple[bytes, dict[str, str]]:
    event = load_event("source-github-push.json")
    payload = json.loads(event["body"])
    payload["ref"] = ref
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4())}
    return json.dumps(payload).encode(), headers


def test_dry_run_of_defaults_would_run_and_starts_nothing(webhook: Webhook) -> None:
    before = webhook.executions()
    response = webhook.dry_run(b"{}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["triggered"], body["dryRun"], body["decision"]) == (False, True, "WOULD_RUN")
    assert (body["variables"], body["sourceVariables"], body["filters"]) == ({"abc": "123"}, {}, {})
    assert webhook.executions() == before


def test_dry_run_with_a_variable_shows_it_merged_and_its_secret_masked(webhook: Webhook) -> None:
    before = webhook.executions()
    body = webhook.dry_run(json.dumps({"abc": "456", "TOKEN": SECRET_VALUE}).encode()).json()
    assert (body["decision"], body["variables"]) == ("WOULD_RUN", {"abc": "456", "TOKEN": "***"})
    assert webhook.executions() == before


def test_dry_run_of_a_filtered_push_says_why_and_what_matched(webhook: Webhook) -> None:
    before = webhook.executions()
    body, headers = github_push("refs/heads/feature/x")
    answer = webhook.dry_run(body, headers)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["decision"], found["filters"], found["dryRun"]) == ("BRANCH_FILTERED", {"events": "push"}, True)
    assert found["sourceVariables"]["HOOKRUN_BRANCH"] == "feature/x"
    assert found["deliveryId"] == headers["X-GitHub-Delivery"]
    assert webhook.executions() == before


def test_dry_run_of_a_push_to_main_would_run(webhook: Webhook) -> None:
    body, headers = github_push("refs/heads/main")
    found = webhook.dry_run(body, headers).json()
    assert (found["decision"], found["filters"]) == ("WOULD_RUN", {"events": "push", "branches": "main"})
    assert found["variables"]["HOOKRUN_BRANCH"] == "main"


def test_dry_run_with_an_undeclared_variable_is_the_webhooks_422(webhook: Webhook) -> None:
    before = webhook.executions()
    response = webhook.dry_run(b'{"undeclared": "1"}')
    assert (response.status_code, response.json()["code"]) == (422, "INVALID_VARIABLES")
    assert webhook.executions() == before


def test_dry_run_with_another_value_is_400(webhook: Webhook) -> None:
    response = requests.post(f"{webhook.url}?dryRun=yes", data=b"{}", headers=JSON, timeout=30)
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_PARAMETER")


def test_the_test_route_answers_as_the_dry_run(webhook: Webhook) -> None:
    before = webhook.executions()
    for body in ({}, {"abc": "456"}):
        over_webhook = webhook.dry_run(json.dumps(body).encode()).json()
        over_api = webhook.test_route({"body": body})
        assert over_api.status_code == 200, over_api.text
        assert over_api.json() == over_webhook
    push, headers = github_push("refs/heads/feature/x")
    tested = webhook.test_route({"provider": "github", "headers": headers, "body": push.decode()})
    assert tested.json() == webhook.dry_run(push, headers).json()
    undeclared = webhook.test_route({"body": {"undeclared": "1"}})
    assert (undeclared.status_code, undeclared.json()["code"]) == (422, "INVALID_VARIABLES")
    assert webhook.executions() == before


def test_a_viewer_may_not_use_the_test_route(webhook: Webhook) -> None:
    response = webhook.test_route({"body": {}}, user="bob")
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


def test_hookrun_webhook_test_prints_the_decision(webhook: Webhook, tmp_path: Path) -> None:
    push, _ = github_push("refs/heads/feature/x")
    (tmp_path / "push.json").write_bytes(push)
    base = [str(HOOKRUN), "webhook", "test", webhook.pipeline, "--as", ADMIN, "--endpoint", webhook.endpoint]
    filtered = subprocess.run(
        [*base, "--event", str(tmp_path / "push.json"), "--provider", "github", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert filtered.returncode == 0, filtered.stderr
    assert json.loads(filtered.stdout)["decision"] == "BRANCH_FILTERED"
    table = subprocess.run([*base, "--data", '{"abc":"456"}'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "WOULD_RUN" in table.stdout and "456" in table.stdout
    viewer = subprocess.run(
        [*base[:-4], "--as", "bob", "--endpoint", webhook.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert viewer.returncode == 1 and "FORBIDDEN" in viewer.stderr


def test_dry_runs_leave_dry_run_records_and_no_secret_value_anywhere(webhook: Webhook) -> None:
    push, headers = github_push("refs/heads/feature/x")
    answers = [
        webhook.dry_run(json.dumps({"TOKEN": SECRET_VALUE}).encode()),
        webhook.dry_run(push, headers),
        webhook.dry_run(b'{"undeclared": "1"}'),
        webhook.test_route({"body": {"TOKEN": SECRET_VALUE}}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 422, 200]
    log = webhook.deliveries()
    reasons = {(d["outcome"], d["reason"]) for d in log}
    assert {
        ("DRY_RUN", "WOULD_RUN"),
        ("DRY_RUN", "BRANCH_FILTERED"),
        ("DRY_RUN", "INVALID_VARIABLES"),
    } <= reasons
    assert {d["outcome"] for d in log} <= {"DRY_RUN", "REJECTED"}
    dynamodb, info = moto_client(webhook.stack, "dynamodb")
    pages = dynamodb.get_paginator("scan").paginate(TableName=info["tableName"])
    assert SECRET_VALUE not in json.dumps([page["Items"] for page in pages])
