"""The ports: what the domain needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from .deliveries import Delivery
from .models import AuditEntry, Grant, Pipeline, RunRequest, RunStatus, Trigger, User

if TYPE_CHECKING:  # annotations only: the webhook's cold start does not import the run rules
    from .builds import BuildOutcome
    from .runs import ExecutionResult, JobScript, RunView, StopCheck

Field = str | int | None
"""A value recorded with a status change: a time, an exit code, an output, a reason."""

T = TypeVar("T")
Page = tuple[list[T], str | None]
"""A page of a list, newest first, and the cursor of the next page (None on the last one)."""


@dataclass(frozen=True)
class Access:
    """A pipeline with what decides whether a user may run it, read together."""

    pipeline: Pipeline | None
    grant: Grant | None
    user: User | None
    incarnation: str = ""  # the pipeline's


class TriggerReader(Protocol):
    def get_trigger(self, token_hash: str) -> Trigger | None:
        """The trigger stored under this token hash, read strongly consistent."""
        ...


class AccessReader(Protocol):
    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        """The pipeline, the user's grant on it and the user, in one strongly consistent read."""
        ...


class UserReader(Protocol):
    def get_user(self, user_id: str) -> User | None:
        """The hookrun user with this id, if there is one."""
        ...


class RunReader(Protocol):
    def get_run(self, run_id: str) -> RunView | None:
        """The run with its stages and jobs, read strongly consistent."""
        ...

    def list_runs(self, pipeline_id: str, limit: int, cursor: str | None, incarnation: str = "") -> Page[RunView]:
        """A page of the pipeline's (incarnation's) runs, newest first (no stages), and the next page's cursor.

        Raises InvalidCursor for a cursor this list did not hand out.
        """
        ...


class AcceptedRuns(Protocol):
    def accepted_pipeline(self, run_id: str) -> str | None:
        """The pipeline of a run the workflow accepted but may not have recorded yet; None if there is none."""
        ...


class RunSecrets(Protocol):
    def put_run_request(self, run: RunRequest, secrets: Mapping[str, str]) -> bool:
        """Keep what the run is started with, for its workflow to read, and its secret values (if any) where only
        its jobs read them, in one write: its execution is started with the run's id alone.

        False if the run has them already (a repeat of its delivery): those are kept as they are.
        """
        ...

    def delete_run_request(self, run_id: str) -> None:
        """Forget a run's request and secret values (the run was never started)."""
        ...


class RunStarter(Protocol):
    def start_run(self, run: RunRequest, *, inline: bool = False) -> None:
        """Start the workflow for `run` (its request `inline` in the execution input, or kept already); raises
        RunAlreadyStarted if the run id was used before."""
        ...

    def get_started_run(self, run_id: str) -> RunRequest | None:
        """The run as it was started under `run_id` (its kept request, or the one its execution carries inline),
        or None if there is none."""
        ...


class RunSecretsReader(Protocol):
    def get_run_secrets(self, run_id: str) -> dict[str, str]:
        """The secret values kept for a run (empty if it has none)."""
        ...

    def delete_run_secrets(self, run_id: str) -> None:
        """Forget a run's secret values (when it has ended); none kept is fine."""
        ...


class RunRequests(Protocol):
    def get_run_request(self, run_id: str) -> RunRequest | None:
        """What the run was started with (its stages, variables, delivery), or None if none is kept."""
        ...

    def keep_run_request(self, run: RunRequest) -> bool:
        """Keep the request an execution carried inline, for replays to read; False if one is kept already."""
        ...


class RunStatuses(Protocol):
    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, RunStatus]:
        """The status of each recorded run among `run_ids`, in one read; runs not recorded are left out."""
        ...


