"""A pipeline id used again after a delete starts with nothing of the deleted pipeline."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests

from tests.e2e.conftest import RunningStack, wait_for_run

STAGES = [{"name": "s", "jobs": [{"name": "j", "script": ["echo private to alice"]}]}]


def _as(user: str) -> dict[str, str]:
    return {"X-Hookrun-User": user}


def _api(stack: RunningStack, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.endpoint}/api/{path}", headers=_as(user), timeout=30, **kwargs)


def _create_and_run(stack: RunningStack, pipeline_id: str, user: str, key: str) -> dict[str, Any]:
    definition = {"id": pipeline_id, "name": f"{user}'s", "stages": STAGES}
    assert _api(stack, "PUT", f"pipelines/{pipeline_id}", user, json=definition).status_code == 201
    enabled = _api(stack, "POST", f"pipelines/{pipeline_id}/webhook/enable", user)
    assert enabled.status_code == 201, enabled.text
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    accepted = requests.post(enabled.json()["url"], data=json.dumps({}), headers=headers, timeout=30).json()
    return accepted


def test_a_pipeline_made_again_with_a_deleted_ones_id_sees_none_of_its_history(local_stack: RunningStack) -> None:
    pipeline_id, key = f"e2e-reuse-{uuid.uuid4().hex[:8]}", f"key-{uuid.uuid4().hex}"
    alices = _create_and_run(local_stack, pipeline_id, "alice", key)
    assert wait_for_run(local_stack.endpoint, alices["runId"])["status"] == "SUCCEEDED"
    assert _api(local_stack, "DELETE", f"pipelines/{pipeline_id}", "alice").status_code == 204

    bobs = _create_and_run(local_stack, pipeline_id, "bob", key)

    assert (bobs["replayed"], bobs["runId"] != alices["runId"]) == (False, True)
    assert _api(local_stack, "GET", f"runs/{alices['runId']}", "bob").status_code == 404
    runs = _api(local_stack, "GET", f"pipelines/{pipeline_id}/runs", "bob").json()["runs"]
    assert [run["runId"] for run in runs] == [bobs["runId"]]
    deliveries = _api(local_stack, "GET", f"pipelines/{pipeline_id}/deliveries", "bob").json()["deliveries"]
    assert {delivery["runAs"] for delivery in deliveries} <= {"bob"}
    audit = _api(local_stack, "GET", f"pipelines/{pipeline_id}", "bob").json()["audit"]
    assert {entry["actor"] for entry in audit} == {"bob"}
