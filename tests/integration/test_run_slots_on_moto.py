"""The per-pipeline cap on runs not ended, on moto: the conditional slot item, and the webhook answering 429."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest

from adapters.deliveries import DynamoDeliveryLog
from adapters.run_slots import DynamoRunSlots
from bench.aws_calls import Call, sequential_calls
from domain.deliveries import Outcome
from domain.models import Role
from domain.tokens import hash_token
from handlers.composition import Container, Settings
from tests.conftest import TABLE
from tests.directory import DynamoDirectory, seed_demo
from tests.integration.test_webhook_on_moto import fail_with
from tests.support import DEMO_TOKEN, call_webhook, demo_pipeline, using_container, webhook_event

SECRETS = {":s": {"S": "SECRETS"}}  # a run's secret values item


def slots_key(pipeline_id: str, incarnation: str) -> dict[str, Any]:
    return {"pk": {"S": f"PIPELINE#{pipeline_id}#{incarnation}#SLOTS"}, "sk": {"S": "SLOTS"}}


@pytest.fixture
def slots(dynamodb: Any) -> DynamoRunSlots:
    return DynamoRunSlots(dynamodb, TABLE)


def test_slots_are_taken_up_to_the_limit_and_refused_beyond_it_with_the_holders(slots: DynamoRunSlots) -> None:
    taken = [slots.take_slot("demo", "inc-1", f"t#run-{n}", 2) for n in range(3)]

    assert [take.taken for take in taken] == [True, True, False]
    assert taken[2].held == ("t#run-0", "t#run-1")


def test_a_slot_held_already_is_taken_again_at_the_limit_and_says_so(slots: DynamoRunSlots) -> None:
    slots.take_slot("demo", "inc-1", "t#run-0", 1)

    again = slots.take_slot("demo", "inc-1", "t#run-0", 1)

    assert (again.taken, again.held_already) == (True, True)


def test_freeing_a_slot_twice_frees_it_once_and_makes_room(slots: DynamoRunSlots) -> None:
    slots.take_slot("demo", "inc-1", "t#run-0", 2)
    slots.take_slot("demo", "inc-1", "t#run-1", 2)

    slots.free_slots("demo", "inc-1", ["t#run-0"])
    slots.free_slots("demo", "inc-1", ["t#run-0", "t#never-held"])

    assert slots.take_slot("demo", "inc-1", "t#run-2", 2).taken
    assert slots.take_slot("demo", "inc-1", "t#run-3", 2).held == ("t#run-1", "t#run-2")


def test_each_incarnation_of_a_pipeline_has_its_own_slots(slots: DynamoRunSlots, dynamodb: Any) -> None:
    slots.take_slot("demo", "deleted", "t#run-0", 1)

    assert slots.take_slot("demo", "made-again", "t#run-1", 1).taken
    item = dynamodb.get_item(TableName=TABLE, Key=slots_key("demo", "made-again"))
    assert item["Item"]["slots"]["SS"] == ["t#run-1"]


def test_freeing_a_slot_of_a_pipeline_whose_item_is_gone_makes_no_item(slots: DynamoRunSlots, dynamodb: Any) -> None:
    slots.free_slots("demo", "deleted", ["t#run-0"])

    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=slots_key("demo", "deleted"))


def test_deleting_a_pipeline_deletes_its_slots(dynamodb: Any) -> None:
    from adapters.management import DynamoManagement
    from domain.management import apply_pipeline, delete_pipeline
    from domain.policy import Caller
    from tests.unit.test_management import seeded

    ports = seeded(DynamoManagement(dynamodb, TABLE))
    stored, _ = apply_pipeline(ports, Caller("admin", is_admin=True), demo_pipeline(id="doomed"))
    DynamoRunSlots(dynamodb, TABLE).take_slot("doomed", stored.incarnation, "t#run-0", 1)

    delete_pipeline(ports, Caller("admin", is_admin=True), "doomed")

    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=slots_key("doomed", stored.incarnation))


@pytest.fixture
def capped(state_machine_arn: str, dynamodb: Any) -> Iterator[Container]:
    """The demo pipeline with maxRunningRuns 2, its executions failing at once (no function is deployed) and
    nothing reconciling them: a started run keeps its slot."""
    directory = DynamoDirectory(dynamodb, TABLE)
    seed_demo(directory, {"alice": Role.RUNNER})
    directory.save_pipeline(demo_pipeline(maxRunningRuns=2), token_hash=hash_token(DEMO_TOKEN))
    with using_container(Container(Settings(table_name=TABLE, state_machine_arn=state_machine_arn))) as wired:
        yield wired


def test_the_webhook_beyond_the_limit_is_429_with_retry_after_and_starts_and_keeps_nothing(
    capped: Container, dynamodb: Any, stepfunctions: Any, state_machine_arn: str
) -> None:
    accepted = [call_webhook(webhook_event()) for _ in range(2)]

    status, body, headers = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))

    assert [answer[0] for answer in accepted] == [202, 202]
    assert (status, body["code"], body["maxRunningRuns"], headers["Retry-After"]) == (429, "RUN_LIMIT_REACHED", 2, "30")
    assert "Pipeline 'demo'" in body["message"] and "maxRunningRuns: 2" in body["message"]
    executions = stepfunctions.list_executions(stateMachineArn=state_machine_arn)["executions"]
    assert sorted(e["name"] for e in executions) == sorted(answer[1]["runId"] for answer in accepted)
    secrets = dynamodb.scan(
        TableName=TABLE, FilterExpression="sk = :s", ExpressionAttributeValues={":s": {"S": "SECRETS"}}
    )
    assert secrets["Items"] == []
    deliveries, _ = DynamoDeliveryLog(dynamodb, TABLE, time.time).list_deliveries("demo", 10, None)
    assert (deliveries[0].outcome, deliveries[0].reason) == (Outcome.REJECTED, "RUN_LIMIT_REACHED")


def test_a_webhook_whose_start_fails_frees_its_slot_and_keeps_no_secret_values(
    capped: Container, dynamodb: Any
) -> None:
    call_webhook(webhook_event())  # the clients are made; one of the two slots is held
    fail_with(capped._stepfunctions, "StartExecution", "ThrottlingException")

    status, body, _ = call_webhook(webhook_event(body='{"API_KEY":"s3cr3t-value"}'))

    assert (status, body["code"]) == (503, "UNAVAILABLE")
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "PIPELINE#demo#SLOTS"}, "sk": {"S": "SLOTS"}})["Item"]
    assert len(item["slots"]["SS"]) == 1
    assert dynamodb.scan(TableName=TABLE, FilterExpression="sk = :s", ExpressionAttributeValues=SECRETS)["Items"] == []


def record_calls(container: Container, *, meet: bool = False) -> list[Call]:
    """The calls of `container`'s clients from now on, with their starts and ends. With `meet`, the first UpdateItem
    and BatchGetItem wait (a few seconds at most) until both have started: calls made at once overlap, whatever the
    threads' scheduling, and calls made one after the other do not."""
    calls: list[Call] = []
    both_started = threading.Barrier(2, timeout=5)

    def before(model: Any, context: dict[str, Any], **_: Any) -> None:
        context["test_call"] = call = Call("aws", model.name, threading.get_ident(), time.perf_counter())
        calls.append(call)
        first = [c.operation for c in calls].count(model.name) == 1
        if meet and first and model.name in {"UpdateItem", "BatchGetItem"}:
            with suppress(threading.BrokenBarrierError):
                both_started.wait()

    def after(context: dict[str, Any], **_: Any) -> None:
        context["test_call"].end = time.perf_counter()

    for client in (container._dynamodb, container._stepfunctions):
        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)
        client.meta.events.register("after-call-error", after)
    return calls


