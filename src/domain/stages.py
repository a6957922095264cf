"""The workflow's stages: record how the builds of the stage just run ended, and plan the next stage to run.

One task between stages does both, so that a job of either runner takes one state of its own (issue 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from .builds import GIT_TOKEN_VARIABLE, BuildOverrides, build_environment, build_overrides, read_outcome
from .models import Job, Model, Runner, RunRequest, RunStatus
from .runs import TERMINAL, RunView, job_environment, keep_tail, mask_secrets
from .workflow import BuildPorts, JobTask, WorkflowPorts, recorded_run, settle_stage


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


class StageRun(Model):
    """The stage the workflow ran last: its index and its jobs' names, in the order of their results."""

    index: int = -1
    jobs: tuple[str, ...] = ()

    @classmethod
    def of(cls, plan: StagePlan) -> StageRun:
        return cls(index=plan.index, jobs=tuple(job.name for job in plan.jobs))


BuildResult = tuple[str | None, str | None]  # (build id, error) of a build the workflow waited for


def next_stage(
    ports: WorkflowPorts, run: RunRequest, done: StageRun | None, results: Sequence[BuildResult | None]
) -> StagePlan:
    """Record how the builds of the stage just run (`done`, its jobs in the order of `results`) ended, then plan
    the next stage to run: its codebuild jobs are recorded RUNNING and their secrets put where their builds alone
    read them.

    A run waiting for its group, or ended, runs nothing; a stage whose jobs all ended already (taken from the run
    re-run, or a retried plan) is passed over; after a failed stage, or the last one, the run is done.
    """
    if done is not None and done.index >= 0:
        _record_builds(ports, run, done, results)
    view = recorded_run(ports, run.run_id)
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
    ports: WorkflowPorts, run: RunRequest, done: StageRun, results: Sequence[BuildResult | None]
) -> None:
    jobs = {job.name: job for job in run.stages[done.index].jobs}
    for position, name in enumerate(done.jobs):
        job = jobs.get(name)
        if job is None or job.runner is not Runner.CODEBUILD:
            continue
        result = results[position] if position < len(results) else None
        build_id, error = result or (None, "the workflow kept no result of the build")
        record_build(ports, _task(run, done.index, job), build_id, error)


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
    settle_stage(ports, task.run_id, task.stage_index, str(changes["finishedAt"]))
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
