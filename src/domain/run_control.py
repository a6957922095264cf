"""Run control: cancel a run, re-run it, and the rules that decide who may."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from .errors import Conflict, ErrorCode, HookrunError, NotFound
from .models import RunRequest, RunStatus, TriggerKind
from .policy import Caller, authorize, can_run, must_run_as_caller, refusal
from .ports import (
    AccessReader,
    ExecutionControl,
    Field,
    RunRecorder,
    RunSecrets,
    RunSecretsReader,
    RunSlots,
    RunStarter,
    UserReader,
)
from .run_slots import StartParts, free_slot, start_in_a_slot
from .runs import TERMINAL, RunView

CANCELLED = "CANCELLED"
SUPERSEDED = "SUPERSEDED"


class RunSecretStore(RunSecrets, RunSecretsReader, Protocol):
    """A run's secret values: kept, read and forgotten."""


@dataclass(frozen=True)
class RunControlPorts:
    runs: RunRecorder
    access: AccessReader
    executions: ExecutionControl
    starter: RunStarter
    secrets: RunSecretStore
    users: UserReader
    now: Callable[[], str]
    new_run_id: Callable[[], str]
    slots: RunSlots
    stack_run_limit: int  # the stack's MaxRunningRunsPerPipeline


def run_finished(run: RunView) -> Conflict:
    return Conflict(
        ErrorCode.RUN_FINISHED,
        f"Run {run.run_id} has already ended {run.status}; there is nothing to cancel. Re-run it to run it again.",
    )


def controllable_run(ports: RunControlPorts, caller: Caller, run_id: str) -> RunView:
    """The run, if the caller may cancel or re-run it: owners, runners and admins (the run routes' one policy).

    Raises RUN_NOT_FOUND (no such run, or none the caller may see) or FORBIDDEN (suspended, or a viewer).
    """
    run = ports.runs.get_run(run_id)
    if run is None:
        raise refusal(caller, ports.users.get_user(caller.user_id), ErrorCode.RUN_NOT_FOUND)
    access = ports.access.get_access(run.pipeline_id, caller.user_id)
    authorize(caller, access.user, access.grant, exists=True, needs=can_run, hidden=ErrorCode.RUN_NOT_FOUND)
    return run


def cancel_run(ports: RunControlPorts, caller: Caller, run_id: str) -> RunView:
    """Cancel a run that has not ended: it, its running jobs and waiting stages end CANCELLED, its execution stops.

    Cancelling a cancelled run changes nothing. Raises RUN_FINISHED (409) for a run that ended otherwise.
    """
    run = controllable_run(ports, caller, run_id)
    if run.status is RunStatus.CANCELLED:
        return run
    if run.status in TERMINAL:
        raise run_finished(run)
    now = ports.now()
    end_run_cancelled(
        ports.runs,
        ports.slots,
        run,
        CANCELLED,
        {"cancelledBy": caller.user_id, "cancelledAt": now},
        now=now,
    )
    ports.executions.stop_execution(run_id, f"cancelled by {caller.user_id}")
    return ports.runs.get_run(run_id) or run


def end_run_cancelled(
    runs: RunRecorder, slots: RunSlots, run: RunView, reason: str, changes: Mapping[str, Field], *, now: str
) -> bool:
    """End a run CANCELLED with `reason`: the run first (its running jobs see it and stop), then its jobs and
    stages that had not ended, and its slot is freed. False if the run had ended meanwhile (nothing is changed)."""
    if not runs.move_run(run.run_id, RunStatus.CANCELLED, {**changes, "reason": reason, "finishedAt": now}):
        return False
    with suppress(HookrunError):  # the run has ended: a slot left held is freed at the next refusal
        free_slot(slots, run)
    for stage in run.stages:
        for job in stage.jobs:
            if job.status not in TERMINAL:
                runs.move_job(
                    run.run_id, stage.index, job.name, RunStatus.CANCELLED, {"reason": reason, "finishedAt": now}
                )
        if stage.status not in TERMINAL:
            runs.move_stage(run.run_id, stage.index, RunStatus.CANCELLED, {"finishedAt": now})
    return True


