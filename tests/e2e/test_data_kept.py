"""The local stack's data folder end to end: what a restart (SIGTERM or kill -9) keeps, and a corrupt folder.

One scenario per module, on stacks of its own with one data folder: the first stack gets a pipeline `kept`
(signed source webhook, a runner `carol`), a run of the demo webhook and a signed push; it stops with SIGTERM and
a second stack starts on the same port and folder. A run that sleeps is then killed with the stack (kill -9), and
a third stack finds it FAILED / LOCAL_STACK_STOPPED.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hookrun.template import ROOT
from tests.e2e.conftest import HOOKRUN, RunningStack, moto_client, start_stack, stop_stack, wait_for_run
from tests.e2e.test_deliveries import SECRET, Push, wait_for_outcome

ADMIN = {"X-Hookrun-User": "admin"}
JSON = {"Content-Type": "application/json"}
PIPELINE = "kept"
SLEEPER = "sleeper"
RUNNING_TIMEOUT_SECONDS = 60
# the stack writes its state once a second: wait a little longer before killing it
SNAPSHOT_WAIT_SECONDS = 2.5


def call(stack: RunningStack, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, f"{stack.endpoint}{path}", json=body, headers=ADMIN, timeout=30)


def ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until_running(stack: RunningStack, run_id: str) -> dict[str, Any]:
    """The run once its job is RUNNING (the workflow recorded it and the job started)."""
    deadline = time.monotonic() + RUNNING_TIMEOUT_SECONDS
    while True:
        response = call(stack, "GET", f"/api/runs/{run_id}")
        if response.status_code == 200 and any(
            job["status"] == "RUNNING" for stage in response.json().get("stages", []) for job in stage["jobs"]
        ):
            run: dict[str, Any] = response.json()
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} had no RUNNING job within {RUNNING_TIMEOUT_SECONDS} s: {response.text}")
        time.sleep(0.2)


@dataclass(frozen=True)
class Before:
    """What the first stack was told and answered, before it stopped."""

    webhook_url: str
    kept_url: str
    demo_run: dict[str, Any]
    push_run_id: str
    deliveries: list[dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    before: Before
    sigterm_exit: int
    after: RunningStack  # started again after SIGTERM


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kept") / "data"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Iterator[Scenario]:
    first = start_stack(tmp_path_factory.mktemp("first"), data)
    try:
        ok(call(first, "PUT", "/api/users/carol", {"status": "active"}), 201)
        definition = {
            "name": "Kept",
            "source": {"branches": ["main", "master"]},
            "stages": [{"name": "build", "jobs": [{"name": "echo", "script": ['echo "kept $HOOKRUN_BRANCH"']}]}],
        }
        ok(call(first, "PUT", f"/api/pipelines/{PIPELINE}", definition), 201)
        ok(call(first, "PUT", f"/api/pipelines/{PIPELINE}/members/carol", {"role": "runner"}))
        enabled = requests.post(
            f"{first.endpoint}/api/pipelines/{PIPELINE}/webhook/enable", headers={"X-Hookrun-User": "carol"}, timeout=30
        )
        kept_url = ok(enabled, 201)["url"]
        ok(call(first, "PUT", f"/api/pipelines/{PIPELINE}/webhook/secret", {"secret": SECRET}))
        demo = requests.post(first.webhook_url, data='{"abc":"789"}', headers=JSON, timeout=30)
        demo_run = wait_for_run(first.endpoint, ok(demo, 202)["runId"])
        push = Push.sample().send(kept_url)
        push_run_id = ok(push, 202)["runId"]
        wait_for_run(first.endpoint, push_run_id, user="carol")
        deliveries = wait_for_outcome(first.endpoint, PIPELINE, "RUN_STARTED")
    finally:
        sigterm_exit = stop_stack(first, signal.SIGTERM)
    port = int(first.endpoint.rsplit(":", 1)[1])
    after = start_stack(tmp_path_factory.mktemp("after-sigterm"), data, port=port)
    yield Scenario(Before(first.webhook_url, kept_url, demo_run, push_run_id, deliveries), sigterm_exit, after)
    stop_stack(after)


def test_sigterm_stops_the_stack_with_exit_code_0(scenario: Scenario) -> None:
    assert scenario.sigterm_exit == 0


def test_the_webhook_url_is_the_same_after_a_restart(scenario: Scenario) -> None:
    assert scenario.after.webhook_url == scenario.before.webhook_url
    assert "state restored" in scenario.after.output()


def test_the_pipeline_its_members_and_its_webhook_are_kept(scenario: Scenario) -> None:
    pipeline = ok(call(scenario.after, "GET", f"/api/pipelines/{PIPELINE}"))
    members = ok(call(scenario.after, "GET", f"/api/pipelines/{PIPELINE}/members"))["members"]
    webhook = ok(call(scenario.after, "GET", f"/api/pipelines/{PIPELINE}/webhook"))

    assert pipeline["pipeline"]["name"] == "Kept"
    assert {"userId": "carol", "role": "runner"} in members
    assert (webhook["enabled"], webhook["runAs"], webhook["signed"]) == (True, "carol", True)


def test_users_are_kept(scenario: Scenario) -> None:
    assert ok(call(scenario.after, "GET", "/api/users/carol"))["status"] == "active"
    assert ok(call(scenario.after, "GET", "/api/users/alice"))["status"] == "active"


def test_the_run_and_its_output_are_kept(scenario: Scenario) -> None:
    run = ok(call(scenario.after, "GET", f"/api/runs/{scenario.before.demo_run['runId']}"))

    assert run == scenario.before.demo_run
    assert run["stages"][0]["jobs"][0]["output"] == "abc is 789\n"


def test_the_delivery_log_is_kept(scenario: Scenario) -> None:
    log = ok(call(scenario.after, "GET", f"/api/pipelines/{PIPELINE}/deliveries"))["deliveries"]

    assert log == scenario.before.deliveries
    assert [d["runId"] for d in log if d["outcome"] == "RUN_STARTED"] == [scenario.before.push_run_id]


def test_the_kept_url_still_starts_runs(scenario: Scenario) -> None:
    response = requests.post(scenario.after.webhook_url, data='{"abc":"kept"}', headers=JSON, timeout=30)

    run = wait_for_run(scenario.after.endpoint, ok(response, 202)["runId"])

    assert run["stages"][0]["jobs"][0]["output"] == "abc is kept\n"


def test_the_signing_secret_is_kept_and_a_signed_push_starts_a_run(scenario: Scenario) -> None:
    response = Push.sample().to_ref("refs/heads/main").send(scenario.before.kept_url)

    run = wait_for_run(scenario.after.endpoint, ok(response, 202)["runId"], user="carol")

    assert run["stages"][0]["jobs"][0]["output"] == "kept main\n"


def test_a_delivery_from_before_the_restart_is_still_a_replay(scenario: Scenario) -> None:
    response = Push.sample().send(scenario.before.kept_url)

    body = ok(response, 202)
    assert (body["runId"], body["replayed"]) == (scenario.before.push_run_id, True)


def test_the_signing_secret_is_still_in_secrets_manager(scenario: Scenario) -> None:
    secrets, _ = moto_client(scenario.after, "secretsmanager")
    (name,) = [s["Name"] for s in secrets.list_secrets()["SecretList"] if f"/pipelines/{PIPELINE}/" in s["Name"]]

    assert secrets.get_secret_value(SecretId=name)["SecretString"] == SECRET


@pytest.fixture(scope="module")
def killed_run(scenario: Scenario, data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A run whose job sleeps, killed with its stack (kill -9); the run as the next stack reads it."""
    stack = scenario.after
    definition = {"name": "Sleeper", "stages": [{"name": "wait", "jobs": [{"name": "sleep", "script": ["sleep 20"]}]}]}
    ok(call(stack, "PUT", f"/api/pipelines/{SLEEPER}", definition), 201)
    url = ok(call(stack, "POST", f"/api/pipelines/{SLEEPER}/webhook/enable"), 201)["url"]
    run_id = ok(requests.post(url, data="{}", headers=JSON, timeout=30), 202)["runId"]
    wait_until_running(stack, run_id)
    time.sleep(SNAPSHOT_WAIT_SECONDS)
    stack.process.kill()
    stack.process.wait()
    again = start_stack(tmp_path_factory.mktemp("after-kill"), data)
    yield ok(call(again, "GET", f"/api/runs/{run_id}")) | {"stackOutput": again.output()}
    stop_stack(again)


