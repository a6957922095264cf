"""Cancel, re-run, reconcile and concurrency groups, on fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError

from domain.errors import Conflict, Forbidden, NotFound
from domain.groups import GroupTurn, take_turn
from domain.management import Caller
from domain.models import (
    MAX_DEFAULTS_BYTES,
    MAX_RUNNING_RUNS,
    MAX_STAGE_BYTES,
    MAX_STAGES_BYTES,
    Concurrency,
    ConcurrencyMode,
    ExecutionInput,
    Pipeline,
    Role,
    RunRequest,
    RunStatus,
)
from domain.ports import GroupLock
from domain.reconcile import reconcile_execution
from domain.run_control import RunControlPorts, cancel_run, rerun
from domain.runs import ExecutionResult, JobScript, StopCheck
from domain.stages import StageKind, StageRun, next_stage
from domain.workflow import (
    JobTask,
    RunNotRecorded,
    WorkflowPorts,
    finish_run,
    record_run_started,
    run_job,
    started_run,
)
from tests.fakes import (
    NOW,
    FakeDeliveryLog,
    FakeGroups,
    FakeRunRecorder,
    FakeRunSlots,
    FakeRunStarter,
    FakeStore,
)
from tests.support import demo_pipeline

RUN = "run-0195f2a3b4c5d0123456789abcdef"


def two_stages() -> Pipeline:
    return demo_pipeline(
        stages=[
            {"name": "build", "jobs": [{"name": "print", "script": ["echo $abc"]}]},
            {"name": "deploy", "jobs": [{"name": "ship", "script": ["echo shipped"]}]},
        ]
    )


@dataclass
class FakeExecutions:
    stopped: list[str] = field(default_factory=list)

    def stop_execution(self, run_id: str, cause: str) -> None:
        self.stopped.append(run_id)


@dataclass
class FakeExecutor:
    """Runs nothing: asks `should_stop` once, as the shell would while the script runs, and answers `result`."""

    result: ExecutionResult = field(default_factory=lambda: ExecutionResult(exit_code=0, output="ok\n", duration_ms=5))
    scripts: list[Sequence[str]] = field(default_factory=list)
    environments: list[Mapping[str, str]] = field(default_factory=list)
    before_stop_check: Callable[[], None] = lambda: None

    def execute(self, script: JobScript, should_stop: StopCheck | None = None) -> ExecutionResult:
        self.scripts.append(script.lines)
        self.environments.append(script.environment)
        self.before_stop_check()
        if should_stop is not None and should_stop():
            return ExecutionResult(exit_code=None, output="", duration_ms=5, cancelled=True)
        return self.result


@dataclass
class World:
    runs: FakeRunRecorder = field(default_factory=FakeRunRecorder)
    executions: FakeExecutions = field(default_factory=FakeExecutions)
    executor: FakeExecutor = field(default_factory=FakeExecutor)
    store: FakeStore = field(default_factory=FakeStore)
    deliveries: FakeDeliveryLog = field(default_factory=FakeDeliveryLog)
    starter: FakeRunStarter = field(default_factory=FakeRunStarter)
    groups: FakeGroups = field(default_factory=FakeGroups)
    slots: FakeRunSlots = field(default_factory=FakeRunSlots)
    stack_run_limit: int = MAX_RUNNING_RUNS
    clock: str = NOW

    def workflow(self) -> WorkflowPorts:
        return WorkflowPorts(
            runs=self.runs,
            secrets=self.store,
            requests=self.store,
            executor=self.executor,
            deliveries=self.deliveries,
            groups=self.groups,
            slots=self.slots,
            now=lambda: self.clock,
        )

    def control(self) -> RunControlPorts:
        return RunControlPorts(
            runs=self.runs,
            access=self.store,
            executions=self.executions,
            starter=self.starter,
            secrets=self.store,
            users=self.store,
            now=lambda: NOW,
            new_run_id=lambda: f"run-{len(self.starter.started) + 1:029x}",
            slots=self.slots,
            stack_run_limit=self.stack_run_limit,
        )

    def request(self, pipeline: Pipeline | None = None, run_id: str = RUN, **changes: object) -> RunRequest:
        pipeline = pipeline or two_stages()
        return RunRequest.of(
            pipeline,
            run_id=run_id,
            variables={"abc": "456"},
            run_as="alice",
            created_at=NOW,
        ).model_copy(update=changes)

    def started(self) -> RunRequest:
        request = self.request()
        record_run_started(self.workflow(), request)
        return request


@pytest.fixture
def world() -> World:
    world = World()
    world.store.add_pipeline(two_stages())
    world.store.add_user("alice", Role.RUNNER)
    world.store.add_user("olga", Role.OWNER)
    world.store.add_user("bob", Role.VIEWER)
    world.store.add_user("carol", None)
    return world


def task(stage: int = 0, name: str = "print", run_id: str = RUN) -> JobTask:
    job = two_stages().stages[stage].jobs[0]
    assert job.name == name
    return JobTask(run_id=run_id, pipeline_id="demo", stage_index=stage, stage_name="build", job=job)


# Planning stages


def test_the_workflow_plans_each_stage_in_order_and_is_done_after_the_last(world: World) -> None:
    request = world.started()
    ports = world.workflow()

    first = next_stage(ports, request, None, [])
    run_job(ports, task(0, "print"))
    second = next_stage(ports, request, StageRun.of(first), [None])
    run_job(ports, task(1, "ship"))
    last = next_stage(ports, request, StageRun.of(second), [None])

    assert (first.kind, first.index, [j.name for j in first.jobs]) == (StageKind.LAMBDA, 0, ["print"])
    assert (second.kind, second.index, [j.name for j in second.jobs]) == (StageKind.LAMBDA, 1, ["ship"])
    assert last.kind is StageKind.DONE


def test_after_a_failed_stage_the_workflow_plans_no_further_stage(world: World) -> None:
    request = world.started()
    ports = world.workflow()
    world.executor.result = ExecutionResult(exit_code=2, output="", duration_ms=5)

    first = next_stage(ports, request, None, [])
    run_job(ports, task(0, "print"))

    assert next_stage(ports, request, StageRun.of(first), [None]).kind is StageKind.DONE


def test_a_stage_whose_jobs_all_ended_is_passed_over(world: World) -> None:
    request = world.started()
    ports = world.workflow()
    run_job(ports, task(0, "print"))  # as a re-run's reused stage, or a plan retried after its jobs ran

    plan = next_stage(ports, request, None, [])

    assert (plan.kind, plan.index) == (StageKind.LAMBDA, 1)


def test_an_ended_run_plans_nothing(world: World) -> None:
    request = world.started()
    world.runs.move_run(RUN, RunStatus.CANCELLED)

    assert next_stage(world.workflow(), request, None, []).kind is StageKind.ENDED


# Running jobs


def test_a_job_runs_the_script_and_variables_its_run_recorded(world: World) -> None:
    world.started()

    assert run_job(world.workflow(), task()) is RunStatus.SUCCEEDED
    assert world.executor.scripts == [("echo $abc",)]
    assert world.executor.environments[0]["abc"] == "456"


def test_pipeline_defaults_too_large_for_a_runs_start_are_refused_at_apply() -> None:
    defaults = {f"V{n}": "x" * 4000 for n in range(MAX_DEFAULTS_BYTES // 4000 + 1)}

    with pytest.raises(ValidationError, match="fit in a run's start"):
        demo_pipeline(variables=defaults)


def test_an_execution_input_names_its_run_whose_kept_request_the_workflow_reads(world: World) -> None:
    request = world.request()
    assert world.store.put_run_request(request, {})
    small = ExecutionInput.of(request).model_dump(by_alias=True)

    assert started_run(world.workflow(), small) == request
    assert "stages" not in small and "variables" not in small


def test_an_execution_started_with_the_whole_request_runs_that_request(world: World) -> None:
    request = world.request()  # an execution started before requests were kept

    assert started_run(world.workflow(), request.model_dump(by_alias=True)) == request


def test_an_execution_whose_request_is_not_kept_is_not_recorded(world: World) -> None:
    small = ExecutionInput.of(world.request()).model_dump(by_alias=True)

    with pytest.raises(RunNotRecorded):
        started_run(world.workflow(), small)


def test_many_small_defaults_are_measured_as_a_runs_request_holds_them() -> None:
    defaults = {f"V{n:05d}": "x" for n in range(MAX_DEFAULTS_BYTES // 8)}  # 7 bytes each, 13 as JSON

    with pytest.raises(ValidationError, match="fit in a run's start"):
        demo_pipeline(variables=defaults)


def big_stages(count: int, stage_bytes: int) -> list[dict[str, object]]:
    """`count` stages of two lambda jobs whose scripts take about `stage_bytes` in all."""
    line = ": " + "x" * 998
    return [
        {"name": f"s{s}", "jobs": [{"name": f"j{j}", "script": [line] * (stage_bytes // 2000)} for j in range(2)]}
        for s in range(count)
    ]


def test_a_pipeline_over_the_old_96_kib_whole_bound_applies_when_each_stage_fits() -> None:
    pipeline = demo_pipeline(stages=big_stages(3, 60 * 1024))

    assert sum(len(stage.model_dump_json().encode()) for stage in pipeline.stages) > MAX_STAGE_BYTES


def test_a_stage_too_large_for_a_workflow_state_is_refused_at_apply() -> None:
    with pytest.raises(ValidationError, match=r"stage 's0' takes .* fit in a workflow state"):
        demo_pipeline(stages=big_stages(1, MAX_STAGE_BYTES + 2000))


def test_stages_too_large_for_a_runs_request_are_refused_at_apply() -> None:
    with pytest.raises(ValidationError, match="fit in a run's request"):
        demo_pipeline(stages=big_stages(MAX_STAGES_BYTES // (80 * 1024) + 1, 80 * 1024))


# Cancel


def test_cancel_ends_the_run_its_jobs_and_stages_cancelled_and_stops_the_execution(world: World) -> None:
    world.started()
    world.runs.move_job(RUN, 0, "print", RunStatus.RUNNING)
    world.runs.move_stage(RUN, 0, RunStatus.RUNNING)

    cancel_run(world.control(), Caller("alice"), RUN)

    view = world.runs.get_run(RUN)
    assert view is not None
    assert (view.status, view.cancelled_by, view.cancelled_at) == (RunStatus.CANCELLED, "alice", NOW)
    assert view.reason == "CANCELLED"
    assert [s.status for s in view.stages] == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    assert [s.jobs[0].status for s in view.stages] == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    assert world.executions.stopped == [RUN]


def test_owners_and_admins_may_cancel(world: World) -> None:
    world.started()
    cancel_run(world.control(), Caller("olga"), RUN)
    world.runs.runs.clear()
    world.started()
    cancel_run(world.control(), Caller("root", is_admin=True), RUN)
    assert world.executions.stopped == [RUN, RUN]


def test_a_viewer_may_not_cancel(world: World) -> None:
    world.started()

    with pytest.raises(Forbidden, match="runner or owner"):
        cancel_run(world.control(), Caller("bob"), RUN)
    assert world.runs.run_status(RUN) is RunStatus.RUNNING and world.executions.stopped == []


def test_a_user_without_a_role_is_told_there_is_no_such_run(world: World) -> None:
    world.started()

    with pytest.raises(NotFound) as raised:
        cancel_run(world.control(), Caller("carol"), RUN)
    assert raised.value.code == "RUN_NOT_FOUND"


def test_cancelling_a_finished_run_is_run_finished(world: World) -> None:
    world.started()
    world.runs.move_run(RUN, RunStatus.SUCCEEDED)

    with pytest.raises(Conflict) as raised:
        cancel_run(world.control(), Caller("alice"), RUN)
    assert raised.value.code == "RUN_FINISHED"
    assert world.executions.stopped == []


def test_cancelling_twice_changes_nothing_the_second_time(world: World) -> None:
    world.started()
    cancel_run(world.control(), Caller("alice"), RUN)
    first = world.runs.get_run(RUN)

    again = cancel_run(world.control(), Caller("olga"), RUN)

    assert again == first and world.executions.stopped == [RUN]


def test_a_job_whose_run_is_cancelled_while_it_runs_is_stopped_and_its_result_discarded(world: World) -> None:
    world.started()
    world.executor.before_stop_check = lambda: cancel_run(world.control(), Caller("alice"), RUN) and None

    assert run_job(world.workflow(), task()) is RunStatus.CANCELLED
    view = world.runs.get_run(RUN)
    assert view is not None and view.stages[0].jobs[0].status is RunStatus.CANCELLED


def test_a_later_stage_of_a_cancelled_run_never_runs(world: World) -> None:
    world.started()
    cancel_run(world.control(), Caller("alice"), RUN)

    run_job(world.workflow(), task(stage=1, name="ship"))

    assert world.executor.scripts == []


# Reconcile


@pytest.mark.parametrize(
    ("status", "code"),
    [("ABORTED", "EXECUTION_ABORTED"), ("TIMED_OUT", "EXECUTION_TIMED_OUT"), ("FAILED", "EXECUTION_FAILED")],
)
def test_an_execution_that_ended_leaves_its_run_failed_with_the_reason(world: World, status: str, code: str) -> None:
    request = world.started()
    world.runs.move_job(RUN, 0, "print", RunStatus.RUNNING)
    world.runs.move_stage(RUN, 0, RunStatus.RUNNING)

    assert reconcile_execution(world.workflow(), request, status, "", "") is RunStatus.FAILED

    view = world.runs.get_run(RUN)
    assert view is not None and view.reason is not None and view.reason.startswith(code)
    assert [(s.status, s.jobs[0].status) for s in view.stages] == [
        (RunStatus.FAILED, RunStatus.FAILED),
        (RunStatus.CANCELLED, RunStatus.CANCELLED),
    ]


def test_an_execution_that_failed_before_recording_its_run_leaves_it_recorded_failed(world: World) -> None:
    request = world.request()

    reconcile_execution(world.workflow(), request, "FAILED", "States.DataLimitExceeded", "too big")

    view = world.runs.get_run(RUN)
    assert view is not None and view.status is RunStatus.FAILED
    assert view.reason == "EXECUTION_FAILED: States.DataLimitExceeded: too big"


def test_a_run_that_had_ended_keeps_its_status_and_reason(world: World) -> None:
    request = world.started()
    cancel_run(world.control(), Caller("alice"), RUN)

    assert reconcile_execution(world.workflow(), request, "ABORTED", "", "") is RunStatus.CANCELLED
    view = world.runs.get_run(RUN)
    assert view is not None and view.reason == "CANCELLED"


def finished(world: World, statuses: tuple[RunStatus, RunStatus], secrets: dict[str, str] | None = None) -> None:
    """The run recorded and ended: each stage (and its one job) in the given status."""
    world.runs.create_run(world.request(secret_names=tuple(secrets or {})), RunStatus.RUNNING, NOW)
    if secrets:
        world.store.put_run_secrets(RUN, secrets)
    for index, (status, name) in enumerate(zip(statuses, ("print", "ship"), strict=True)):
        world.runs.move_job(RUN, index, name, RunStatus.RUNNING)
        world.runs.move_job(RUN, index, name, status, {"output": f"{name} output"})
        world.runs.move_stage(RUN, index, RunStatus.RUNNING)
        world.runs.move_stage(RUN, index, status)
    world.runs.move_run(RUN, RunStatus.FAILED if RunStatus.FAILED in statuses else RunStatus.SUCCEEDED)


def test_a_rerun_starts_a_new_run_with_the_same_variables_as_the_caller(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED))

    started = rerun(world.control(), Caller("olga"), RUN)

    assert world.starter.started == [started]
    assert (started.rerun_of, started.trigger_kind, started.run_as, started.reuse_stages) == (RUN, "rerun", "olga", 0)
    original = world.runs.get_run(RUN)
    assert original is not None
    assert (started.variables, started.stages) == (original.variables, two_stages().stages)


def test_a_rerun_from_failed_reuses_the_stages_before_the_failed_one(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.FAILED))

    started = rerun(world.control(), Caller("alice"), RUN, from_failed=True)
    record_run_started(world.workflow(), started)
    run_job(world.workflow(), task(0, "print", started.run_id))  # handed over, it finds itself done already

    assert started.reuse_stages == 1
    assert world.executor.scripts == []
    view = world.runs.get_run(started.run_id)
    assert view is not None
    assert (view.stages[0].status, view.stages[0].jobs[0].status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED)
    assert view.stages[0].reused_from == RUN
    assert view.stages[1].status is RunStatus.PENDING


def test_a_rerun_from_failed_of_a_run_that_succeeded_runs_everything(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED))

    assert rerun(world.control(), Caller("alice"), RUN, from_failed=True).reuse_stages == 0


def test_a_rerun_copies_the_runs_secret_values_to_the_new_run(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED), secrets={"API_KEY": "hunter22"})

    started = rerun(world.control(), Caller("alice"), RUN)

    assert world.store.get_run_secrets(started.run_id) == {"API_KEY": "hunter22"}
    assert "hunter22" not in started.model_dump_json()


def test_a_rerun_of_a_run_whose_secrets_are_gone_is_secrets_expired(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED), secrets={"API_KEY": "hunter22"})
    world.store.delete_run_secrets(RUN)

    with pytest.raises(Conflict) as raised:
        rerun(world.control(), Caller("alice"), RUN)
    assert raised.value.code == "SECRETS_EXPIRED"
    assert world.starter.started == []


def test_a_viewer_may_not_rerun(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED))

    with pytest.raises(Forbidden):
        rerun(world.control(), Caller("bob"), RUN)
    assert world.starter.started == []


def test_an_admin_without_a_role_may_not_rerun_as_the_rerun_runs_as_them(world: World) -> None:
    finished(world, (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED))

    with pytest.raises(Forbidden, match="runner or owner role"):
        rerun(world.control(), Caller("root", is_admin=True), RUN)
    assert world.starter.started == []


# Concurrency groups


def grouped(world: World, mode: str, *created_at: str) -> list[str]:
    """Runs of a `mode` pipeline accepted at `created_at`, each recorded as the workflow's first state does."""
    pipeline = two_stages().model_copy(update={"concurrency": Concurrency(mode=ConcurrencyMode(mode))})
    ids = []
    for at in created_at:
        run_id = f"run-{len(world.runs.runs) + 1:029x}"
        world.clock = at
        record_run_started(world.workflow(), world.request(pipeline, run_id=run_id, created_at=at))
        ids.append(run_id)
    return ids


