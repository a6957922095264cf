"""The per-pipeline cap on runs not ended (`maxRunningRuns`), on fakes: taken before a start, freed at every end."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from domain.deliveries import Outcome
from domain.errors import HookrunError, RunLimitReached, Unavailable
from domain.management import Caller
from domain.manual_runs import start_manual_run
from domain.models import DEFAULT_MAX_RUNNING_RUNS, AcceptedRun, Concurrency, ConcurrencyMode, Pipeline, RunStatus
from domain.reconcile import reconcile_execution
from domain.run_control import cancel_run, rerun
from domain.run_slots import LOST_CHECK, slot_of, take_slot
from domain.runs import ExecutionResult
from domain.trigger_pipeline import TriggerPorts, WebhookRequest, receive_webhook
from domain.workflow import RunFailed, finish_run, record_run_failure, record_run_started, run_job
from tests.fakes import NOW, FakeDeliveryLog, FakeRunRecorder, FakeRunSlots, FakeRunStarter, FakeStore, fake_ports
from tests.support import DEMO_TOKEN, demo_pipeline
from tests.unit.test_run_control import RUN, World, task, two_stages

LATER = "2026-11-27T12:05:00.000Z"  # more than START_GRACE_SECONDS after NOW


@pytest.fixture
def slots() -> FakeRunSlots:
    return FakeRunSlots()


def capped(store: FakeStore, limit: int) -> FakeStore:
    store.add_pipeline(demo_pipeline(maxRunningRuns=limit))
    return store


def post(ports: TriggerPorts, body: dict[str, object] | None = None, key: str | None = None) -> AcceptedRun:
    headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": key} if key else {})
    result = receive_webhook(ports, WebhookRequest(DEMO_TOKEN, headers, json.dumps(body or {}).encode()))
    assert isinstance(result, AcceptedRun)
    return result


# The pipeline setting


def test_a_pipeline_may_run_ten_runs_at_once_unless_it_says_otherwise() -> None:
    unsaid = demo_pipeline().model_dump(by_alias=True, exclude={"max_running_runs"})
    assert Pipeline.model_validate(unsaid).max_running_runs == DEFAULT_MAX_RUNNING_RUNS == 10
    assert demo_pipeline(maxRunningRuns=2).max_running_runs == 2


@pytest.mark.parametrize("value", [0, -1, 1001, "5", True, 2.5])
def test_a_limit_out_of_1_to_1000_or_not_a_whole_number_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        demo_pipeline(maxRunningRuns=value)
    assert [error["loc"] for error in raised.value.errors()] == [("maxRunningRuns",)]


# Taking a slot before a start


def test_webhooks_beyond_the_limit_answer_run_limit_reached_and_start_nothing(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    ports = fake_ports(capped(store, 2), runs, slots=slots)
    post(ports)
    post(ports)

    with pytest.raises(RunLimitReached) as raised:
        post(ports)

    assert len(runs.started) == 2 and len(slots.of()) == 2
    assert (raised.value.code, raised.value.status, raised.value.limit) == ("RUN_LIMIT_REACHED", 429, 2)
    assert "Pipeline 'demo'" in raised.value.message and "maxRunningRuns: 2" in raised.value.message
    assert raised.value.retry_after_seconds == 30


def test_a_refused_webhook_keeps_no_secret_values_and_its_delivery_says_why(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots, deliveries: FakeDeliveryLog
) -> None:
    ports = fake_ports(capped(store, 1), runs, deliveries=deliveries, slots=slots)
    post(ports)

    with pytest.raises(RunLimitReached):
        post(ports, {"API_KEY": "s3cr3t-value"})

    assert store.run_secrets == {}
    refused = deliveries.deliveries[-1]
    assert (refused.outcome, refused.reason, refused.run_id) == (Outcome.REJECTED, "RUN_LIMIT_REACHED", None)


def test_each_started_run_holds_a_slot_named_after_it(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    post(fake_ports(store, runs, slots=slots))

    (run,) = runs.started
    assert slots.of() == {slot_of(run)} == {f"{run.created_at}#{run.run_id}"}


def test_a_start_that_fails_frees_its_slot_and_its_secret_values(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    runs.fail_with = Unavailable()

    with pytest.raises(Unavailable):
        post(fake_ports(store, runs, slots=slots), {"API_KEY": "s3cr3t-value"})

    assert slots.of() == set() and store.run_secrets == {}


def test_a_replay_takes_no_second_slot(store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots) -> None:
    ports = fake_ports(store, runs, slots=slots)
    first = post(ports, key="deploy-1")

    again = post(ports, key="deploy-1")

    assert again.replayed and again.run_id == first.run_id
    assert slots.of() == {slot_of(runs.started[0])}


def test_a_redelivery_at_the_limit_is_still_its_runs_replay(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    ports = fake_ports(capped(store, 1), runs, slots=slots)
    first = post(ports, key="deploy-1")

    again = post(ports, key="deploy-1")

    assert again.replayed and again.run_id == first.run_id and len(runs.started) == 1


def test_a_slot_whose_run_ended_without_freeing_it_is_freed_at_the_next_refusal(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    recorder = FakeRunRecorder()
    ports = fake_ports(capped(store, 1), runs, slots=slots, recorder=recorder)
    lost = post(ports)
    recorder.create_run(runs.started[0], RunStatus.RUNNING, "t")
    recorder.move_run(lost.run_id, RunStatus.SUCCEEDED)  # its release lost (say the table was unavailable)

    post(ports)

    assert slots.of() == {slot_of(runs.started[1])}


def test_a_slot_whose_run_was_never_recorded_is_freed_once_its_start_is_long_past(slots: FakeRunSlots) -> None:
    world = World(slots=slots)
    never = world.request(run_id="run-never", created_at="2026-11-27T11:50:00.000Z")
    take_slot(slots, world.runs, never, 1, "2026-11-27T11:50:00.000Z")  # its webhook crashed before the start

    take_slot(slots, world.runs, world.request(), 1, LATER)

    assert slots.of() == {slot_of(world.request())}


def test_a_slot_taken_a_moment_ago_is_not_taken_for_lost(slots: FakeRunSlots) -> None:
    world = World(slots=slots)
    starting = world.request(run_id="run-starting", created_at="2026-11-27T12:04:30.000Z")
    take_slot(slots, world.runs, starting, 1, starting.created_at)  # started, not recorded yet

    with pytest.raises(RunLimitReached):
        take_slot(slots, world.runs, world.request(), 1, LATER)
    assert slots.of() == {slot_of(starting)}


def test_a_refusal_reads_at_most_one_batch_of_held_runs_with_the_oldest_among_them(slots: FakeRunSlots) -> None:
    world = World(slots=slots)
    limit = 300
    held = [
        world.request(run_id=f"run-{n:03d}", created_at=f"2026-11-27T12:04:{n % 60:02d}.{n:03d}Z") for n in range(limit)
    ]
    for run in held:
        take_slot(slots, world.runs, run, limit, run.created_at)
    oldest = sorted(held, key=slot_of)[0]
    world.runs.create_run(oldest, RunStatus.SUCCEEDED, "t")  # ended, its release lost
    asked: list[list[str]] = []
    original = world.runs.run_statuses

    def run_statuses(run_ids: Sequence[str]) -> dict[str, RunStatus]:
        asked.append(list(run_ids))
        return original(run_ids)

    world.runs.run_statuses = run_statuses  # type: ignore[method-assign]

    take_slot(slots, world.runs, world.request(), limit, LATER)

    (ids,) = asked
    assert len(ids) == LOST_CHECK
    assert {run.run_id for run in sorted(held, key=slot_of)[: LOST_CHECK // 2]} <= set(ids)
    assert slot_of(oldest) not in slots.of()
    assert slot_of(world.request()) in slots.of()


def test_a_pipeline_made_again_with_the_same_id_starts_with_no_slot_held(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    capped(store, 1)
    slots.held[("demo", "old-incarnation")] = {"2026-11-27T11:00:00.000Z#run-of-the-deleted-pipeline"}

    post(fake_ports(store, runs, slots=slots))

    assert len(runs.started) == 1


def test_the_stack_s_limit_caps_a_pipeline_that_asks_for_more(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    ports = fake_ports(capped(store, 50), runs, slots=slots, stack_run_limit=1)
    post(ports)

    with pytest.raises(RunLimitReached) as raised:
        post(ports)
    assert raised.value.limit == 1 and len(runs.started) == 1


def test_runs_started_by_hand_count_and_are_refused_beyond_the_limit(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    ports = fake_ports(capped(store, 1), runs, slots=slots)
    post(ports)

    with pytest.raises(RunLimitReached):
        start_manual_run(ports, Caller("alice"), "demo", {"API_KEY": "s3cr3t-value"})
    assert len(runs.started) == 1 and store.run_secrets == {}


# Every end frees the run's slot


@pytest.fixture
def world(slots: FakeRunSlots) -> World:
    world = World(slots=slots)
    world.store.add_pipeline(two_stages())
    world.store.add_user("alice", "runner")  # type: ignore[arg-type]
    return world


def running(world: World) -> None:
    """RUN started as a webhook starts it (its slot taken) and recorded as the workflow's first state records it."""
    take_slot(world.slots, world.runs, world.request(), 10, world.clock)
    world.started()
    assert world.slots.of() == {slot_of(world.request())}


