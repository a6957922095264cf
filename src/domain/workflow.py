"""The use cases the run workflow calls: record a run, run a job, finish a run, record a failure (the stages and
builds in between: `stages`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from .deliveries import Delivery, Outcome
from .groups import join_group, let_go
from .models import CheckoutSource, ConcurrencyMode, ExecutionInput, Job, Model, RunRequest, RunStatus
from .ports import (
    BuildReader,
    BuildSecrets,
    ConcurrencyGroups,
    DeliveryLog,
    RunRecorder,
    RunRequests,
    RunSecretsReader,
    ScriptExecutor,
    SourceCredentials,
)
from .run_control import has_ended, reuse_stages
from .run_slots import RunSlots
from .runs import TERMINAL, JobScript, RunView, job_environment, keep_tail, mask_secrets, stage_outcome


class RunFailed(Exception):
    """Raised at the end of a run whose stage failed, so the execution itself ends FAILED (a workflow error)."""


class RunNotRecorded(Exception):
    """The workflow's record of a run is missing (a workflow error, never an API answer)."""


class JobTask(Model):
    """One job of one stage of a run: what the workflow hands the job runner. No secret values."""

    run_id: str
    pipeline_id: str
    stage_index: int
    stage_name: str
    job: Job
    variables: dict[str, str] = {}  # a lambda job's are read from its run's record
    secret_names: tuple[str, ...] = ()
    checkout: CheckoutSource | None = None


@dataclass(frozen=True)
class BuildPorts:
    """What codebuild jobs need beyond the run record: their secrets' store, the builds, the source tokens."""

    secrets: BuildSecrets
    builds: BuildReader
    source_credentials: SourceCredentials


@dataclass(frozen=True)
class WorkflowPorts:
    runs: RunRecorder
    secrets: RunSecretsReader
    requests: RunRequests
    executor: ScriptExecutor
    deliveries: DeliveryLog
    groups: ConcurrencyGroups
    slots: RunSlots
    now: Callable[[], str]
    builds: BuildPorts | None = None  # only the function that records codebuild jobs has them


def started_run(ports: WorkflowPorts, execution_input: Mapping[str, object]) -> RunRequest:
    """The run an execution runs: its input names it, its request is read where its start kept it (or in the input,
    which carries a small one inline).

    An input that carries the whole request (an execution started before requests were kept) is that request.
    Raises RunNotRecorded if no request is kept for it.
    """
    if "stages" in execution_input:
        return RunRequest.model_validate(execution_input)
    started = ExecutionInput.model_validate(execution_input)
    if started.request is not None:  # carried inline: the same request its first state keeps
        return started.request
    run = ports.requests.get_run_request(started.run_id)
    if run is None:
        raise RunNotRecorded(f"Run {started.run_id} has no request kept.")
    return run


def keep_carried_request(ports: WorkflowPorts, execution_input: Mapping[str, object]) -> RunRequest:
    """The run an execution runs, its request kept first if the execution carries it inline (the webhook kept
    nothing, to keep its hot path short), once: a retry, or a repeat of its delivery, never replaces it."""
    run = started_run(ports, execution_input)
    if execution_input.get("request") is not None:
        ports.requests.keep_run_request(run)
    return run


def record_run_started(ports: WorkflowPorts, run: RunRequest) -> RunStatus:
    """Record the run RUNNING (QUEUED in line, for a `queue` or `supersede` group) with its stages and jobs PENDING
    (a re-run's reused ones ended), and its delivery as RUN_STARTED, here to keep the webhook's hot path short.
    A repeat (retry, redrive) changes nothing. Returns the run's status: all but RUNNING waits for its group."""
    mode = run.concurrency.mode
    group = run.concurrency.group_of(run.pipeline_id, run.variables) if mode is not ConcurrencyMode.PARALLEL else None
    status = RunStatus.RUNNING if group is None else RunStatus.QUEUED
    if ports.runs.create_run(run, status, ports.now(), group):
        reuse_stages(ports.runs, run.run_id, run.rerun_of, run.reuse_stages)
        join_group(ports.runs, ports.groups, ports.slots, recorded_run(ports, run.run_id), mode, now=ports.now())
    elif group is None:
        ports.runs.move_run(run.run_id, RunStatus.RUNNING)
    _record_delivery(ports, run)
    return recorded_run(ports, run.run_id).status


def _record_delivery(ports: WorkflowPorts, run: RunRequest) -> None:
    """The delivery of an accepted run, RUN_STARTED: one record per run however often it is written."""
    if run.delivery is not None:
        ports.deliveries.record(
            Delivery(
                pipeline_id=run.pipeline_id,
                incarnation=run.incarnation,
                received_at=run.created_at,
                source=run.delivery.source,
                event=run.delivery.event,
                delivery_id=run.delivery.delivery_id,
                outcome=Outcome.RUN_STARTED,
                run_id=run.run_id,
                run_as=run.run_as,
            )
        )


