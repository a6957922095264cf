"""moto's executions admitted in turn, as the local stack runs them (hookrun.moto_speed.admit_executions_in_turn)."""

from __future__ import annotations

import time

import pytest
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

from hookrun import moto_speed
from tests.workflow.conftest import Workflow, pipeline

NEVER = 3600.0


@pytest.fixture
def one_at_a_time(workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> moto_speed.ExecutionGate:
    """A gate of one execution for this test; moto's own start and stop come back after it."""
    monkeypatch.setattr(ExecutionWorker, "start", ExecutionWorker.start)
    monkeypatch.setattr(ExecutionWorker, "stop", ExecutionWorker.stop)
    gate = moto_speed.ExecutionGate(limit=1, every=NEVER)
    moto_speed.admit_executions_in_turn(gate)
    return gate


def test_an_execution_waits_its_turn_and_one_stopped_meanwhile_ends_aborted(
    workflow: Workflow, one_at_a_time: moto_speed.ExecutionGate
) -> None:
    first = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "slow", "script": ["sleep 2"]}]}]))
    waiting = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "quick", "script": ["true"]}]}]))
    deadline = time.monotonic() + 30
    while one_at_a_time.waiting != 1:
        assert time.monotonic() < deadline, "the second execution did not wait"
        time.sleep(0.01)
    assert workflow.stepfunctions.describe_execution(executionArn=workflow.execution_arn(waiting))["status"] == (
        "RUNNING"
    )
    assert workflow.history(waiting) == []
    workflow.stepfunctions.stop_execution(executionArn=workflow.execution_arn(waiting))
    assert workflow.wait(waiting)["status"] == "ABORTED"
    assert workflow.wait(first)["status"] == "SUCCEEDED"
    after = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "quick", "script": ["true"]}]}]))
    assert workflow.wait(after)["status"] == "SUCCEEDED"
    assert workflow.history(waiting) == []  # it never ran
    assert one_at_a_time.running == 0


def test_the_threads_moto_lists_are_pruned_of_ended_ones_as_an_execution_ends(
    workflow: Workflow, one_at_a_time: moto_speed.ExecutionGate
) -> None:
    for _ in range(3):
        assert workflow.wait(workflow.start(pipeline([{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}])))
    deadline = time.monotonic() + 30
    while one_at_a_time.running or any(not thread.is_alive() for thread in TMP_THREADS):
        assert time.monotonic() < deadline, f"{sum(not t.is_alive() for t in TMP_THREADS)} ended threads kept"
        time.sleep(0.05)
