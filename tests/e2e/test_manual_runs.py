"""Starting runs by hand on the local stack: the API route and `hookrun runs start`, then `runs list`."""

from __future__ import annotations

import json
import subprocess

import requests

from tests.e2e.conftest import HOOKRUN, RunningStack, wait_for_run


def cli(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOOKRUN), *args, "--endpoint", stack.endpoint], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_runner_starts_a_run_that_runs_as_them_with_the_variables(local_stack: RunningStack) -> None:
    response = requests.post(
        f"{local_stack.endpoint}/api/pipelines/demo/runs",
        json={"variables": {"abc": "manual"}},
        headers={"X-Hookrun-User": "alice"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    run = wait_for_run(local_stack.endpoint, response.json()["runId"])
    assert (run["status"], run["trigger"]["kind"], run["trigger"]["runAs"]) == ("SUCCEEDED", "manual", "alice")
    assert "abc is manual" in run["stages"][0]["jobs"][0]["output"]


def test_runs_start_watch_exits_0_and_the_run_is_listed(local_stack: RunningStack) -> None:
    started = cli(local_stack, "runs", "start", "demo", "-f", "abc=watched", "--watch", "--as", "alice")
    assert started.returncode == 0, started.stdout + started.stderr
    listed = cli(local_stack, "runs", "list", "demo", "--status", "SUCCEEDED", "--json", "--as", "alice")
    assert listed.returncode == 0 and any(
        run["trigger"]["kind"] == "manual" for run in json.loads(listed.stdout)["runs"]
    )


def test_a_viewer_is_refused_with_exit_1_and_the_remedy(local_stack: RunningStack) -> None:
    refused = cli(local_stack, "runs", "start", "demo", "--as", "bob")
    assert refused.returncode == 1 and "FORBIDDEN" in refused.stderr and "runner" in refused.stderr
