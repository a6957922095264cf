"""The use cases the run workflow calls: record a run, run a job, finish a run, record a failure, reconcile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ConfigDict

from .deliveries import Delivery, Outcome
from .errors import HookrunError
from .groups import GroupTurn, join_group, leave_group, take_turn
from .models import ConcurrencyMode, Model, Pipeline, Runner, RunRequest, RunStatus
from .ports import ConcurrencyGroups, DeliveryLog, PipelineRevisions, RunRecorder, RunSecretsReader, ScriptExecutor
from .runs import TERMINAL, RunView, job_environment, keep_tail, mask_secrets, stage_outcome


class RunFailed(Exception):
    """Raised at the end of a run whose stage failed, so the execution itself ends FAILED (a workflow error)."""


class RunNotRecorded(Exception):
    """The workflow's record of a run is missing (a workflow error, never an API answer)."""


class PipelineRevisionGone(Exception):
    """The pipeline revision a run names is gone: its pipeline was deleted (a workflow error, never an API answer)."""


class JobRef(Model):
    """A job as the workflow knows it: its name and runner. Its script is read from the run's record."""

    name: str
    runner: Runner = Runner.LAMBDA


class JobTask(Model):
    """One job of one stage of a run: what the workflow hands the job runner. No secret values, no script."""

    # the workflow may add keys of its own beside these
    model_config = ConfigDict(**{**Model.model_config, "extra": "ignore"})

    run_id: str
    pipeline_id: str
    stage_index: int
    stage_name: str
    job: JobRef


class StagePlan(Model):
    index: int
    name: str
    jobs: tuple[JobRef, ...]


class RunPlan(Model):
    """What the workflow iterates over once a run is recorded: names only, small whatever the pipeline's size."""

    run_id: str
    pipeline_id: str
    status: RunStatus
    stages: tuple[StagePlan, ...]
    waits_for_group: bool = False  # its pipeline queues or supersedes: it takes its group's lock first


@dataclass(frozen=True)
class WorkflowPorts:
    runs: RunRecorder
    secrets: RunSecretsReader
    executor: ScriptExecutor
    deliveries: DeliveryLog
    pipelines: PipelineRevisions
    groups: ConcurrencyGroups
    now: Callable[[], str]


def _pipeline_of(ports: WorkflowPorts, run: RunRequest) -> Pipeline:
    pipeline = ports.pipelines.get_revision(run.pipeline_id, run.pipeline_revision)
    if pipeline is None:
        raise PipelineRevisionGone(
            f"Pipeline '{run.pipeline_id}' revision {run.pipeline_revision} is gone (the pipeline was deleted)."
        )
    return pipeline


def _plan_of(view: RunView) -> RunPlan:
    return RunPlan(
        run_id=view.run_id,
        pipeline_id=view.pipeline_id,
        status=view.status,
        stages=tuple(
            StagePlan(
                index=stage.index,
                name=stage.name,
                jobs=tuple(JobRef(name=j.name, runner=j.spec.runner if j.spec else Runner.LAMBDA) for j in stage.jobs),
            )
            for stage in view.stages
            if stage.status not in TERMINAL  # a stage taken from an earlier run is not run again
        ),
        waits_for_group=view.group is not None,
    )


def record_run_started(ports: WorkflowPorts, run: RunRequest) -> RunPlan:
    """Record the run RUNNING with its stages and jobs PENDING, and its delivery as RUN_STARTED.

    The stages come from the pipeline revision the run names; a re-run from a failed stage shows the stages before
    it as the earlier run ended them. The delivery is logged here rather than by the webhook, to keep the webhook's
    hot path short. A repeat (retry, redrive) changes nothing: the run is kept, the delivery written again over
    itself. Raises PipelineRevisionGone if the pipeline was deleted since the run was accepted.
    """
    view = ports.runs.get_run(run.run_id)
    if view is None:
        pipeline = _pipeline_of(ports, run)
        concurrency = pipeline.concurrency
        group = None
        if concurrency.mode is not ConcurrencyMode.PARALLEL:
            group = concurrency.group_of(pipeline.id, run.variables)
        status = RunStatus.RUNNING if group is None else RunStatus.QUEUED  # QUEUED: waiting for its group
        if ports.runs.create_run(run, pipeline.stages, status, ports.now(), group):
            if run.rerun_of and run.reuse_stages:
                _reuse_stages(ports, run, run.rerun_of, run.reuse_stages)
            join_group(ports.runs, ports.groups, _recorded(ports, run.run_id), concurrency.mode, ports.now())
    elif view.group is None:
        ports.runs.move_run(run.run_id, RunStatus.RUNNING)
    _record_delivery(ports, run)
    return _plan_of(_recorded(ports, run.run_id))


def _record_delivery(ports: WorkflowPorts, run: RunRequest) -> None:
    """The delivery of an accepted run, RUN_STARTED: one record per run however often it is written."""
    if run.delivery is not None:
        ports.deliveries.record(
            Delivery(
                pipeline_id=run.pipeline_id,
                received_at=run.created_at,
                source=run.delivery.source,
                event=run.delivery.event,
                delivery_id=run.delivery.delivery_id,
                outcome=Outcome.RUN_STARTED,
                run_id=run.run_id,
                run_as=run.run_as,
            )
        )


