"""Sandboxes on the local stack: each function in processes of its own, with its own environment and Timeout.

The probe functions of tests/e2e/functions/template.yaml run beside template.yaml's (`hookrun dev --functions`),
invoked through moto's Lambda API as the state machine invokes the job runner; they answer what their sandbox
gave them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hookrun.template import load_template, resources_of_type
from tests.e2e.conftest import FINISHED, RunningStack, moto_client, start_stack, stop_stack, wait_for_run
from tests.e2e.test_runs import new_pipeline, post

PROBES = Path(__file__).resolve().parent / "functions" / "template.yaml"
STACK_ONLY = "HOOKRUN_E2E_STACK_ONLY"  # set in the stack's own environment, never a function's
LONG_JOBS = 8


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    os.environ[STACK_ONLY] = "stack-process-only"
    try:
        running = start_stack(tmp_path_factory.mktemp("sandboxes"), extra=("--functions", str(PROBES)))
    finally:
        del os.environ[STACK_ONLY]
    yield running
    assert stop_stack(running) == 0, running.output()


def invoke(stack: RunningStack, logical_id: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Invoke a function through moto's Lambda API: its decoded payload and FunctionError."""
    client, info = moto_client(stack, "lambda")
    response = client.invoke(FunctionName=info["functions"][logical_id], Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def variables_of(logical_id: str) -> dict[str, str]:
    return dict(
        resources_of_type(load_template(PROBES), "AWS::Serverless::Function")[logical_id]["Properties"]["Environment"][
            "Variables"
        ]
    )


def test_each_function_sees_only_its_own_variables(stack: RunningStack) -> None:
    a, _ = invoke(stack, "ProbeAFunction", {})
    b, _ = invoke(stack, "ProbeBFunction", {})
    for own, other, seen in (("ProbeAFunction", "ProbeBFunction", a), ("ProbeBFunction", "ProbeAFunction", b)):
        environment = seen["environment"]
        assert variables_of(own).items() <= environment.items()
        assert not variables_of(other).keys() & environment.keys()
        assert STACK_ONLY not in environment and "HOOKRUN_LOCAL_STACK" not in environment
        globals_ = load_template()["Globals"]["Function"]["Environment"]["Variables"]
        assert globals_.keys() - {"TABLE_NAME", "POWERTOOLS_LOG_LEVEL"} <= environment.keys()
    assert a["pid"] != b["pid"]


def test_a_sandbox_has_the_variables_lambda_sets(stack: RunningStack) -> None:
    seen, _ = invoke(stack, "ProbeBFunction", {})
    _, info = moto_client(stack, "lambda")
    environment = seen["environment"]
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == info["functions"]["ProbeBFunction"] == seen["functionName"]
    assert environment["_HANDLER"] == "probe.handler"
    assert (environment["AWS_REGION"], environment["AWS_ENDPOINT_URL"]) == (info["region"], info["motoEndpoint"])
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(load_template()["Globals"]["Function"]["MemorySize"])
    assert Path(environment["LAMBDA_TASK_ROOT"]) == PROBES.parent


def test_a_warm_sandbox_keeps_module_state_and_only_its_first_invocation_is_a_cold_start(stack: RunningStack) -> None:
    answers = [invoke(stack, "ProbeBFunction", {})[0] for _ in range(3)]
    assert len({answer["pid"] for answer in answers}) == 1
    counts = [answer["invocations"] for answer in answers]
    assert counts == list(range(counts[0], counts[0] + 3))
    assert [answer["coldStart"] for answer in answers] == [count == 1 for count in counts]


def test_a_handler_past_its_timeout_is_ended_and_reported_as_sandbox_timedout(stack: RunningStack) -> None:
    before, _ = invoke(stack, "ProbeAFunction", {})
    answer, function_error = invoke(stack, "ProbeAFunction", {"sleep": 30})
    assert function_error == "Unhandled"
    assert answer["errorType"] == "Sandbox.Timedout"
    assert answer["errorMessage"] == "Task timed out after 2.00 seconds"
    after, _ = invoke(stack, "ProbeAFunction", {})
    assert after["pid"] != before["pid"] and (after["invocations"], after["coldStart"]) == (1, True)
    with pytest.raises(ProcessLookupError):
        os.kill(before["pid"], 0)


def test_a_handler_error_comes_back_as_lambda_reports_it(stack: RunningStack) -> None:
    answer, function_error = invoke(stack, "ProbeBFunction", {"raise": "the probe failed"})
    assert function_error == "Unhandled"
    assert (answer["errorType"], answer["errorMessage"]) == ("ValueError", "the probe failed")
    assert answer["stackTrace"] and all("sandbox_runtime" not in line for line in answer["stackTrace"])
    assert "probe.py" in answer["stackTrace"][-1]


def test_webhooks_are_accepted_while_long_jobs_run(stack: RunningStack) -> None:
    # the jobs run as an unprivileged user: the file they wait for must be where anyone can look
    folder = Path(tempfile.mkdtemp(prefix="hookrun-e2e-"))
    folder.chmod(0o755)
    release = folder / "release"
    url = new_pipeline(
        stack,
        [
            {
                "name": "long",
                "jobs": [
                    {
                        "name": f"wait{index}",
                        "script": ['while [ ! -e "$RELEASE" ]; do sleep 0.2; done'],
                        "timeoutSeconds": 300,
                    }
                    for index in range(LONG_JOBS)
                ],
            }
        ],
        variables={"RELEASE": str(release)},
    )
    long_run = post(url).json()["runId"]
    wait_for_jobs(stack, long_run, "RUNNING", LONG_JOBS)

    accepted = [post(stack.webhook_url, {"abc": str(n)}) for n in range(5)]

    assert [response.status_code for response in accepted] == [202] * 5
    assert count_jobs(stack, long_run, "RUNNING") == LONG_JOBS
    for response in accepted:
        assert wait_for_run(stack.endpoint, response.json()["runId"])["status"] == "SUCCEEDED"
    release.touch()
    assert wait_for_run(stack.endpoint, long_run, user="admin", timeout=120)["status"] == "SUCCEEDED"
    shutil.rmtree(folder)


def count_jobs(stack: RunningStack, run_id: str, status: str) -> int:
    run = requests.get(f"{stack.endpoint}/api/runs/{run_id}", headers={"X-Hookrun-User": "admin"}, timeout=10).json()
    assert run.get("status") not in FINISHED, run
    return sum(1 for stage in run.get("stages", []) for found in stage["jobs"] if found["status"] == status)


def wait_for_jobs(stack: RunningStack, run_id: str, status: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while count_jobs(stack, run_id, status) < count:
        assert time.monotonic() < deadline, f"{count} jobs of {run_id} were not {status} within {timeout} s"
        time.sleep(0.2)