def turn(world: World, run_id: str, at: str = "2026-11-27T12:01:00.000Z") -> GroupTurn:
    world.clock = at
    return take_turn(world.runs, world.groups, run_id, at)


T1, T2, T3 = "2026-11-27T12:00:01.000Z", "2026-11-27T12:00:01.500Z", "2026-11-27T12:00:02.000Z"


def test_queued_runs_wait_as_queued_and_start_one_at_a_time_in_acceptance_order(world: World) -> None:
    first, second, third = grouped(world, "queue", T1, T2, T3)
    assert world.runs.run_status(first) is RunStatus.QUEUED

    assert not turn(world, second).acquired  # the first still waits ahead of it
    assert turn(world, first).acquired
    assert world.runs.run_status(first) is RunStatus.RUNNING
    assert not turn(world, second).acquired  # the first holds the group
    world.clock = "2026-11-27T12:01:01.000Z"
    finish_run(world.workflow(), first)  # however it ends, it leaves the group
    assert not turn(world, third).acquired
    assert turn(world, second).acquired and turn(world, second).acquired  # a retried look keeps it


def test_a_run_takes_no_turn_within_a_second_of_its_acceptance(world: World) -> None:
    (only,) = grouped(world, "queue", T1)

    assert turn(world, only, at="2026-11-27T12:00:01.400Z") == GroupTurn(acquired=False, ended=False, wait_seconds=1)
    assert turn(world, only, at="2026-11-27T12:00:02.100Z").acquired


