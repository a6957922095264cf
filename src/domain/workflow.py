"""The use cases the run workflow calls: record a run, run a job, finish a run, record a failure."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from .builds import GIT_TOKEN_VARIABLE, BuildOverrides, build_environment, build_overrides, read_outcome
from .deliveries import Delivery, Outcome
from .groups import join_group, leave_group
from .models import CheckoutSource, ConcurrencyMode, Job, Model, Runner, RunRequest, RunStatus
from .ports import (
    BuildReader,
    BuildSecrets,
    ConcurrencyGroups,
    DeliveryLog,
    RunRecorder,
    RunSecretsReader,
    ScriptExecutor,
    SourceCredentials,
)
from .run_control import has_ended, reuse_stages
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
    executor: ScriptExecutor
    deliveries: DeliveryLog
    groups: ConcurrencyGroups
    now: Callable[[], str]
    builds: BuildPorts | None = None  # only the function that records codebuild jobs has them


class StageKind(StrEnum):
    """What the workflow does next: wait for the run's group, stop (the run ended, or has no stage left to run),
    or run a stage whose jobs are all lambda jobs, all codebuild jobs, or both."""

    WAIT = "wait"
    ENDED = "ended"
    DONE = "done"
    LAMBDA = "lambda"
    CODEBUILD = "codebuild"
    MIXED = "mixed"


class PlannedJob(Model):
    """One job of the stage to run: a lambda job with its definition, or a codebuild job with its build."""

    name: str
    job: Job | None = None  # a lambda job's, for the job status function that runs it
    build: BuildOverrides | None = None  # a codebuild job's, for the StartBuild state


class StagePlan(Model):
    """The stage the workflow runs next (or why none), with what its states need and no secret value."""

    kind: StageKind
    index: int = -1
    name: str = ""
    jobs: tuple[PlannedJob, ...] = ()
    environment: tuple[dict[str, str], ...] = ()  # the run's, for every build of the stage: one copy per stage


BuildResult = tuple[str | None, str | None]  # (build id, error) of a build the workflow waited for


def record_run_started(ports: WorkflowPorts, run: RunRequest) -> RunStatus:
    """Record the run RUNNING (QUEUED in line, for a `queue` or `supersede` group) with its stages and jobs PENDING
    (a re-run's reused ones ended), and its delivery as RUN_STARTED, here to keep the webhook's hot path short.
    A repeat (retry, redrive) changes nothing. Returns the run's status: all but RUNNING waits for its group."""
    mode = run.concurrency.mode
    group = run.concurrency.group_of(run.pipeline_id, run.variables) if mode is not ConcurrencyMode.PARALLEL else None
    status = RunStatus.RUNNING if group is None else RunStatus.QUEUED
    if ports.runs.create_run(run, status, ports.now(), group):
        reuse_stages(ports.runs, run.run_id, run.rerun_of, run.reuse_stages)
        join_group(ports.runs, ports.groups, _recorded(ports, run.run_id), mode, ports.now())
    elif group is None:
        ports.runs.move_run(run.run_id, RunStatus.RUNNING)
    _record_delivery(ports, run)
    return _recorded(ports, run.run_id).status


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
    view = _recorded(ports, task.run_id)
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
        return _job_status(_recorded(ports, task.run_id), task)
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
    _settle_stage(ports, task.run_id, task.stage_index, finished_at)
    return status


def next_stage(
    ports: WorkflowPorts, run: RunRequest, done: StagePlan | None, results: Sequence[BuildResult | None]
) -> StagePlan:
    """Record how the builds of the stage just run (`done`, in the order of its jobs) ended, then plan the next
    stage to run: its codebuild jobs are recorded RUNNING and their secrets put where their builds alone read them.

    A run waiting for its group, or ended, runs nothing; a stage whose jobs all ended already (taken from the run
    re-run, or a retried plan) is passed over; after a failed stage, or the last one, the run is done.
    """
    if done is not None and done.index >= 0:
        _record_builds(ports, run, done, results)
    view = _recorded(ports, run.run_id)
    if view.status in TERMINAL:
        return StagePlan(kind=StageKind.ENDED)
    if view.status is not RunStatus.RUNNING:
        return StagePlan(kind=StageKind.WAIT)
    index = done.index + 1 if done is not None else 0
    while index < len(run.stages) and not view.has_failed_before(index):
        plan = _plan_stage(ports, run, view, index)
        if plan is not None:
            return plan
        index += 1
    return StagePlan(kind=StageKind.DONE)


def _record_builds(
    ports: WorkflowPorts, run: RunRequest, done: StagePlan, results: Sequence[BuildResult | None]
) -> None:
    stage = run.stages[done.index]
    jobs = {job.name: job for job in stage.jobs}
    for position, planned in enumerate(done.jobs):
        if planned.build is None or planned.name not in jobs:
            continue
        result = results[position] if position < len(results) else None
        build_id, error = result or (None, "the workflow kept no result of the build")
        record_build(ports, _task(run, done.index, jobs[planned.name]), build_id, error)


def _plan_stage(ports: WorkflowPorts, run: RunRequest, view: RunView, index: int) -> StagePlan | None:
    """The jobs of stage `index` that have not ended, its builds prepared; None if none is left to run."""
    stage = run.stages[index]
    recorded = view.stage(index)
    ended = {job.name for job in recorded.jobs if job.status in TERMINAL} if recorded else set()
    planned: list[PlannedJob] = []
    for job in stage.jobs:
        if job.name in ended:
            continue
        if job.runner is Runner.CODEBUILD:
            planned.append(PlannedJob(name=job.name, build=_prepare_build(ports, _task(run, index, job))))
        else:
            planned.append(PlannedJob(name=job.name, job=job))
    if not planned:
        return None
    builds = [p for p in planned if p.build is not None]
    environment: tuple[dict[str, str], ...] = ()
    if builds:
        shared = job_environment(
            run.variables, {}, run_id=run.run_id, pipeline_id=run.pipeline_id, stage=stage.name, job=""
        )
        environment = build_environment(shared, run.secret_names)
    kind = StageKind.LAMBDA if not builds else StageKind.CODEBUILD if len(builds) == len(planned) else StageKind.MIXED
    return StagePlan(kind=kind, index=index, name=stage.name, jobs=tuple(planned), environment=environment)


def _task(run: RunRequest, index: int, job: Job) -> JobTask:
    return JobTask(
        run_id=run.run_id,
        pipeline_id=run.pipeline_id,
        stage_index=index,
        stage_name=run.stages[index].name,
        job=job,
        variables=run.variables,
        secret_names=run.secret_names,
        checkout=run.checkout,
    )


def _prepare_build(ports: WorkflowPorts, task: JobTask) -> BuildOverrides:
    """Record a codebuild job RUNNING and put its secrets (the run's, and the source token when it checks out)
    where its build alone reads them. No secret value is returned."""
    build_ports = _build_ports(ports)
    started_at = ports.now()
    ports.runs.move_job(task.run_id, task.stage_index, task.job.name, RunStatus.RUNNING, {"startedAt": started_at})
    ports.runs.move_stage(task.run_id, task.stage_index, RunStatus.RUNNING, {"startedAt": started_at})
    secrets = _build_secrets(ports, build_ports, task)
    references: dict[str, str] = {}
    if secrets:
        secret_id = build_ports.secrets.put_build_secrets(task.run_id, task.stage_index, task.job.name, secrets)
        references = {name: f"{secret_id}:{name}" for name in secrets}
    job_variables = {"HOOKRUN_STAGE": task.stage_name, "HOOKRUN_JOB": task.job.name}
    return build_overrides(task.job, job_variables, references, task.checkout)


def record_build(ports: WorkflowPorts, task: JobTask, build_id: str | None, error: str | None) -> RunStatus:
    """Record how a codebuild job ended: from its build (status, exit code, the tail of its log, secrets masked),
    or, if no build ran, from the workflow's `error`. Its secrets are deleted first."""
    build_ports = _build_ports(ports)
    build_ports.secrets.delete_build_secrets(task.run_id, task.stage_index, task.job.name)
    secrets = _build_secrets(ports, build_ports, task)
    outcome = build_ports.builds.get_build(build_id) if build_id else None
    changes: dict[str, str | int | None] = {"finishedAt": ports.now()}
    reason: str | None
    if outcome is None:
        status, reason = RunStatus.FAILED, mask_secrets(error or "the build did not start", secrets.values())[:1000]
    else:
        succeeded, exit_code, reason = read_outcome(outcome, task.job.timeout_seconds)
        status = RunStatus.SUCCEEDED if succeeded else RunStatus.FAILED
        output = keep_tail(mask_secrets(outcome.output, secrets.values()), outcome.dropped_bytes)
        changes |= {"exitCode": exit_code, "output": output, "durationMs": outcome.duration_ms}
        reason = mask_secrets(reason, secrets.values()) if reason else None
    ports.runs.move_job(task.run_id, task.stage_index, task.job.name, status, changes | {"reason": reason})
    _settle_stage(ports, task.run_id, task.stage_index, str(changes["finishedAt"]))
    return status


def _build_ports(ports: WorkflowPorts) -> BuildPorts:
    if ports.builds is None:
        raise RuntimeError("this function is not wired for codebuild jobs")
    return ports.builds


def _build_secrets(ports: WorkflowPorts, build_ports: BuildPorts, task: JobTask) -> dict[str, str]:
    """The secret values a build sees: the run's secrets, and the source token when the job checks out."""
    secrets: dict[str, str] = {}
    if task.secret_names:
        secrets = {k: v for k, v in ports.secrets.get_run_secrets(task.run_id).items() if k in task.secret_names}
    checkout = task.checkout
    if checkout is not None and checkout.credentials and task.job.checks_out(checkout.repository):
        token = build_ports.source_credentials.get_source_token(task.pipeline_id, checkout.credentials)
        if token:
            secrets[GIT_TOKEN_VARIABLE] = token
    return secrets


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
    _forget_secrets(ports, view)
    leave_group(ports.groups, view)
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
    view = _recorded(ports, run_id)
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
    _forget_secrets(ports, view)
    leave_group(ports.groups, view)
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


def _forget_secrets(ports: WorkflowPorts, view: RunView) -> None:
    """An ended run's secret values are read by no job any more: they are not kept until their TTL."""
    if view.secret_names:
        ports.secrets.delete_run_secrets(view.run_id)


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