class RunRecorder(RunStatuses, Protocol):
    """The run record: a run with its stages and jobs, moved by guarded transitions only."""

    def create_run(self, run: RunRequest, status: RunStatus, at: str, group: str | None = None) -> bool:
        """Record the run in `status` (in concurrency `group`, if any) with every stage and job PENDING; False if it
        was recorded before."""
        ...

    def run_status(self, run_id: str) -> RunStatus | None:
        """The run's status alone (a cheap read, polled while a job runs), or None if it is not recorded."""
        ...

    def get_run(self, run_id: str) -> RunView | None:
        """The run with its stages and jobs, read strongly consistent."""
        ...

    def move_run(self, run_id: str, to: RunStatus, changes: Mapping[str, Field] | None = None) -> bool:
        """Move the run to `to` if the move is allowed from its current status; False if it is not."""
        ...

    def move_stage(
        self, run_id: str, stage_index: int, to: RunStatus, changes: Mapping[str, Field] | None = None
    ) -> bool:
        """Move one stage, guarded like move_run."""
        ...

    def move_job(
        self, run_id: str, stage_index: int, job_name: str, to: RunStatus, changes: Mapping[str, Field] | None = None
    ) -> bool:
        """Move one job, guarded like move_run."""
        ...


class ExecutionControl(Protocol):
    def stop_execution(self, run_id: str, cause: str) -> None:
        """Stop the run's workflow execution (and the builds it waits for); one already ended is fine."""
        ...


@dataclass(frozen=True)
class GroupLock:
    """Who holds a concurrency group, and until when at the latest (the longest an execution lives)."""

    owner: str
    lease_until: str


class ConcurrencyGroups(Protocol):
    """A concurrency group: its lock item (taken and released by conditional writes) and its waiting runs."""

    def add_waiter(self, group: str, created_at: str, run_id: str) -> None: ...
    def waiters(self, group: str) -> list[tuple[str, str]]:
        """The group's waiting runs as (created_at, run_id), oldest first."""
        ...

    def remove_waiter(self, group: str, created_at: str, run_id: str) -> None: ...
    def lock(self, group: str) -> GroupLock | None: ...
    def take_lock(self, group: str, run_id: str, lease_until: str, replacing: str | None) -> bool:
        """Take the lock if it is free (`replacing` None) or still held by `replacing`; False if another won."""
        ...

    def release_lock(self, group: str, run_id: str) -> None:
        """Free the lock if `run_id` holds it."""
        ...


@dataclass(frozen=True)
class SlotTake:
    """What taking a slot did: took it, found it held already (a repeated start of the same run), or was refused
    because `limit` slots are held (`held` lists them). `limit` is the limit kept with the slots (None: none kept).
    """

    taken: bool
    held_already: bool = False
    held: tuple[str, ...] = ()
    limit: int | None = None


class RunSlots(Protocol):
    """A pipeline's (incarnation's) slots for runs that have not ended, its `maxRunningRuns`: taken by a conditional
    write before a run starts, so concurrent starts never hold more than the limit, and freed when the run ends."""

    def take_slot(self, pipeline_id: str, incarnation: str, slot: str, limit: int) -> SlotTake:
        """Take `slot` if fewer than `limit` are held, in one conditional write that keeps `limit` with the slots."""
        ...

    def begin_take(self, pipeline_id: str, incarnation: str, slot: str, ceiling: int) -> Callable[[], SlotTake]:
        """Start taking `slot` under the limit kept with the slots (and `ceiling`), while the caller goes on; the
        callable returned waits for the take's answer (or raises its error)."""
        ...

    def free_slots(self, pipeline_id: str, incarnation: str, slots: Sequence[str]) -> None:
        """Free these slots; a slot already free is fine, so freeing twice is harmless."""
        ...


class ScriptExecutor(Protocol):
    def execute(self, script: JobScript, should_stop: StopCheck | None = None) -> ExecutionResult:
        """Run the script's lines in a shell, stopping at the first failing line, at the timeout, or (checked
        every second or so) as soon as `should_stop` says so; the result of a stopped script is discarded."""
        ...


class BuildSecrets(Protocol):
    """The secret values of one codebuild job, kept where CodeBuild resolves them for that job's build alone."""

    def put_build_secrets(self, run_id: str, stage_index: int, job_name: str, values: Mapping[str, str]) -> str:
        """Keep the job's secret values; returns the id that the build's environment references them by."""
        ...

    def delete_build_secrets(self, run_id: str, stage_index: int, job_name: str) -> None:
        """Forget them once the build ended; values already gone are fine."""
        ...


class BuildReader(Protocol):
    def get_build(self, build_id: str) -> BuildOutcome | None:
        """The build's status, duration and the tail of its log; None if there is no such build."""
        ...