def run_job(ports: WorkflowPorts, task: JobTask) -> RunStatus:
    """Run one lambda job unless an earlier stage failed, with its run's recorded variables; record its status,
    exit code and output."""
    view = recorded_run(ports, task.run_id)
    if view.has_failed_before(task.stage_index):
        ports.runs.move_job(task.run_id, task.stage_index, task.job.name, RunStatus.SKIPPED)
        ports.runs.move_stage(task.run_id, task.stage_index, RunStatus.SKIPPED)
        return RunStatus.SKIPPED
    started_at = ports.now()
    if not ports.runs.move_job(
        task.run_id, task.stage_index, task.job.name, RunStatus.RUNNING, {"startedAt": started_at}
    ):
        return _job_status(view, task)  # already finished: a retried invocation does not run it twice
    ports.runs.move_stage(task.run_id, task.stage_index, RunStatus.RUNNING, {"startedAt": started_at})
    secrets = {k: v for k, v in ports.secrets.get_run_secrets(task.run_id).items() if k in task.secret_names}
    environment = job_environment(
        view.variables,  # the run's record holds them: the workflow's states need not carry them
        secrets,
        run_id=task.run_id,
        pipeline_id=task.pipeline_id,
        stage=task.stage_name,
        job=task.job.name,
    )
    run_ended = partial(has_ended, ports.runs, task.run_id)
    script = JobScript(task.job.script, environment, task.job.timeout_seconds)
    result = ports.executor.execute(script, should_stop=run_ended)
    if result.cancelled:  # the cancel recorded the job CANCELLED: its result is discarded
        return _job_status(recorded_run(ports, task.run_id), task)
    if result.timed_out:
        status, reason = RunStatus.FAILED, f"timed out after {task.job.timeout_seconds} s"
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
    settle_stage(ports, task.run_id, task.stage_index, finished_at)
    return status


def finish_run(ports: WorkflowPorts, run_id: str) -> RunStatus:
    """Settle every stage, skip those after a failure, and end the run. Raises RunFailed if it failed."""
    view = recorded_run(ports, run_id)
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
    _let_go(ports, view)
    if failed:
        raise RunFailed(f"Run {run_id} failed: {reason}")
    return status


def record_run_failure(ports: WorkflowPorts, run: RunRequest, error: str, cause: str) -> RunStatus:
    """The workflow broke (a task crashed, timed out or could not be called): end the run FAILED, with why.

    The delivery is recorded too: the first state, which records it, may be the one that broke.
    """
    if ports.runs.get_run(run.run_id) is None:
        ports.runs.create_run(run, RunStatus.RUNNING, ports.now())
    _record_delivery(ports, run)
    return fail_recorded_run(ports, run.run_id, error, cause)


def fail_recorded_run(ports: WorkflowPorts, run_id: str, error: str, cause: str) -> RunStatus:
    """End a recorded run FAILED with `error: cause`: its running jobs and stages FAILED, the waiting CANCELLED.

    A run that has already ended keeps its status (the moves are guarded).
    """
    view = recorded_run(ports, run_id)
    now = ports.now()
    reason = failure_reason(error, cause)
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
    _let_go(ports, view)
    return RunStatus.FAILED


def failure_reason(error: str, cause: str) -> str:
    """`error: cause` as viewers read it: a Lambda error's type and message, never its stack trace."""
    try:
        payload = json.loads(cause)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "errorMessage" in payload:
        cause = f"{payload.get('errorType', 'Error')}: {payload['errorMessage']}"
    # a cause that is not Lambda's JSON may still carry a trace: keep what comes before it
    cause = cause.split("Traceback (most recent call last)", 1)[0].strip()
    return f"{error}: {cause}"[:1000]


def _let_go(ports: WorkflowPorts, view: RunView) -> None:  # its secrets: no job reads them any more
    if view.secret_names:
        ports.secrets.delete_run_secrets(view.run_id)
    let_go(ports.groups, ports.slots, view)


def recorded_run(ports: WorkflowPorts, run_id: str) -> RunView:
    """The run as recorded; RunNotRecorded if it is not."""
    view = ports.runs.get_run(run_id)
    if view is None:
        raise RunNotRecorded(f"Run {run_id} has no record.")
    return view


def _job_status(view: RunView, task: JobTask) -> RunStatus:
    stage = view.stage(task.stage_index)
    job = next((j for j in stage.jobs if j.name == task.job.name), None) if stage else None
    return job.status if job else RunStatus.PENDING


def settle_stage(ports: WorkflowPorts, run_id: str, stage_index: int, at: str) -> None:
    """Give the stage its final status as soon as its last job is done, so followers see it live."""
    stage = recorded_run(ports, run_id).stage(stage_index)
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
