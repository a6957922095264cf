"""Run control on the local stack: cancel, executions that end outside the workflow, large pipelines."""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from hookrun.local_events import RECONCILE_BOUND_SECONDS
from tests.e2e.conftest import HOOKRUN, RunningStack, moto_client, wait_for_run
from tests.e2e.test_runs import ADMIN, new_pipeline, post
from tests.support import processes_running

CANCEL_BOUND_SECONDS = 10


def run_of(stack: RunningStack, run_id: str, user: str = "admin") -> dict[str, Any]:
    response = requests.get(f"{stack.endpoint}/api/runs/{run_id}", headers={"X-Hookrun-User": user}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def cancel(stack: RunningStack, run_id: str, user: str = "admin") -> requests.Response:
    return requests.post(f"{stack.endpoint}/api/runs/{run_id}/cancel", headers={"X-Hookrun-User": user}, timeout=30)


def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def sleeping_run(stack: RunningStack) -> tuple[str, str]:
    """A run whose first job sleeps 60 s (its process found by the token returned) and whose second stage prints."""
    token = str(uuid.uuid4().int)[:12]
    url = new_pipeline(
        stack,
        [
            {"name": "long", "jobs": [{"name": "sleep", "script": [f"sleep 60.{token}"]}]},
            {"name": "later", "jobs": [{"name": "never", "script": ["echo never"]}]},
        ],
    )
    run_id = post(url).json()["runId"]
    until(lambda: processes_running(token), 30, "the job started")
    return run_id, token


def test_a_cancelled_run_ends_cancelled_within_the_bound_and_later_stages_never_start(
    local_stack: RunningStack,
) -> None:
    run_id, token = sleeping_run(local_stack)

    cancelled = time.monotonic()
    response = cancel(local_stack, run_id)
    assert response.status_code == 202, response.text
    run = until(
        lambda: (r := run_of(local_stack, run_id))["status"] == "CANCELLED" and r, CANCEL_BOUND_SECONDS, "CANCELLED"
    )
    left = CANCEL_BOUND_SECONDS - (time.monotonic() - cancelled)
    until(lambda: not processes_running(token), left, "the job's process is gone")  # seen from outside, by /proc

    assert (run["cancelledBy"], run["reason"]) == ("admin", "CANCELLED")
    assert [s["status"] for s in run["stages"]] == ["CANCELLED", "CANCELLED"]
    later = run["stages"][1]["jobs"][0]
    assert (later["status"], later["startedAt"]) == ("CANCELLED", None)
    time.sleep(2)  # a later stage that were to start would have done so by now
    assert run_of(local_stack, run_id)["stages"][1]["jobs"][0]["startedAt"] is None


def test_cancelling_a_cancelled_run_again_is_accepted_and_changes_nothing(local_stack: RunningStack) -> None:
    run_id, _ = sleeping_run(local_stack)
    assert cancel(local_stack, run_id).status_code == 202
    first = run_of(local_stack, run_id)

    again = cancel(local_stack, run_id, user="admin")

    assert again.status_code == 202
    assert run_of(local_stack, run_id)["cancelledAt"] == first["cancelledAt"]


def test_a_viewer_may_not_cancel(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url).json()["runId"]
    wait_for_run(local_stack.endpoint, run_id)

    response = cancel(local_stack, run_id, user="bob")

    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


def test_cancelling_a_finished_run_is_409_run_finished(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url).json()["runId"]
    assert wait_for_run(local_stack.endpoint, run_id)["status"] == "SUCCEEDED"

    response = cancel(local_stack, run_id, user="alice")

    assert (response.status_code, response.json()["code"]) == (409, "RUN_FINISHED")
    assert run_of(local_stack, run_id, user="alice")["status"] == "SUCCEEDED"


def test_an_execution_stopped_outside_hookrun_leaves_its_run_terminal_within_the_bound(
    local_stack: RunningStack,
) -> None:
    run_id, _ = sleeping_run(local_stack)
    stepfunctions, info = moto_client(local_stack, "stepfunctions")
    arn = info["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run_id}"

    stepfunctions.stop_execution(executionArn=arn, cause="stopped in the console")

    run = until(
        lambda: (r := run_of(local_stack, run_id))["status"] == "FAILED" and r,
        RECONCILE_BOUND_SECONDS,
        "the run reads terminal",
    )
    assert run["reason"].startswith("EXECUTION_ABORTED")
    assert [(s["status"], s["jobs"][0]["status"]) for s in run["stages"]] == [
        ("FAILED", "FAILED"),
        ("CANCELLED", "CANCELLED"),
    ]


def test_a_240_kb_pipeline_with_a_60_kb_body_runs_with_a_small_execution_input(local_stack: RunningStack) -> None:
    filler = "x" * 4000
    stages = [
        {"name": f"s{s}", "jobs": [{"name": f"j{j}", "script": [f": {filler}"] * 10 + ["echo ok"]} for j in range(2)]}
        for s in range(3)
    ]
    assert len(json.dumps(stages)) > 240_000  # the 240 KB pipeline, over the old 96 KiB bound
    url = new_pipeline(local_stack, stages, webhook={"allowUndeclaredVariables": True})

    run_id = post(url, {f"V{n}": "b" * 4000 for n in range(15)}).json()["runId"]  # a 60 KB body

    run = wait_for_run(local_stack.endpoint, run_id, user="admin", timeout=120)
    assert run["status"] == "SUCCEEDED", run.get("reason")
    stepfunctions, info = moto_client(local_stack, "stepfunctions")
    arn = info["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run_id}"
    assert len(stepfunctions.describe_execution(executionArn=arn)["input"]) < 2048


def test_a_stage_too_large_for_a_workflow_state_is_refused_at_apply(local_stack: RunningStack) -> None:
    filler = "x" * 4000
    stages = [{"name": "huge", "jobs": [{"name": f"j{j}", "script": [f": {filler}"] * 9} for j in range(3)]}]
    definition = {"id": "e2e-huge-stage", "name": "e2e", "stages": stages}

    response = requests.put(
        f"{local_stack.endpoint}/api/pipelines/e2e-huge-stage", json=definition, headers=ADMIN, timeout=30
    )

    assert (response.status_code, response.json()["code"]) == (422, "INVALID_PIPELINE")
    assert any("fit in a workflow state" in error["reason"] for error in response.json()["errors"])


def test_a_pipeline_whose_defaults_cannot_fit_a_runs_start_is_refused_at_apply(local_stack: RunningStack) -> None:
    variables = {f"V{n}": "d" * 4000 for n in range(20)}
    definition = {
        "id": "e2e-too-big",
        "name": "e2e",
        "variables": variables,
        "stages": [{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}],
    }

    response = requests.put(
        f"{local_stack.endpoint}/api/pipelines/e2e-too-big", json=definition, headers=ADMIN, timeout=30
    )

    assert (response.status_code, response.json()["code"]) == (422, "INVALID_PIPELINE")
    assert any("fit in a run's start" in error["reason"] for error in response.json()["errors"])


@dataclass
class SideEffects:
    """What the jobs asked a little HTTP server on this machine for, and when: it proves what ran."""

    port: int
    seen: list[tuple[str, float]]

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]

    def call_home(self, path: str) -> str:
        """A script line that GETs `path` (in which the shell expands variables) from this server, with bash alone."""
        return f'printf "GET {path} HTTP/1.0\\r\\n\\r\\n" > /dev/tcp/127.0.0.1/{self.port}'


@pytest.fixture
def side_effects() -> Iterator[SideEffects]:
    seen: list[tuple[str, float]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, time.monotonic()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SideEffects(server.server_address[1], seen)
    server.shutdown()


def rerun(stack: RunningStack, run_id: str, *options: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(HOOKRUN), "runs", "rerun", run_id, *options, "--json", "--endpoint", stack.endpoint, "--as", "admin"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    started: dict[str, Any] = json.loads(done.stdout)
    return started


def test_a_rerun_of_a_succeeded_run_runs_again_with_the_same_variables(
    local_stack: RunningStack, side_effects: SideEffects
) -> None:
    url = new_pipeline(
        local_stack,
        [
            {
                "name": "build",
                "jobs": [{"name": "print", "script": ['echo "abc is $abc"', side_effects.call_home("/build")]}],
            }
        ],
        variables={"abc": "123"},
    )
    original = wait_for_run(local_stack.endpoint, post(url, {"abc": "789"}).json()["runId"], user="admin")
    assert original["status"] == "SUCCEEDED"

    started = rerun(local_stack, original["runId"])

    assert (started["rerunOf"], started["status"]) == (original["runId"], "QUEUED")
    run = wait_for_run(local_stack.endpoint, started["runId"], user="admin")
    assert run["status"] == "SUCCEEDED"
    assert run["variables"] == original["variables"]
    assert run["stages"][0]["jobs"][0]["output"] == "abc is 789\n"
    trigger = run["trigger"]
    assert (trigger["kind"], trigger["runAs"], trigger["rerunOf"]) == ("rerun", "admin", original["runId"])
    assert side_effects.paths() == ["/build", "/build"]


def test_a_rerun_from_failed_runs_only_the_failed_stage_onward(
    local_stack: RunningStack, side_effects: SideEffects
) -> None:
    url = new_pipeline(
        local_stack,
        [
            {"name": "first", "jobs": [{"name": "one", "script": [side_effects.call_home("/first")]}]},
            {"name": "second", "jobs": [{"name": "two", "script": [side_effects.call_home("/second"), "exit 3"]}]},
            {"name": "third", "jobs": [{"name": "three", "script": [side_effects.call_home("/third")]}]},
        ],
    )
    original = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin")
    assert [s["status"] for s in original["stages"]] == ["SUCCEEDED", "FAILED", "SKIPPED"]

    started = rerun(local_stack, original["runId"], "--failed")

    run = wait_for_run(local_stack.endpoint, started["runId"], user="admin")
    assert [s["status"] for s in run["stages"]] == ["SUCCEEDED", "FAILED", "SKIPPED"]
    assert run["stages"][0]["reusedFrom"] == original["runId"]
    assert side_effects.paths() == ["/first", "/second", "/second"]  # the first stage's job did not run again


def test_a_viewer_may_not_rerun(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url).json()["runId"]
    wait_for_run(local_stack.endpoint, run_id)

    response = requests.post(
        f"{local_stack.endpoint}/api/runs/{run_id}/rerun", headers={"X-Hookrun-User": "bob"}, timeout=30
    )

    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


def test_a_rerun_of_a_run_whose_secrets_are_gone_is_409_secrets_expired(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}],
        variables={"TOKEN": {"secret": True, "default": "s3cret-value"}},
    )
    run_id = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin")["runId"]
    dynamodb, info = moto_client(local_stack, "dynamodb")
    dynamodb.delete_item(TableName=info["tableName"], Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "SECRETS"}})

    response = requests.post(f"{local_stack.endpoint}/api/runs/{run_id}/rerun", headers=ADMIN, timeout=30)

    assert (response.status_code, response.json()["code"]) == (409, "SECRETS_EXPIRED")


