"""Runs end to end on the local stack: job output, failing stages, timeouts, parallel jobs, secrets."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import HOOKRUN, RunningStack, moto_client, wait_for_run

JSON = {"Content-Type": "application/json"}
ADMIN = {"X-Hookrun-User": "admin"}


def post(url: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(url, data=json.dumps(body or {}), headers=JSON, timeout=30)


def job(run: dict[str, Any], stage: str, name: str) -> dict[str, Any]:
    (found,) = (j for s in run["stages"] if s["name"] == stage for j in s["jobs"] if j["name"] == name)
    return found


def new_pipeline(stack: RunningStack, stages: list[dict[str, Any]], **extra: Any) -> str:
    """Create a pipeline as admin through the management API, enable its webhook, return the URL."""
    pipeline_id = f"e2e-{uuid.uuid4().hex[:8]}"
    definition = {"id": pipeline_id, "name": "e2e", "stages": stages, **extra}
    created = requests.put(f"{stack.endpoint}/api/pipelines/{pipeline_id}", json=definition, headers=ADMIN, timeout=30)
    assert created.status_code == 201, created.text
    enabled = requests.post(f"{stack.endpoint}/api/pipelines/{pipeline_id}/webhook/enable", headers=ADMIN, timeout=30)
    assert enabled.status_code == 201, enabled.text
    return str(enabled.json()["url"])


def test_defaults_reach_the_job_output(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url).json()["runId"]
    run = wait_for_run(local_stack.endpoint, run_id)
    assert run["status"] == "SUCCEEDED"
    assert job(run, "build", "print")["output"] == "abc is 123\n"


def test_override_reaches_the_job_output(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url, {"abc": "456"}).json()["runId"]
    run = wait_for_run(local_stack.endpoint, run_id)
    assert job(run, "build", "print")["output"] == "abc is 456\n"
    assert (job(run, "build", "print")["exitCode"], run["trigger"]["runAs"]) == (0, "alice")


def test_failed_first_stage_fails_the_run_and_skips_the_second(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [
            {"name": "test", "jobs": [{"name": "broken", "script": ["echo checking", "exit 7"]}]},
            {"name": "deploy", "jobs": [{"name": "ship", "script": ["echo shipped"]}]},
        ],
    )
    run = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin")
    assert run["status"] == "FAILED"
    assert [s["status"] for s in run["stages"]] == ["FAILED", "SKIPPED"]
    broken = job(run, "test", "broken")
    assert (broken["status"], broken["exitCode"], broken["output"]) == ("FAILED", 7, "checking\n")
    ship = job(run, "deploy", "ship")
    assert (ship["status"], ship["output"], ship["startedAt"]) == ("SKIPPED", "", None)


def test_a_job_over_its_timeout_fails_with_a_timeout_reason(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "slow", "script": ["echo begin", "sleep 60"], "timeoutSeconds": 2}]}],
    )
    run = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin")
    slow = job(run, "s", "slow")
    assert (run["status"], slow["status"], slow["reason"]) == ("FAILED", "FAILED", "timed out after 2 s")
    assert slow["output"] == "begin\n" and slow["durationMs"] < 30_000


def test_two_jobs_of_one_stage_really_run_in_parallel(local_stack: RunningStack) -> None:
    # long enough to cover a cold start of the second job's sandboxes on a loaded machine
    script = ["date +%s.%N", "sleep 8", "date +%s.%N"]
    url = new_pipeline(
        local_stack, [{"name": "s", "jobs": [{"name": "a", "script": script}, {"name": "b", "script": script}]}]
    )
    run = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin")
    assert run["status"] == "SUCCEEDED"
    (a_start, a_end), (b_start, b_end) = ([float(x) for x in job(run, "s", n)["output"].split()] for n in "ab")
    assert a_start < b_end and b_start < a_end  # the two sleeps overlap in time


@pytest.mark.parametrize("secret", ["hunter2-e2e-secret"])
def test_a_secret_never_appears_in_execution_input_history_output_or_api(
    local_stack: RunningStack, secret: str
) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "use", "script": ['echo "token=$API_KEY"', 'test -n "$API_KEY"']}]}],
        variables={"API_KEY": {"type": "string", "secret": True}},
    )
    accepted = post(url, {"API_KEY": secret})
    assert accepted.status_code == 202 and secret not in accepted.text
    run_id = accepted.json()["runId"]
    run = wait_for_run(local_stack.endpoint, run_id, user="admin")
    assert run["status"] == "SUCCEEDED"
    assert job(run, "s", "use")["output"] == "token=***\n"
    assert secret not in json.dumps(run)
    sfn, info = moto_client(local_stack, "stepfunctions")
    arn = info["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run_id}"
    execution = sfn.describe_execution(executionArn=arn)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)
    assert secret not in execution["input"] + execution.get("output", "")
    assert secret not in json.dumps(history, default=str)


def test_hookrun_runs_watch_follows_a_run_to_succeeded(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url, {"abc": "456"}).json()["runId"]
    watched = subprocess.run(
        [str(HOOKRUN), "runs", "watch", run_id, "--as", "alice", "--endpoint", local_stack.endpoint, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert json.loads(watched.stdout)["status"] == "SUCCEEDED"
    logs = subprocess.run(
        [str(HOOKRUN), "runs", "logs", run_id, "--as", "alice", "--endpoint", local_stack.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "abc is 456" in logs.stdout