def test_a_lock_whose_holder_ended_without_releasing_it_is_taken_over(world: World) -> None:
    first, second = grouped(world, "queue", T1, T2)
    assert turn(world, first).acquired
    world.runs.move_run(first, RunStatus.FAILED)  # its execution died: nothing released the lock

    assert turn(world, second).acquired


def test_a_lock_of_a_run_that_is_not_recorded_is_taken_over(world: World) -> None:
    (only,) = grouped(world, "queue", T1)
    world.groups.locks["demo#"] = GroupLock("run-" + "d" * 29, "2099-01-01T00:00:00.000Z")

    assert turn(world, only).acquired


def test_a_run_cancelled_while_it_waits_ends_its_wait_and_leaves_the_line(world: World) -> None:
    first, second = grouped(world, "queue", T1, T2)
    cancel_run(world.control(), Caller("alice"), first)

    assert turn(world, first) == GroupTurn(acquired=False, ended=True)
    assert turn(world, second).acquired


def test_a_superseding_run_cancels_the_older_runs_of_its_group(world: World) -> None:
    first, second = grouped(world, "supersede", T1, T2)

    view = world.runs.get_run(first)
    assert view is not None
    assert (view.status, view.reason, view.superseded_by) == (RunStatus.CANCELLED, "SUPERSEDED", second)
    assert turn(world, first).ended
    assert turn(world, second).acquired


def test_a_superseding_run_cancels_the_run_that_holds_the_group(world: World) -> None:
    (first,) = grouped(world, "supersede", T1)
    assert turn(world, first).acquired

    (second,) = grouped(world, "supersede", T3)

    assert world.runs.run_status(first) is RunStatus.CANCELLED
    assert turn(world, second).acquired  # the holder's run ended: its lock is taken over


def test_parallel_runs_take_no_group(world: World) -> None:
    (only,) = grouped(world, "parallel", T1)

    assert world.runs.run_status(only) is RunStatus.RUNNING
    assert world.groups.waiting == {}
