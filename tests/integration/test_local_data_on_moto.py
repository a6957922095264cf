"""The local stack's state read out of moto and put back into a new one, and runs in flight failed at a start."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from adapters.dynamodb import DynamoRunSecrets
from adapters.runs import DynamoRuns
from adapters.stepfunctions import execution_input
from domain.models import RunRequest, RunStatus
from handlers.composition import Container, Settings
from hookrun.local_data import STOPPED_ERROR, ExecutionRecord, MotoState, State, fail_runs_in_flight
from hookrun.template import create_table, state_machine_definition, substitution_names
from tests.conftest import MOTO_CONFIG, REGION, TABLE
from tests.support import load_event

ACCOUNT_ID = "123456789012"
MISSING = "arn:aws:lambda:eu-west-1:123456789012:function:not-deployed"
SECRET_NAME = "hookrun/test/pipelines/demo/webhook-signing-secret"


def run_request(run_id: str, with_delivery: bool = False) -> RunRequest:
    document = load_event("run-status-start.json")["run"] | {"runId": run_id}
    if not with_delivery:
        document.pop("delivery", None)
    return RunRequest.model_validate(document)


def new_stack() -> tuple[Any, Any, str]:
    """The table and state machine as the local stack creates them, in the moto of the current mock_aws."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, TABLE)
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    definition = state_machine_definition(dict.fromkeys(substitution_names(), MISSING))
    arn = stepfunctions.create_state_machine(
        name="hookrun-pipeline", definition=definition, roleArn="arn:aws:iam::123456789012:role/hookrun-sfn"
    )["stateMachineArn"]
    return dynamodb, stepfunctions, str(arn)


def moto_state(arn: str) -> MotoState:
    return MotoState(ACCOUNT_ID, REGION, [TABLE], arn)


@pytest.fixture
def captured() -> State:
    """A stack's state: a finished run and a running one, a signing secret, one execution record."""
    with mock_aws(config=MOTO_CONFIG):
        dynamodb, _, arn = new_stack()
        runs = DynamoRuns(dynamodb, TABLE)
        runs.create_run(run_request("run-finished"), RunStatus.RUNNING, "2026-01-01T00:00:00.000Z")
        runs.move_run("run-finished", RunStatus.SUCCEEDED)
        runs.create_run(run_request("run-in-flight"), RunStatus.RUNNING, "2026-01-01T00:00:00.000Z")
        runs.move_stage("run-in-flight", 0, RunStatus.RUNNING)
        runs.move_job("run-in-flight", 0, "print", RunStatus.RUNNING)
        boto3.client("secretsmanager", region_name=REGION).create_secret(Name=SECRET_NAME, SecretString="s3cret")
        state = moto_state(arn).capture("hr_token")
    return state.model_copy(
        update={
            "executions": [
                ExecutionRecord(
                    name="run-finished",
                    input=execution_input(run_request("run-finished")),
                    status="SUCCEEDED",
                    startDate=1.0,
                    stopDate=2.0,
                )
            ]
        }
    )


def test_capture_reads_every_item_and_secret(captured: State) -> None:
    assert captured.webhookToken == "hr_token"
    assert len(captured.tables[TABLE]) == 2 * 3  # per run: RUN, one stage, one job
    assert [(s.name, s.secretString) for s in captured.secrets] == [(SECRET_NAME, "s3cret")]


def test_a_restored_moto_answers_as_the_old_one(captured: State) -> None:
    with mock_aws(config=MOTO_CONFIG):
        dynamodb, _, arn = new_stack()

        moto_state(arn).restore(captured)

        assert DynamoRuns(dynamodb, TABLE).get_run("run-finished").status is RunStatus.SUCCEEDED  # type: ignore[union-attr]
        secret = boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=SECRET_NAME)
        assert secret["SecretString"] == "s3cret"
        assert moto_state(arn).capture("hr_token").tables == captured.tables


def test_a_restored_execution_keeps_its_name_taken(captured: State) -> None:
    with mock_aws(config=MOTO_CONFIG):
        _, stepfunctions, arn = new_stack()
        moto_state(arn).restore(captured)

        with pytest.raises(stepfunctions.exceptions.ExecutionAlreadyExists):
            stepfunctions.start_execution(stateMachineArn=arn, name="run-finished", input=json.dumps({"other": 1}))
        described = stepfunctions.describe_execution(
            executionArn=arn.replace(":stateMachine:", ":execution:") + ":run-finished"
        )
        assert described["status"] == "SUCCEEDED"


def in_flight_stack(state: State) -> tuple[DynamoRuns, int]:
    """A restored stack in which fail_runs_in_flight ran; its runs and what it returned."""
    dynamodb, _, arn = new_stack()
    moto_state(arn).restore(state)
    ports = Container(Settings(table_name=TABLE, state_machine_arn=arn)).workflow_ports
    return DynamoRuns(dynamodb, TABLE), fail_runs_in_flight(ports, state, TABLE)


def test_a_recorded_run_in_flight_is_failed_local_stack_stopped(captured: State) -> None:
    with mock_aws(config=MOTO_CONFIG):
        runs, stopped = in_flight_stack(captured)
        run = runs.get_run("run-in-flight")

    assert stopped == 1
    assert run is not None and run.status is RunStatus.FAILED
    assert run.reason is not None and run.reason.startswith(STOPPED_ERROR)
    assert (run.stages[0].status, run.stages[0].jobs[0].status) == (RunStatus.FAILED, RunStatus.FAILED)