def test_a_run_in_flight_at_kill_9_reads_failed_local_stack_stopped(killed_run: dict[str, Any]) -> None:
    assert killed_run["status"] == "FAILED"
    assert killed_run["reason"].startswith("LOCAL_STACK_STOPPED")


def test_its_running_stage_and_job_read_failed_too(killed_run: dict[str, Any]) -> None:
    (stage,) = killed_run["stages"]
    (job,) = stage["jobs"]

    assert (stage["status"], job["status"]) == ("FAILED", "FAILED")
    assert job["reason"].startswith("LOCAL_STACK_STOPPED")


def test_the_next_start_says_how_many_runs_it_stopped(killed_run: dict[str, Any]) -> None:
    assert "1 run(s) in flight when the stack stopped are recorded FAILED" in killed_run["stackOutput"]


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOOKRUN), "dev", "--port", "0", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_a_corrupt_data_folder_is_a_clear_error_naming_fresh(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"format": "hookrun-local-data", "version": 1, "tables": ', "utf-8")

    result = dev("--data", str(tmp_path))

    assert result.returncode == 1
    assert "--fresh" in result.stderr
    assert "DATA_FOLDER_CORRUPT" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_data_folder_of_another_format_version_names_fresh(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"format": "hookrun-local-data", "version": 99}), "utf-8")

    result = dev("--data", str(tmp_path))

    assert result.returncode == 1
    assert ("DATA_FOLDER_UNSUPPORTED" in result.stderr, "--fresh" in result.stderr) == (True, True)
    assert "Traceback" not in result.stdout + result.stderr


def test_fresh_starts_empty_over_a_corrupt_data_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "state.json").write_text("not json", "utf-8")
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()

    stack = start_stack_fresh(stack_dir, tmp_path / "data")
    try:
        assert "started empty" in stack.output()
        assert json.loads((tmp_path / "data" / "state.json").read_text("utf-8"))["version"] == 1
    finally:
        stop_stack(stack)


def start_stack_fresh(directory: Path, data: Path) -> RunningStack:
    return start_stack(directory, data, extra=("--fresh",))