class SourceCredentials(Protocol):
    def get_source_token(self, pipeline_id: str, name: str) -> str | None:
        """The https token stored as the pipeline's source credentials `name`, or None if it is not set."""
        ...


class SourceCredentialStore(Protocol):
    def put_source_token(self, pipeline_id: str, name: str, token: str) -> None:
        """Store (or replace) the pipeline's https token `name`."""
        ...

    def delete_source_token(self, pipeline_id: str, name: str) -> None:
        """Forget it; a token already gone is fine."""
        ...


@dataclass(frozen=True)
class StoredPipeline:
    pipeline: Pipeline
    token_hash: str | None
    created_at: str
    updated_at: str
    # which life of this id: made anew at each create, it keys the pipeline's history (runs, deliveries, audit)
    incarnation: str = ""
    version: int = 0  # one more at every change to the pipeline, its grants or its trigger: writes check it


class ManagementStore(Protocol):
    """Pipelines, users, grants and triggers. Every change is written together with its audit entry.

    A change to a pipeline, its grants or its trigger takes the StoredPipeline it was decided on and is written only
    if the pipeline is still at that version (raising Conflict otherwise), so concurrent changes never undo each
    other. A pipeline's audit entries are kept under its incarnation.
    """

    def get_pipeline(self, pipeline_id: str) -> StoredPipeline | None: ...
    def list_pipelines(self, user_id: str | None) -> list[StoredPipeline]:
        """All pipelines (None) or those on which the user holds a role."""
        ...

    def create_pipeline(self, pipeline: Pipeline, owner: Grant, audit: AuditEntry, incarnation: str) -> bool:
        """False if the id is taken."""
        ...

    def update_pipeline(self, stored: StoredPipeline, pipeline: Pipeline, audit: AuditEntry) -> None: ...
    def delete_pipeline(self, stored: StoredPipeline, grants: Sequence[Grant], audit: AuditEntry) -> None: ...
    def get_user(self, user_id: str) -> User | None: ...
    def put_user(self, user: User, previous: User | None, audit: AuditEntry) -> None:
        """Raises Conflict if a principal already belongs to another user."""
        ...

    def list_grants(self, pipeline_id: str) -> list[Grant]: ...
    def put_grant(self, stored: StoredPipeline, grant: Grant, audit: AuditEntry) -> None: ...
    def delete_grant(self, stored: StoredPipeline, grant: Grant, audit: AuditEntry) -> None: ...
    def get_trigger(self, token_hash: str) -> Trigger | None: ...
    def create_trigger(self, stored: StoredPipeline, trigger: Trigger, audit: AuditEntry) -> None:
        """Store a pipeline's first trigger and point the pipeline at it."""
        ...

    def update_trigger(self, stored: StoredPipeline, trigger: Trigger, audit: AuditEntry) -> None: ...
    def replace_trigger(self, stored: StoredPipeline, old_token_hash: str, trigger: Trigger, audit: AuditEntry) -> None:
        """Swap a pipeline's trigger for one with a new token, at once."""
        ...

    def list_audit(self, subject: str, limit: int = 50, incarnation: str = "") -> list[AuditEntry]:
        """The newest audit entries of `pipeline/<id>` (of that incarnation) or `user/<id>`."""
        ...


class DeliveryLog(Protocol):
    def record(self, delivery: Delivery) -> None:
        """Keep the record of one request to a webhook URL."""
        ...


class DeliveryReader(Protocol):
    def list_deliveries(
        self, pipeline_id: str, limit: int, cursor: str | None, incarnation: str = ""
    ) -> Page[Delivery]:
        """A page of the pipeline's (incarnation's) deliveries, newest first, and the next page's cursor (or None).

        Raises InvalidCursor for a cursor this list did not hand out.
        """
        ...


class SigningSecrets(Protocol):
    def get_signing_secret(self, name: str) -> str | None:
        """The value of a webhook's signing secret, or None if it is gone."""
        ...


class SigningSecretStore(Protocol):
    def put_signing_secret(self, pipeline_id: str, value: str) -> str:
        """Create or replace the pipeline's signing secret; returns its name, which the trigger keeps."""
        ...

    def delete_signing_secret(self, name: str) -> None:
        """Delete the signing secret with this name; a secret already gone is fine."""
        ...
