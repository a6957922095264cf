"""The real state machine frees a run's slot under its pipeline's maxRunningRuns however the run ends."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.run_slots import DynamoRunSlots
from domain.models import RunRequest
from domain.run_slots import slot_of
from tests.conftest import TABLE
from tests.workflow.conftest import Workflow, pipeline


def start_holding_a_slot(workflow: Workflow, dynamodb: Any, script: list[str]) -> RunRequest:
    """A run started as the webhook starts it: its slot taken first."""
    stages = pipeline([{"name": "s", "jobs": [{"name": "j", "script": script}]}]).stages
    run = RunRequest(
        run_id=f"run-{time.time_ns():029x}",
        pipeline_id="wf",
        pipeline_name="Workflow test",
        stages=stages,
        variables={},
        run_as="alice",
        created_at="2026-11-27T12:00:00.000Z",
    )
    assert DynamoRunSlots(dynamodb, TABLE).take_slot("wf", "", slot_of(run), 1).taken
    workflow.stepfunctions.start_execution(
        stateMachineArn=workflow.arn, name=run.run_id, input=run.model_dump_json(by_alias=True)
    )
    return run


def slots_held(dynamodb: Any) -> list[str]:
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "PIPELINE#wf#SLOTS"}, "sk": {"S": "SLOTS"}})
    return list(item.get("Item", {}).get("slots", {}).get("SS", []))


@pytest.mark.parametrize(("script", "ended"), [(["true"], "SUCCEEDED"), (["exit 3"], "FAILED")])
def test_finish_run_frees_the_slot_of_a_run_that_succeeds_or_fails(
    workflow: Workflow, dynamodb: Any, script: list[str], ended: str
) -> None:
    run = start_holding_a_slot(workflow, dynamodb, script)

    assert workflow.wait(run.run_id)["status"] == ended
    assert slots_held(dynamodb) == []


@pytest.mark.usefixtures("crashed_job_runner")
def test_record_failure_frees_the_slot_of_a_run_whose_job_runner_crashed(workflow: Workflow, dynamodb: Any) -> None:
    run = start_holding_a_slot(workflow, dynamodb, ["true"])

    assert workflow.wait(run.run_id)["status"] == "FAILED"
    assert slots_held(dynamodb) == []