def test_a_run_that_succeeds_frees_its_slot(world: World) -> None:
    running(world)
    run_job(world.workflow(), task(0, "print"))
    run_job(world.workflow(), task(1, "ship"))

    assert finish_run(world.workflow(), RUN) is RunStatus.SUCCEEDED
    assert world.slots.of() == set()


def test_a_run_that_fails_frees_its_slot(world: World) -> None:
    running(world)
    world.executor.result = ExecutionResult(exit_code=1, output="", duration_ms=5)
    run_job(world.workflow(), task(0, "print"))

    with pytest.raises(RunFailed):
        finish_run(world.workflow(), RUN)
    assert world.slots.of() == set()


def test_a_run_whose_workflow_broke_frees_its_slot(world: World) -> None:
    running(world)

    record_run_failure(world.workflow(), world.request(), "States.TaskFailed", "the job status function crashed")

    assert world.slots.of() == set()


def test_a_cancelled_run_frees_its_slot_at_once(world: World) -> None:
    running(world)

    cancel_run(world.control(), Caller("alice"), RUN)

    assert world.slots.of() == set() and world.executions.stopped == [RUN]


def test_a_cancel_whose_slot_cannot_be_freed_still_cancels_and_the_next_refusal_frees_it(world: World) -> None:
    running(world)
    world.slots.fail_frees = True

    cancelled = cancel_run(world.control(), Caller("alice"), RUN)

    assert cancelled.status is RunStatus.CANCELLED and world.slots.of() == {slot_of(world.request())}
    world.slots.fail_frees = False
    take_slot(world.slots, world.runs, world.request(run_id="run-next"), 1, NOW)
    assert world.slots.of() == {slot_of(world.request(run_id="run-next"))}


