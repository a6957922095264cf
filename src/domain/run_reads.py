"""The run API's use cases: show a run, list a pipeline's runs. Who may see them is the policy's to say."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ErrorCode, NotFound
from .policy import Caller, authorize, can_view, refusal
from .ports import AcceptedRuns, AccessReader, RunReader, UserReader
from .runs import RunView

RUN_ID = re.compile(r"^run-[0-9a-f]{29}$")


@dataclass(frozen=True)
class RunReadPorts:
    runs: RunReader
    access: AccessReader
    users: UserReader
    accepted: AcceptedRuns


@dataclass(frozen=True)
class QueuedRun:
    """A run the workflow accepted but has not recorded yet."""

    run_id: str
    pipeline_id: str


@dataclass(frozen=True)
class RunPage:
    """A page of a pipeline's runs, newest first, and the cursor of the next page (None at the end)."""

    runs: list[RunView]
    next_cursor: str | None


def show_run(ports: RunReadPorts, caller: Caller, run_id: str) -> RunView | QueuedRun:
    """The run with its stages and jobs (QueuedRun while only accepted), for a caller who may see its pipeline.

    Raises RUN_NOT_FOUND alike for a run that does not exist and one the caller may not see; a malformed id
    names no run, so it is answered before any read.
    """
    if not RUN_ID.fullmatch(run_id):
        raise NotFound(ErrorCode.RUN_NOT_FOUND)
    run = ports.runs.get_run(run_id)
    pipeline_id = run.pipeline_id if run is not None else ports.accepted.accepted_pipeline(run_id)
    if pipeline_id is None:
        raise refusal(caller, ports.users.get_user(caller.user_id), ErrorCode.RUN_NOT_FOUND)
    access = ports.access.get_access(pipeline_id, caller.user_id)
    authorize(caller, access.user, access.grant, exists=True, needs=can_view, hidden=ErrorCode.RUN_NOT_FOUND)
    if run is not None and run.incarnation != access.incarnation:  # a deleted pipeline's, not its namesake's
        raise NotFound(ErrorCode.RUN_NOT_FOUND)
    return run if run is not None else QueuedRun(run_id, pipeline_id)


def list_runs(ports: RunReadPorts, caller: Caller, pipeline_id: str, limit: int, cursor: str | None) -> RunPage:
    """A page of the pipeline's runs, newest first, for a caller who may see the pipeline.

    Raises PIPELINE_NOT_FOUND alike for a pipeline that does not exist and one the caller may not see.
    """
    access = ports.access.get_access(pipeline_id, caller.user_id)
    authorize(caller, access.user, access.grant, exists=access.pipeline is not None, needs=can_view)
    runs, next_cursor = ports.runs.list_runs(pipeline_id, limit, cursor, access.incarnation)
    return RunPage(runs, next_cursor)
