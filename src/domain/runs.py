"""How a run moves: status transitions, stage outcomes, job environments and job output."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .models import RunStatus

TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.CANCELLED})
MAX_OUTPUT_BYTES = 64 * 1024
_MIN_ENCODED_LENGTH = 4
_CUT_MARKER = "[hookrun: output cut, the first {dropped} bytes are not kept]\n"

# Which statuses may move to which: never backwards, so a retried or redriven step cannot undo progress.
# RUNNING -> RUNNING lets a retried job runner start the same job again after a crash.
_NEXT: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.SKIPPED, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
}


def statuses_that_may_move_to(target: RunStatus) -> frozenset[RunStatus]:
    """The statuses from which `target` may be reached: the guard of a conditional update."""
    return frozenset(current for current, targets in _NEXT.items() if target in targets)


def stage_outcome(job_statuses: Iterable[RunStatus]) -> RunStatus | None:
    """A stage's final status once its jobs are done, or None while any job is still pending or running."""
    statuses = list(job_statuses)
    if any(status not in TERMINAL for status in statuses):
        return None
    if any(status in {RunStatus.FAILED, RunStatus.CANCELLED} for status in statuses):
        return RunStatus.FAILED
    if statuses and all(status is RunStatus.SKIPPED for status in statuses):
        return RunStatus.SKIPPED
    return RunStatus.SUCCEEDED


def job_environment(
    variables: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    run_id: str,
    pipeline_id: str,
    stage: str,
    job: str,
) -> dict[str, str]:
    """The variables a job's script sees: the run's variables, its secrets, and hookrun's own."""
    return {
        **variables,
        **secrets,
        "HOOKRUN_RUN_ID": run_id,
        "HOOKRUN_PIPELINE_ID": pipeline_id,
        "HOOKRUN_STAGE": stage,
        "HOOKRUN_JOB": job,
    }


def mask_secrets(text: str, secret_values: Iterable[str]) -> str:
    """Replace every secret value in `text`, and its common encodings, with ***.

    The encodings a script most often prints a value in: base64 (standard and URL-safe, with or without padding),
    URL encoding (`%20` and `+` for spaces) and JSON string escaping. Longest first, so overlapping values are all
    hidden.
    """
    forms = {form for value in secret_values if value for form in _encodings(value)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _encodings(value: str) -> set[str]:
    raw = value.encode("utf-8", errors="replace")
    standard, url_safe = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    forms = {
        value,
        standard,
        url_safe,
        standard.rstrip("="),
        url_safe.rstrip("="),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    # the encodings of a secret of a few characters are as short, and would mask ordinary text
    return forms if len(value) >= _MIN_ENCODED_LENGTH else {value}


def keep_tail(text: str, dropped_before: int = 0, limit: int = MAX_OUTPUT_BYTES) -> str:
    """The last `limit` bytes of `text` (UTF-8), with a marker saying how much was dropped, if anything."""
    data = text.encode("utf-8", errors="replace")
    dropped = dropped_before + max(0, len(data) - limit)
    if dropped == 0:
        return text
    marker = _CUT_MARKER.format(dropped=dropped)
    tail = data[-(limit - len(marker)) :].decode("utf-8", errors="ignore")
    return marker + tail


@dataclass(frozen=True)
class JobScript:
    """What a script executor runs: the job's script lines, in this environment, for at most this long."""

    lines: Sequence[str]
    environment: Mapping[str, str]
    timeout_seconds: int


StopCheck = Callable[[], bool]  # asked every second or so while a script runs: True stops it


@dataclass(frozen=True)
class ExecutionResult:
    """What running a script produced."""

    exit_code: int | None
    output: str
    duration_ms: int
    timed_out: bool = False
    dropped_bytes: int = 0
    cancelled: bool = False  # stopped because its run was cancelled meanwhile


@dataclass(frozen=True)
class JobView:
    name: str
    status: RunStatus
    exit_code: int | None = None
    output: str = ""
    reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class StageView:
    index: int
    name: str
    status: RunStatus
    jobs: tuple[JobView, ...] = ()
    started_at: str | None = None
    finished_at: str | None = None
    reused_from: str | None = None  # the run whose result this stage shows: it was not run again


@dataclass(frozen=True)
class RunView:
    """A run as it is recorded: its status, variables (never secret values), stages and jobs."""

    run_id: str
    pipeline_id: str
    status: RunStatus
    variables: dict[str, str]
    secret_names: tuple[str, ...]
    trigger_kind: str
    run_as: str
    created_at: str
    pipeline_name: str = ""
    incarnation: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None
    stages: tuple[StageView, ...] = field(default=())
    cancelled_by: str | None = None
    cancelled_at: str | None = None
    rerun_of: str | None = None
    superseded_by: str | None = None
    group: str | None = None  # its concurrency group, when its pipeline queues or supersedes runs

    def stage(self, index: int) -> StageView | None:
        return next((stage for stage in self.stages if stage.index == index), None)

    def job(self, stage_index: int, name: str) -> JobView | None:
        stage = self.stage(stage_index)
        return next((job for job in stage.jobs if job.name == name), None) if stage else None

    def has_failed_before(self, index: int) -> bool:
        """True if an earlier stage failed or the run already ended: later stages must not run."""
        return self.status in TERMINAL or any(
            stage.index < index and stage.status in {RunStatus.FAILED, RunStatus.CANCELLED} for stage in self.stages
        )