def _reuse_stages(ports: WorkflowPorts, run: RunRequest, earlier_run_id: str, count: int) -> None:
    """Show the first `count` stages SUCCEEDED as the earlier run ended them, `reusedFrom` it: they do not run."""
    earlier = _recorded(ports, earlier_run_id)
    for stage in earlier.stages[:count]:
        for job in stage.jobs:
            result = {
                "reusedFrom": earlier_run_id,
                "exitCode": job.exit_code,
                "output": job.output,
                "startedAt": job.started_at,
                "finishedAt": job.finished_at,
                "durationMs": job.duration_ms,
            }
            ports.runs.move_job(run.run_id, stage.index, job.name, RunStatus.RUNNING)
            ports.runs.move_job(run.run_id, stage.index, job.name, RunStatus.SUCCEEDED, result)
        ports.runs.move_stage(run.run_id, stage.index, RunStatus.RUNNING)
        changes = {"reusedFrom": earlier_run_id, "startedAt": stage.started_at, "finishedAt": stage.finished_at}
        ports.runs.move_stage(run.run_id, stage.index, RunStatus.SUCCEEDED, changes)


def run_job(ports: WorkflowPorts, task: JobTask) -> RunStatus:
    """Run one job unless an earlier stage failed or the run ended; record its status, exit code and output.

    The job's script, the run's variables and secret names come from the run's record. While the script runs,
    the run's status is polled: once the run is cancelled, the script and all it started are killed and its
    result is discarded (the job was recorded CANCELLED by the cancel).
    """
    view = _recorded(ports, task.run_id)
    if view.has_failed_before(task.stage_index):
        ports.runs.move_job(task.run_id, task.stage_index, task.job.name, RunStatus.SKIPPED)
        ports.runs.move_stage(task.run_id, task.stage_index, RunStatus.SKIPPED)
        return RunStatus.SKIPPED
    recorded_job = view.job(task.stage_index, task.job.name)
    spec = recorded_job.spec if recorded_job else None
    if spec is None:
        raise RunNotRecorded(f"Run {task.run_id} has no job '{task.job.name}' in stage {task.stage_index}.")
    started_at = ports.now()
    if not ports.runs.move_job(
        task.run_id, task.stage_index, task.job.name, RunStatus.RUNNING, {"startedAt": started_at}
    ):
        return _job_status(view, task)  # already finished: a retried invocation does not run it twice
    ports.runs.move_stage(task.run_id, task.stage_index, RunStatus.RUNNING, {"startedAt": started_at})
    secrets = {k: v for k, v in ports.secrets.get_run_secrets(task.run_id).items() if k in view.secret_names}
    environment = job_environment(
        view.variables,
        secrets,
        run_id=task.run_id,
        pipeline_id=task.pipeline_id,
        stage=task.stage_name,
        job=task.job.name,
    )

    def run_ended() -> bool:
        try:
            return ports.runs.run_status(task.run_id) in TERMINAL
        except HookrunError:  # a failed look keeps the job going; the next one may see the cancel
            return False

    result = ports.executor.execute(spec.script, environment, spec.timeout_seconds, should_stop=run_ended)
    if result.cancelled:
        return _job_status(_recorded(ports, task.run_id), task)
    if result.timed_out:
        status, reason = RunStatus.FAILED, f"timed out after {spec.timeout_seconds} s"
    elif result.exit_code == 0:
        status, reason = RunStatus.SUCCEEDED, None
    else:
        status, reason = RunStatus.FAILED, f"exited with code {result.exit_code}"
    finished_at = ports.now()
    ports.runs.move_job(
        task.run_id,
        task.stage_index,
        task.job.name,
        status,
        {
            "exitCode": result.exit_code,
            "output": keep_tail(mask_secrets(result.output, secrets.values()), result.dropped_bytes),
            "reason": reason,
            "finishedAt": finished_at,
            "durationMs": result.duration_ms,
        },
    )
    _settle_stage(ports, task.run_id, task.stage_index, finished_at)
    return status


def finish_run(ports: WorkflowPorts, run_id: str) -> RunStatus:
    """Settle every stage, skip those after a failure, and end the run. Raises RunFailed if it failed."""
    view = _recorded(ports, run_id)
    now = ports.now()
    failed = False
    for stage in view.stages:
        outcome = stage.status if stage.status in TERMINAL else stage_outcome(job.status for job in stage.jobs)
        if failed:
            _skip_stage(ports, run_id, stage.index, [job.name for job in stage.jobs])
            continue
        if outcome is not None and outcome is not stage.status:
            ports.runs.move_stage(run_id, stage.index, outcome, {"finishedAt": now})
        failed = outcome in {RunStatus.FAILED, RunStatus.CANCELLED}
    status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    reason = _first_failure(view) if failed else None
    ports.runs.move_run(run_id, status, {"finishedAt": now, "reason": reason})
    leave_group(ports.groups, view)
    if failed:
        raise RunFailed(f"Run {run_id} failed: {reason}")
    return status