@pytest.mark.parametrize("status", ["ABORTED", "FAILED", "TIMED_OUT"])
def test_a_run_whose_execution_ended_outside_hookrun_frees_its_slot(world: World, status: str) -> None:
    running(world)

    reconcile_execution(world.workflow(), world.request(), status, "", "")

    assert world.slots.of() == set()


def test_the_reconciler_frees_the_slot_of_a_run_that_had_ended_without_freeing_it(world: World) -> None:
    running(world)
    world.runs.move_run(RUN, RunStatus.CANCELLED)  # ended, its slot still held

    reconcile_execution(world.workflow(), world.request(), "ABORTED", "", "")

    assert world.slots.of() == set()


def test_a_superseded_run_frees_its_slot(world: World) -> None:
    pipeline = two_stages().model_copy(update={"concurrency": Concurrency(mode=ConcurrencyMode.SUPERSEDE)})
    older = world.request(pipeline, run_id="run-older", created_at="2026-11-27T12:00:01.000Z")
    newer = world.request(pipeline, run_id="run-newer", created_at="2026-11-27T12:00:02.000Z")
    for run in (older, newer):
        take_slot(world.slots, world.runs, run, 10, run.created_at)
        record_run_started(world.workflow(), run)

    assert world.runs.run_status("run-older") is RunStatus.CANCELLED
    assert world.slots.of() == {slot_of(newer)}