# Concurrency

GROUP_BOUND_SECONDS = RECONCILE_BOUND_SECONDS + 5  # the reconciler, the settle second and a look of the wait loop


def test_a_queue_pipeline_runs_ten_simultaneous_webhooks_one_at_a_time_in_acceptance_order(
    local_stack: RunningStack, side_effects: SideEffects
) -> None:
    start, end = (side_effects.call_home(f"/{at}/$HOOKRUN_RUN_ID") for at in ("start", "end"))
    url = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "j", "script": [start, "sleep 0.3", end]}]}],
        concurrency={"mode": "queue"},
    )
    answers: list[requests.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(post(url))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = [wait_for_run(local_stack.endpoint, a.json()["runId"], user="admin", timeout=240) for a in answers]

    assert [run["status"] for run in runs] == ["SUCCEEDED"] * 10
    starts = {path.split("/")[2]: at for path, at in side_effects.seen if path.startswith("/start/")}
    ends = {path.split("/")[2]: at for path, at in side_effects.seen if path.startswith("/end/")}
    by_start = sorted(starts, key=starts.__getitem__)
    for earlier, later in itertools.pairwise(by_start):
        assert ends[earlier] <= starts[later], "two jobs of the queue overlapped"
    accepted = [run["runId"] for run in sorted(runs, key=lambda run: (run["createdAt"], run["runId"]))]
    assert by_start == accepted


def test_a_supersede_pipeline_keeps_only_the_newest_of_five_runs(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "j", "script": ["sleep 3"]}]}],
        concurrency={"mode": "supersede"},
    )
    run_ids = []
    for _ in range(5):
        run_ids.append(post(url).json()["runId"])
        time.sleep(1)

    runs = [wait_for_run(local_stack.endpoint, run_id, user="admin", timeout=60) for run_id in run_ids]

    assert runs[-1]["status"] == "SUCCEEDED"
    for run in runs[:-1]:
        assert (run["status"], run["reason"]) == ("CANCELLED", "SUPERSEDED"), run
        assert run["supersededBy"] in run_ids[run_ids.index(run["runId"]) + 1 :]
        assert all(job["status"] not in {"RUNNING", "PENDING"} for stage in run["stages"] for job in stage["jobs"])