def record_run_failure(ports: WorkflowPorts, run: RunRequest, error: str, cause: str) -> RunStatus:
    """The workflow broke (a task crashed, timed out or could not be called): end the run FAILED, with why.

    The delivery is recorded too: the first state, which records it, may be the one that broke.
    """
    if ports.runs.get_run(run.run_id) is None:
        try:
            stages = _pipeline_of(ports, run).stages
        except PipelineRevisionGone:
            stages = ()
        ports.runs.create_run(run, stages, RunStatus.RUNNING, ports.now())
    _record_delivery(ports, run)
    return fail_recorded_run(ports, run.run_id, error, cause)


# How an execution that ended without recording its run's end is told in the run's reason.
_EXECUTION_ENDS = {
    "FAILED": ("EXECUTION_FAILED", "the run's workflow execution failed"),
    "TIMED_OUT": ("EXECUTION_TIMED_OUT", "the run's workflow execution ran out of time"),
    "ABORTED": ("EXECUTION_ABORTED", "the run's workflow execution was stopped outside hookrun"),
}


def reconcile_execution(ports: WorkflowPorts, run: RunRequest, status: str, error: str, cause: str) -> RunStatus:
    """An execution ended (failed, timed out, aborted): leave its run, stages and jobs terminal, with a reason.

    A run already ended keeps its status and reason; one never recorded is recorded first.
    """
    view = ports.runs.get_run(run.run_id)
    if view is not None and view.status in TERMINAL:
        leave_group(ports.groups, view)  # however it ended, it no longer holds its group
        return view.status
    code, default_cause = _EXECUTION_ENDS.get(status, ("EXECUTION_ENDED", f"the execution ended {status}"))
    details = ": ".join(part for part in (error, cause) if part) or default_cause
    return record_run_failure(ports, run, code, details)


def fail_recorded_run(ports: WorkflowPorts, run_id: str, error: str, cause: str) -> RunStatus:
    """End a recorded run FAILED with `error: cause`: its running jobs and stages FAILED, the waiting CANCELLED.

    A run that has already ended keeps its status (the moves are guarded).
    """
    view = _recorded(ports, run_id)
    now = ports.now()
    reason = f"{error}: {cause}"[:1000]
    for stage in view.stages:
        for job in stage.jobs:
            if job.status is RunStatus.RUNNING:
                changes = {"reason": reason, "finishedAt": now}
                ports.runs.move_job(run_id, stage.index, job.name, RunStatus.FAILED, changes)
            elif job.status is RunStatus.PENDING:
                ports.runs.move_job(run_id, stage.index, job.name, RunStatus.CANCELLED, {"finishedAt": now})
        if stage.status is RunStatus.RUNNING:
            ports.runs.move_stage(run_id, stage.index, RunStatus.FAILED, {"finishedAt": now})
        elif stage.status is RunStatus.PENDING:
            ports.runs.move_stage(run_id, stage.index, RunStatus.CANCELLED, {"finishedAt": now})
    ports.runs.move_run(run_id, RunStatus.FAILED, {"finishedAt": now, "reason": reason})
    leave_group(ports.groups, view)
    return RunStatus.FAILED


def take_group_turn(ports: WorkflowPorts, run_id: str) -> GroupTurn:
    """A run of a `queue` or `supersede` pipeline looks whether it may start (see domain.groups)."""
    return take_turn(ports.runs, ports.groups, run_id, ports.now())


def _recorded(ports: WorkflowPorts, run_id: str) -> RunView:
    view = ports.runs.get_run(run_id)
    if view is None:
        raise RunNotRecorded(f"Run {run_id} has no record.")
    return view


def _job_status(view: RunView, task: JobTask) -> RunStatus:
    stage = view.stage(task.stage_index)
    job = next((j for j in stage.jobs if j.name == task.job.name), None) if stage else None
    return job.status if job else RunStatus.PENDING


def _settle_stage(ports: WorkflowPorts, run_id: str, stage_index: int, at: str) -> None:
    """Give the stage its final status as soon as its last job is done, so followers see it live."""
    stage = _recorded(ports, run_id).stage(stage_index)
    outcome = stage_outcome(job.status for job in stage.jobs) if stage else None
    if outcome is not None:
        ports.runs.move_stage(run_id, stage_index, outcome, {"finishedAt": at})


def _skip_stage(ports: WorkflowPorts, run_id: str, stage_index: int, job_names: list[str]) -> None:
    for name in job_names:
        ports.runs.move_job(run_id, stage_index, name, RunStatus.SKIPPED)
    ports.runs.move_stage(run_id, stage_index, RunStatus.SKIPPED)


def _first_failure(view: RunView) -> str:
    for stage in view.stages:
        for job in stage.jobs:
            if job.status in {RunStatus.FAILED, RunStatus.CANCELLED}:
                return f"job '{job.name}' of stage '{stage.name}' {job.reason or 'failed'}"
    return "a stage failed"