@pytest.mark.parametrize(("pipeline_limit", "stack_limit"), [(1, 1000), (10, 1)])
def test_a_rerun_beyond_the_limit_is_refused_and_keeps_no_secret_values(
    world: World, pipeline_limit: int, stack_limit: int
) -> None:
    world.store.add_pipeline(two_stages().model_copy(update={"max_running_runs": pipeline_limit}))
    world.stack_run_limit = stack_limit
    running(world)
    world.store.put_run_secrets(RUN, {"API_KEY": "hunter22"})
    world.runs.runs[RUN]["request"] = world.request(secret_names=("API_KEY",))

    with pytest.raises(RunLimitReached):
        rerun(world.control(), Caller("alice"), RUN)
    assert world.starter.started == [] and set(world.store.run_secrets) == {RUN}


# Taking the slot alongside the pipeline read (the limit kept with the slots)


def test_a_webhook_takes_its_slot_alongside_the_pipeline_read_and_its_run_holds_that_slot(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    slots.limits["demo", ""] = 2
    post(fake_ports(capped(store, 2), runs, slots=slots))

    (run,) = runs.started
    assert slots.early_takes == [slot_of(run)] and slots.of() == {slot_of(run)}


@pytest.mark.parametrize(
    ("body", "query", "refusal"),
    [
        ({"nope": "1"}, {}, "INVALID_VARIABLES"),
        ({}, {"dryRun": "maybe"}, "INVALID_PARAMETER"),
        ({}, {}, "INSUFFICIENT_PERMISSIONS"),
    ],
)
def test_a_request_refused_after_its_early_take_frees_the_slot(
    store: FakeStore,
    runs: FakeRunStarter,
    slots: FakeRunSlots,
    body: dict[str, str],
    query: dict[str, str],
    refusal: str,
) -> None:
    slots.limits["demo", ""] = 2
    if refusal == "INSUFFICIENT_PERMISSIONS":
        store.grants.pop(("demo", "alice"))
    request = WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, json.dumps(body).encode(), query=query)

    with pytest.raises(HookrunError) as raised:
        receive_webhook(fake_ports(capped(store, 2), runs, slots=slots), request)

    assert raised.value.code == refusal
    assert len(slots.early_takes) == 1 and slots.of() == set() and runs.started == []


def test_an_early_take_under_a_stale_higher_limit_is_freed_and_the_pipeline_s_lower_limit_refuses(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    ports = fake_ports(capped(store, 1), runs, slots=slots)
    post(ports)
    slots.limits["demo", ""] = 5  # kept before the pipeline was applied again with maxRunningRuns 1

    with pytest.raises(RunLimitReached) as raised:
        post(ports)

    assert raised.value.limit == 1 and len(slots.early_takes) == 2
    assert slots.of() == {slot_of(runs.started[0])}


def test_an_early_take_refused_under_a_stale_lower_limit_is_taken_again_by_the_pipeline_s_and_keeps_it(
    store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots
) -> None:
    ports = fake_ports(capped(store, 3), runs, slots=slots)
    post(ports)
    slots.limits["demo", ""] = 1  # kept before the pipeline was applied again with maxRunningRuns 3

    post(ports)

    assert len(runs.started) == 2 and len(slots.of()) == 2 and slots.limits["demo", ""] == 3


def test_a_dry_run_takes_no_slot(store: FakeStore, runs: FakeRunStarter, slots: FakeRunSlots) -> None:
    slots.limits["demo", ""] = 2
    request = WebhookRequest(DEMO_TOKEN, {"Content-Type": "application/json"}, b"{}", query={"dryRun": "true"})

    receive_webhook(fake_ports(capped(store, 2), runs, slots=slots), request)

    assert slots.early_takes == [] and slots.of() == set()
