"""A small request with no secret value travels in its execution input (the webhook makes one call less); the
workflow's first state keeps it; replays and reconciles read the input until then. On fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from adapters.stepfunctions import StepFunctionsRunStarter, execution_input
from domain.deliveries import Outcome
from domain.models import RunRequest, RunStatus
from domain.reconcile import reconcile_execution
from domain.run_slots import INLINE_REQUEST_BYTES, travels_inline
from domain.workflow import keep_carried_request, record_run_started, started_run
from tests.fakes import FakeRunStarter, FakeStore, fake_ports
from tests.support import demo_pipeline
from tests.unit.test_run_control import World
from tests.unit.test_run_slots import post

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:hookrun-local-pipeline"


class FakeStepFunctions:
    """start_execution and describe_execution, as Step Functions answers them: one execution per name."""

    def __init__(self) -> None:
        self.inputs: dict[str, str] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if name in self.inputs:
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": name}}, "StartExecution")
        self.inputs[name] = input
        return {}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        name = executionArn.rsplit(":", 1)[1]
        if name not in self.inputs:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": name}}, "DescribeExecution")
        return {"input": self.inputs[name], "status": "RUNNING"}


def test_a_small_request_with_no_secret_value_travels_inline_and_the_webhook_keeps_nothing(
    store: FakeStore, runs: FakeRunStarter
) -> None:
    accepted = post(fake_ports(store, runs))

    assert runs.inline == [accepted.run_id]
    assert store.run_requests == {} and store.run_secrets == {}


def test_a_request_with_a_secret_value_is_kept_with_it_before_its_start_never_inline(
    store: FakeStore, runs: FakeRunStarter
) -> None:
    accepted = post(fake_ports(store, runs), {"API_KEY": "s3cr3t-value"})

    assert runs.inline == []
    assert store.run_requests[accepted.run_id] == runs.started[0]
    assert store.run_secrets[accepted.run_id] == {"API_KEY": "s3cr3t-value"}
    assert "s3cr3t-value" not in execution_input(runs.started[0])


def test_a_request_at_the_bound_or_over_it_is_kept_and_its_execution_input_stays_small(
    store: FakeStore, runs: FakeRunStarter
) -> None:
    store.add_pipeline(demo_pipeline(variables={f"BIG{n}": "x" * 4000 for n in range(3)}))

    accepted = post(fake_ports(store, runs))

    (run,) = runs.started
    assert runs.inline == [] and store.run_requests[accepted.run_id] == run
    assert len(execution_input(run)) < 1024 < INLINE_REQUEST_BYTES < len(run.model_dump_json(by_alias=True))


def test_the_bound_is_measured_on_the_request_as_json() -> None:
    small = World().request()
    size = len(small.model_dump_json(by_alias=True).encode())
    just_over = small.model_copy(update={"variables": {"abc": "x" * (INLINE_REQUEST_BYTES - size + 3)}})

    assert travels_inline(small, {}) and not travels_inline(small, {"abc": "456"})
    assert not travels_inline(just_over, {})
    assert len(execution_input(small, inline=True)) < INLINE_REQUEST_BYTES + 512


def test_the_first_state_keeps_an_inline_request_once_and_a_repeat_never_replaces_it() -> None:
    world = World()
    request = world.request()
    carried = json.loads(execution_input(request, inline=True))

    assert keep_carried_request(world.workflow(), carried) == request
    other = request.model_copy(update={"variables": {"abc": "other"}})
    keep_carried_request(world.workflow(), json.loads(execution_input(other, inline=True)))  # a retry, a twin

    assert world.store.run_requests == {request.run_id: request}
    assert record_run_started(world.workflow(), request) is RunStatus.RUNNING


def test_an_execution_with_its_request_kept_apart_is_read_from_the_store_and_keeps_nothing_more() -> None:
    world = World()
    request = world.request()
    assert world.store.put_run_request(request, {})
    named = json.loads(execution_input(request))

    assert "request" not in named
    assert keep_carried_request(world.workflow(), named) == request == world.store.run_requests[request.run_id]


def test_a_redelivery_before_the_first_state_ran_replays_from_the_execution_input(store: FakeStore) -> None:
    stepfunctions = FakeStepFunctions()
    runs = StepFunctionsRunStarter(stepfunctions, ARN, store)  # type: ignore[arg-type]
    ports = fake_ports(store, runs)  # type: ignore[arg-type]
    first = post(ports, {"abc": "1"}, key="deploy-1")
    assert store.run_requests == {}  # the first state has not run

    again = post(ports, {"abc": "1"}, key="deploy-1")

    assert again.replayed and again.run_id == first.run_id and again.variables == first.variables
    assert list(stepfunctions.inputs) == [first.run_id]
    started = runs.get_started_run(first.run_id)
    assert started is not None and started.variables["abc"] == "1"


def test_an_execution_that_failed_before_its_first_state_is_reconciled_from_its_input(
    store: FakeStore, runs: FakeRunStarter
) -> None:
    post(fake_ports(store, runs))
    (request,) = runs.started
    world = World(store=store)
    carried = json.loads(execution_input(request, inline=True))

    run: RunRequest = started_run(world.workflow(), carried)
    status = reconcile_execution(world.workflow(), run, "FAILED", "States.Runtime", "the first state broke")

    assert status is RunStatus.FAILED and world.runs.get_run(request.run_id) is not None
    (delivery,) = world.deliveries.deliveries
    assert delivery.outcome is Outcome.RUN_STARTED and delivery.run_id == request.run_id


def test_a_replay_of_a_run_that_never_started_finds_none(store: FakeStore) -> None:
    runs = StepFunctionsRunStarter(FakeStepFunctions(), ARN, store)  # type: ignore[arg-type]

    assert runs.get_started_run("run-none") is None


@pytest.mark.parametrize("secret", [False, True])
def test_no_secret_value_is_ever_in_an_execution_input(store: FakeStore, runs: FakeRunStarter, secret: bool) -> None:
    post(fake_ports(store, runs), {"API_KEY": "s3cr3t-value"} if secret else {})

    assert "s3cr3t-value" not in execution_input(runs.started[0], inline=runs.started[0].run_id in runs.inline)