def rerun(ports: RunControlPorts, caller: Caller, run_id: str, *, from_failed: bool = False) -> RunRequest:
    """Start a new run of the run's pipeline with its variables (and so its commit) and secret values, as the caller.

    With `from_failed`, the stages before the first one that did not succeed (and that the pipeline still has, in
    the same place) are shown SUCCEEDED, `reusedFrom` the run, and are not run again. Raises SECRETS_EXPIRED (409)
    when the run's secret values are no longer kept (they are deleted when it ends), PIPELINE_NOT_FOUND when its
    pipeline is gone, FORBIDDEN when the caller may not run it (an admin too needs a role: the run executes as them).
    """
    run = controllable_run(ports, caller, run_id)
    access = ports.access.get_access(run.pipeline_id, caller.user_id)
    pipeline = access.pipeline
    if pipeline is None or access.incarnation != run.incarnation:
        raise NotFound(ErrorCode.PIPELINE_NOT_FOUND, f"Pipeline '{run.pipeline_id}' of this run is gone.")
    must_run_as_caller(caller, access.user, access.grant, pipeline.id)  # the new run executes as its caller
    secrets = ports.secrets.get_run_secrets(run_id) if run.secret_names else {}
    if set(run.secret_names) - secrets.keys():
        raise Conflict(ErrorCode.SECRETS_EXPIRED)
    reuse = 0
    if from_failed:
        names = [stage.name for stage in pipeline.stages]
        for stage in run.stages:
            if stage.status is not RunStatus.SUCCEEDED or stage.index >= len(names) or names[stage.index] != stage.name:
                break
            reuse += 1
        reuse = 0 if reuse == len(run.stages) else reuse  # nothing failed: everything runs again
    request = RunRequest.of(
        pipeline,
        run_id=ports.new_run_id(),
        incarnation=run.incarnation,
        variables=run.variables,
        secret_names=run.secret_names,
        trigger_kind=TriggerKind.RERUN,
        run_as=caller.user_id,
        created_at=ports.now(),
        rerun_of=run_id,
        reuse_stages=reuse,
    )
    kept = {name: secrets[name] for name in run.secret_names}
    parts = StartParts(ports.slots, ports.runs, ports.secrets, ports.starter, ports.stack_run_limit)
    start_in_a_slot(parts, request, kept, pipeline.max_running_runs, request.created_at)
    return request


def reuse_stages(runs: RunRecorder, run_id: str, earlier_run_id: str | None, count: int) -> None:
    """Show a re-run's first `count` stages SUCCEEDED as the earlier run ended them, `reusedFrom` it: their jobs
    find themselves ended and do not run again."""
    earlier = runs.get_run(earlier_run_id) if earlier_run_id and count else None
    for stage in earlier.stages[:count] if earlier else ():
        for job in stage.jobs:
            result = {
                "reusedFrom": earlier_run_id,
                "exitCode": job.exit_code,
                "output": job.output,
                "startedAt": job.started_at,
                "finishedAt": job.finished_at,
                "durationMs": job.duration_ms,
            }
            runs.move_job(run_id, stage.index, job.name, RunStatus.RUNNING)
            runs.move_job(run_id, stage.index, job.name, RunStatus.SUCCEEDED, result)
        runs.move_stage(run_id, stage.index, RunStatus.RUNNING)
        changes = {"reusedFrom": earlier_run_id, "startedAt": stage.started_at, "finishedAt": stage.finished_at}
        runs.move_stage(run_id, stage.index, RunStatus.SUCCEEDED, changes)


def has_ended(runs: RunRecorder, run_id: str) -> bool:
    """True once the run has ended (cancelled, superseded...): a job still running is then stopped."""
    try:
        return runs.run_status(run_id) in TERMINAL
    except HookrunError:  # a failed look keeps the job going; the next one may see the cancel
        return False
