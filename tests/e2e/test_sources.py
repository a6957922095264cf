"""Source webhooks end to end: provider samples over HTTP, idempotent redelivery under concurrency."""

from __future__ import annotations

import base64
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import RunningStack, moto_client, wait_for_run
from tests.support import SOURCE_EVENT_VARIABLES, load_event


def send(url: str, event_file: str, **header_changes: str) -> requests.Response:
    """POST a provider's sample delivery (events/<file>) to `url`, as the provider would."""
    event = load_event(event_file)
    skip = {"host", "content-length", "x-forwarded-proto", "x-forwarded-for", "x-forwarded-port"}
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in skip} | header_changes
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    return requests.post(url, data=body, headers=headers, timeout=60)


def executions_named(stack: RunningStack, name: str) -> int:
    sfn, info = moto_client(stack, "stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=info["stateMachineArn"])
    return sum(1 for page in pages for execution in page["executions"] if execution["name"] == name)


@pytest.mark.parametrize(
    ("event_file", "expected"),
    SOURCE_EVENT_VARIABLES,
)
def test_provider_push_and_tag_events_start_runs_with_source_variables(
    local_stack: RunningStack, event_file: str, expected: dict[str, str]
) -> None:
    # a fresh delivery id each time, so earlier runs of this test never make this one a replay
    fresh = {
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    headers = {k: v for k, v in fresh.items() if k.lower() in {h.lower() for h in load_event(event_file)["headers"]}}
    response = send(local_stack.webhook_url, event_file, **headers)
    assert response.status_code == 202, response.text
    run = wait_for_run(local_stack.endpoint, response.json()["runId"])
    assert run["status"] == "SUCCEEDED"
    assert expected.items() <= run["variables"].items()
    assert run["variables"]["HOOKRUN_COMMIT_SHA"]


def test_github_ping_answers_200_and_starts_nothing(local_stack: RunningStack) -> None:
    response = send(local_stack.webhook_url, "source-github-ping.json")
    assert response.status_code == 200
    assert response.json()["triggered"] is False and response.json()["reason"] == "PING"


def test_branch_deletion_answers_200_with_the_reason(local_stack: RunningStack) -> None:
    response = send(local_stack.webhook_url, "source-github-branch-delete.json")
    assert (response.status_code, response.json()["reason"]) == (200, "BRANCH_DELETED")


def test_broken_form_is_400_and_wrong_content_type_415(local_stack: RunningStack) -> None:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4())}
    broken = requests.post(
        local_stack.webhook_url,
        data=b"payload=%7Bnot-json",
        headers=headers | {"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "INVALID_JSON")
    wrong = requests.post(
        local_stack.webhook_url, data=b"<xml/>", headers=headers | {"Content-Type": "text/xml"}, timeout=30
    )
    assert (wrong.status_code, wrong.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_fifty_concurrent_redeliveries_make_one_run_and_49_replays(local_stack: RunningStack) -> None:
    delivery = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(
            pool.map(
                lambda _: send(local_stack.webhook_url, "source-github-push.json", **{"X-GitHub-Delivery": delivery}),
                range(50),
            )
        )
    assert [r.status_code for r in responses] == [202] * 50
    bodies = [r.json() for r in responses]
    assert len({b["runId"] for b in bodies}) == 1
    assert sorted(b["replayed"] for b in bodies) == [False] + [True] * 49
    assert executions_named(local_stack, bodies[0]["runId"]) == 1


def test_fifty_concurrent_distinct_deliveries_make_fifty_runs(local_stack: RunningStack) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(
            pool.map(
                lambda _: send(
                    local_stack.webhook_url, "source-github-push.json", **{"X-GitHub-Delivery": str(uuid.uuid4())}
                ),
                range(50),
            )
        )
    assert [r.status_code for r in responses] == [202] * 50
    run_ids = {r.json()["runId"] for r in responses}
    assert len(run_ids) == 50
    assert not any(r.json()["replayed"] for r in responses)
    assert all(executions_named(local_stack, run_id) == 1 for run_id in list(run_ids)[:5])


def test_idempotency_key_replays_a_variable_webhook(local_stack: RunningStack) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    first = requests.post(local_stack.webhook_url, data=json.dumps({"abc": "1"}), headers=headers, timeout=30).json()
    again = requests.post(local_stack.webhook_url, data=json.dumps({"abc": "1"}), headers=headers, timeout=30).json()
    assert first["runId"] == again["runId"] and (first["replayed"], again["replayed"]) == (False, True)