def test_the_accepted_path_takes_its_slot_alongside_the_pipeline_read_and_starts_with_its_request_inline(
    capped: Container,
) -> None:
    assert call_webhook(webhook_event())[0] == 202  # the clients are made; the limit is kept with the slots
    calls = record_calls(capped, meet=True)

    assert call_webhook(webhook_event())[0] == 202

    operations = [call.operation for call in calls]
    assert sorted(operations) == ["BatchGetItem", "GetItem", "StartExecution", "UpdateItem"]  # no request kept
    assert len({call.thread for call in calls}) == 2 and sequential_calls(calls) == len(calls) - 1 == 3


def test_a_request_with_a_secret_value_is_kept_before_its_start_one_sequential_call_more(capped: Container) -> None:
    assert call_webhook(webhook_event())[0] == 202
    calls = record_calls(capped, meet=True)

    assert call_webhook(webhook_event(body=json.dumps({"API_KEY": "s3cr3t-value"})))[0] == 202

    operations = [call.operation for call in calls]
    assert sorted(operations) == ["BatchGetItem", "GetItem", "StartExecution", "TransactWriteItems", "UpdateItem"]
    assert sequential_calls(calls) == len(calls) - 1 == 4


def test_a_request_refused_after_its_slot_was_taken_alongside_the_pipeline_read_frees_it(
    capped: Container, dynamodb: Any
) -> None:
    _, first, _ = call_webhook(webhook_event())
    DynamoDirectory(dynamodb, TABLE).delete_grant("demo", "alice")
    calls = record_calls(capped)

    status, body, _ = call_webhook(webhook_event())

    assert (status, body["code"]) == (403, "INSUFFICIENT_PERMISSIONS")
    assert [call.operation for call in calls].count("UpdateItem") == 2  # taken alongside the read, then freed
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "PIPELINE#demo#SLOTS"}, "sk": {"S": "SLOTS"}})["Item"]
    assert [slot.rpartition("#")[2] for slot in item["slots"]["SS"]] == [first["runId"]]


def test_a_pipeline_applied_again_with_another_max_running_runs_is_capped_by_the_new_one(
    state_machine_arn: str, dynamodb: Any
) -> None:
    from adapters.management import DynamoManagement
    from domain.management import apply_pipeline
    from domain.policy import Caller
    from domain.webhook_trigger import enable_webhook
    from tests.unit.test_management import seeded

    ports = seeded(DynamoManagement(dynamodb, TABLE))
    owner, admin = Caller("owen"), Caller("admin", is_admin=True)
    apply_pipeline(ports, admin, demo_pipeline(maxRunningRuns=3))
    token = enable_webhook(ports, Caller("alice"), "demo").token
    assert token is not None
    with using_container(Container(Settings(table_name=TABLE, state_machine_arn=state_machine_arn))) as wired:
        assert [call_webhook(webhook_event(token=token))[0] for _ in range(2)] == [202, 202]
        apply_pipeline(ports, owner, demo_pipeline(maxRunningRuns=2))
        lowered = call_webhook(webhook_event(token=token))
        apply_pipeline(ports, owner, demo_pipeline(maxRunningRuns=4))
        calls = record_calls(wired)
        raised = call_webhook(webhook_event(token=token))

    assert (lowered[0], lowered[1]["maxRunningRuns"]) == (429, 2)
    assert raised[0] == 202
    assert [call.operation for call in calls].count("UpdateItem") == 1  # taken by the kept limit, at once