def test_a_finished_run_is_left_as_it_was(captured: State) -> None:
    with mock_aws(config=MOTO_CONFIG):
        runs, _ = in_flight_stack(captured)
        run = runs.get_run("run-finished")

    assert run is not None and (run.status, run.reason) == (RunStatus.SUCCEEDED, None)


def test_a_run_started_but_not_recorded_is_recorded_failed_with_its_delivery(captured: State) -> None:
    accepted = run_request("run-accepted", with_delivery=True)
    with mock_aws(config=MOTO_CONFIG):  # its request kept at its accept, as the webhook keeps it
        dynamodb, _, arn = new_stack()
        moto_state(arn).restore(captured)
        assert DynamoRunSecrets(dynamodb, TABLE, time.time).put_run_request(accepted, {})
        kept = moto_state(arn).capture("hr_token")
    record = ExecutionRecord(name="run-accepted", input=execution_input(accepted), status="RUNNING", startDate=3.0)
    state = kept.model_copy(update={"executions": [*captured.executions, record]})
    with mock_aws(config=MOTO_CONFIG):
        runs, stopped = in_flight_stack(state)
        run = runs.get_run("run-accepted")
        deliveries = Container(Settings(table_name=TABLE, state_machine_arn="")).deliveries.list_deliveries("demo")

    assert stopped == 2
    assert run is not None and run.status is RunStatus.FAILED and run.stages[0].jobs[0].status is RunStatus.CANCELLED
    assert [d.run_id for d in deliveries[0]] == ["run-accepted"]


def change_some_items(dynamodb: Any) -> None:
    """A run moved, a stage item deleted and a new run created: a write, a delete and new items."""
    runs = DynamoRuns(dynamodb, TABLE)
    runs.move_run("run-in-flight", RunStatus.FAILED, {"reason": "changed"})
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "RUN#run-finished"}, "sk": {"S": "STAGE#00"}})
    runs.create_run(run_request("run-new"), RunStatus.RUNNING, "2026-01-02T00:00:00.000Z")


def test_a_later_capture_reads_what_was_written_since_as_a_full_read_would(captured: State) -> None:
    with mock_aws(config=MOTO_CONFIG):
        dynamodb, _, arn = new_stack()
        reader = moto_state(arn)
        reader.restore(captured)
        reader.capture("hr_token")
        change_some_items(dynamodb)

        later = reader.capture("hr_token").tables[TABLE]
        reader.close()
        full = moto_state(arn).capture("hr_token").tables[TABLE]

    assert sorted(map(json.dumps, later)) == sorted(map(json.dumps, full))
    assert len(full) == 2 * 3 - 1 + 3


def test_a_snapshot_holds_what_a_capture_holds_after_writes_deletes_and_ended_executions(captured: State) -> None:
    with mock_aws(config=MOTO_CONFIG):
        dynamodb, stepfunctions, arn = new_stack()
        reader = moto_state(arn)
        reader.restore(captured)
        reader.snapshot("hr_token")
        change_some_items(dynamodb)
        stepfunctions.start_execution(stateMachineArn=arn, name="run-new", input=execution_input(run_request("a")))
        for _ in range(200):  # it fails at once (its functions are not deployed): then it no longer changes
            if "RUNNING" not in [e["status"] for e in stepfunctions.list_executions(stateMachineArn=arn)["executions"]]:
                break
            time.sleep(0.05)

        snapshot = State.model_validate_json(reader.snapshot("hr_token"))
        capture = reader.capture("hr_token")

    def sort(state: State) -> dict[str, Any]:
        document = state.model_dump(exclude={"savedAt"})
        document["tables"] = {name: sorted(map(json.dumps, items)) for name, items in document["tables"].items()}
        document["executions"] = sorted(document["executions"], key=lambda execution: execution["name"])
        return document

    assert sort(snapshot) == sort(capture)
    assert len(snapshot.tables[TABLE]) == 2 * 3 - 1 + 3
    assert {execution.name for execution in snapshot.executions} == {"run-finished", "run-new"}


def test_finished_executions_beyond_the_newest_keep_only_a_record_and_their_names_stay_taken() -> None:
    with mock_aws(config=MOTO_CONFIG):
        _, stepfunctions, arn = new_stack()
        names = [f"run-{n}" for n in range(3)]
        for name in names:
            stepfunctions.start_execution(stateMachineArn=arn, name=name, input=execution_input(run_request(name)))
        for _ in range(200):  # each fails at once: its functions are not deployed
            statuses = [e["status"] for e in stepfunctions.list_executions(stateMachineArn=arn)["executions"]]
            if "RUNNING" not in statuses:
                break
            time.sleep(0.05)
        state = moto_state(arn)

        assert state.compact_finished_executions(keep=1) == 2
        assert state.compact_finished_executions(keep=1) == 0  # records stay records

        for name in names:
            with pytest.raises(stepfunctions.exceptions.ExecutionAlreadyExists):
                stepfunctions.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"other": 1}))
        listed = stepfunctions.list_executions(stateMachineArn=arn)["executions"]
        assert sorted(e["name"] for e in listed) == names
