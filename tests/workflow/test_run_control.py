"""Cancel, reconcile and execution size on the real state machine, run by moto's interpreter with the real handlers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from adapters.runs import DynamoRuns
from domain.management import Caller
from domain.run_control import cancel_run
from domain.runs import RunView
from handlers.composition import container
from hookrun.local_events import ExecutionEvents, status_change_event
from hookrun.local_stack import invoke_function
from hookrun.template import execution_rules
from tests.conftest import REGION, TABLE
from tests.support import processes_running
from tests.workflow.conftest import Workflow, pipeline

ACCOUNT = "123456789012"
STATE_LIMIT = 256 * 1024


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def recorded(dynamodb: Any, run_id: str) -> RunView:
    view = DynamoRuns(dynamodb, TABLE).get_run(run_id)
    assert view is not None
    return view


def sleeping_pipeline(token: str) -> Any:
    """A job that sleeps 60 s (its process known by `token`), then a stage that must never start."""
    return pipeline(
        [
            {"name": "long", "jobs": [{"name": "sleep", "script": [f"sleep 60.{token}"]}]},
            {"name": "later", "jobs": [{"name": "never", "script": ["echo never"]}]},
        ]
    )


def a_token() -> str:
    return str(uuid.uuid4().int)[:12]


def test_cancel_ends_the_run_cancelled_and_later_stages_never_start(workflow: Workflow, dynamodb: Any) -> None:
    token = a_token()
    run_id = workflow.start(sleeping_pipeline(token))
    eventually(lambda: bool(processes_running(token)))

    cancel_run(container().run_control_ports, Caller("admin", is_admin=True), run_id)

    assert workflow.wait(run_id)["status"] == "ABORTED"
    view = recorded(dynamodb, run_id)
    assert (view.status, view.cancelled_by) == ("CANCELLED", "admin")
    assert [s.status for s in view.stages] == ["CANCELLED", "CANCELLED"]
    never = view.stages[1].jobs[0]
    assert (never.status, never.started_at) == ("CANCELLED", None)
    assert view.stages[0].jobs[0].status == "CANCELLED"


def deliver_ended_executions(workflow: Workflow) -> ExecutionEvents:
    """The local stack's EventBridge emulation, on this test's moto, invoking the rule's function."""
    lambda_client = boto3.client("lambda", region_name=REGION)
    backend = stepfunctions_parser_backends[ACCOUNT][REGION]
    return ExecutionEvents(
        lambda: backend.describe_state_machine(workflow.arn).executions,
        execution_rules(),
        lambda function, event: invoke_function(lambda_client, f"hookrun-{function}", event),
        lambda execution: status_change_event(execution, workflow.arn, REGION, ACCOUNT),
    )


def test_an_execution_stopped_outside_hookrun_leaves_its_run_failed_with_the_reason(
    workflow: Workflow, dynamodb: Any
) -> None:
    token = a_token()
    events = deliver_ended_executions(workflow)
    events.start()
    try:
        run_id = workflow.start(sleeping_pipeline(token))
        eventually(lambda: bool(processes_running(token)))
        workflow.stepfunctions.stop_execution(executionArn=workflow.execution_arn(run_id), cause="operator")
        eventually(lambda: recorded(dynamodb, run_id).status == "FAILED", timeout=10)
    finally:
        events.stop()
    view = recorded(dynamodb, run_id)
    assert view.reason is not None and view.reason.startswith("EXECUTION_ABORTED")
    assert [s.status for s in view.stages] == ["FAILED", "CANCELLED"]
    assert [s.jobs[0].status for s in view.stages] == ["FAILED", "CANCELLED"]


def test_a_run_that_ended_on_its_own_is_left_as_it_was_by_the_reconciler(workflow: Workflow, dynamodb: Any) -> None:
    events = deliver_ended_executions(workflow)
    run_id = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "bad", "script": ["exit 4"]}]}]))
    assert workflow.wait(run_id)["status"] == "FAILED"
    before = recorded(dynamodb, run_id)

    assert events.poll() == 1

    assert recorded(dynamodb, run_id) == before


@pytest.mark.parametrize("runner", ["lambda", "codebuild"])
def test_a_pipeline_at_the_apply_limits_with_a_64_kb_body_runs_with_every_state_under_the_limit(
    workflow: Workflow, dynamodb: Any, runner: str
) -> None:
    filler = "x" * 3900
    stages = [
        {
            "name": f"s{s}",
            "jobs": [{"name": f"j{j}", "script": [f": {filler}"] * 2, "runner": runner} for j in range(3)],
        }
        for s in range(4)
    ]
    defaults = {f"D{n}": "d" * 4000 for n in range(15)}  # about the 64 KiB the apply takes
    big = pipeline(stages, variables=defaults)
    assert len(json.dumps([stage.model_dump() for stage in big.stages])) > 90_000
    variables = {f"V{n}": "v" * 3000 for n in range(20)} | {name: value for name, value in defaults.items()}

    run_id = workflow.start(big, variables)

    run = workflow.wait(run_id, timeout=120)
    assert run["status"] == "SUCCEEDED", {key: run.get(key) for key in ("status", "reason", "failedStage", "failedJob")}
    sizes = [
        len(json.dumps(details.get("input") or details.get("output") or ""))
        for event in workflow.history(run_id)
        for key, details in event.items()
        if key.endswith("EventDetails") and isinstance(details, dict)
    ]
    assert max(sizes) < STATE_LIMIT
    assert all(job.status == "SUCCEEDED" for stage in recorded(dynamodb, run_id).stages for job in stage.jobs)