def test_a_superseded_run_s_job_process_is_killed(local_stack: RunningStack) -> None:
    # each run's shell carries its run id in its command line (as $0), its sleep only the token
    script = "sh -c 'sleep 60; :' job-of-$HOOKRUN_RUN_ID"
    url = new_pipeline(
        local_stack, [{"name": "s", "jobs": [{"name": "j", "script": [script]}]}], concurrency={"mode": "supersede"}
    )
    first = post(url).json()["runId"]
    until(lambda: processes_running(f"job-of-{first}"), 30, "the first run's job started")

    second = post(url).json()["runId"]

    superseded = until(
        lambda: (r := run_of(local_stack, first))["status"] == "CANCELLED" and r, CANCEL_BOUND_SECONDS, "superseded"
    )
    assert superseded["reason"] == "SUPERSEDED"
    until(lambda: not processes_running(f"job-of-{first}"), CANCEL_BOUND_SECONDS, "the first run's job is gone")
    assert cancel(local_stack, second).status_code == 202


def test_a_killed_execution_that_held_its_group_blocks_the_next_run_no_longer_than_the_bound(
    local_stack: RunningStack,
) -> None:
    token = str(uuid.uuid4().int)[:12]
    url = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "j", "script": [f"sleep 60.{token}"]}]}],
        concurrency={"mode": "queue"},
    )
    holder = post(url).json()["runId"]
    until(lambda: processes_running(token), 30, "the holder's job started")
    stepfunctions, info = moto_client(local_stack, "stepfunctions")
    arn = info["stateMachineArn"].replace(":stateMachine:", ":execution:") + f":{holder}"

    stepfunctions.stop_execution(executionArn=arn, cause="killed")  # it never releases the group itself
    started = time.monotonic()
    waiting = post(url).json()["runId"]

    until(
        lambda: run_of(local_stack, waiting)["status"] == "RUNNING",
        GROUP_BOUND_SECONDS,
        "the next run took the group",
    )
    assert time.monotonic() - started < GROUP_BOUND_SECONDS
    assert run_of(local_stack, holder)["status"] == "FAILED"


def test_a_lock_left_by_a_dead_holder_is_taken_over(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack, [{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}], concurrency={"mode": "queue"}
    )
    pipeline_id = url_pipeline(local_stack, url)
    dynamodb, info = moto_client(local_stack, "dynamodb")
    dynamodb.put_item(  # held by a run whose execution died before it was even recorded, with a lease for years
        TableName=info["tableName"],
        Item={
            "pk": {"S": f"GROUP#{pipeline_id}#"},
            "sk": {"S": "LOCK"},
            "owner": {"S": "run-" + "d" * 29},
            "leaseUntil": {"S": "2099-01-01T00:00:00.000Z"},
        },
    )

    run = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin", timeout=GROUP_BOUND_SECONDS)

    assert run["status"] == "SUCCEEDED"


def url_pipeline(stack: RunningStack, url: str) -> str:
    """The pipeline id of a webhook URL new_pipeline made, from its first run."""
    run_id = post(url).json()["runId"]
    run = wait_for_run(stack.endpoint, run_id, user="admin")
    return str(run["pipelineId"])
