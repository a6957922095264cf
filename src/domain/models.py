"""The nouns of hookrun (pipelines, variables, triggers, users, grants, runs): pure pydantic, no AWS or clock."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .base import MAX_VALUE_LENGTH, Model
from .declarations import (
    MAX_SAFE_NUMBER,
    RESERVED_NAMES,
    VARIABLE_NAME,
    VariableDeclaration,
    VariableType,
    is_reserved_name,
)
from .jobs import (
    DEFAULT_BUILD_IMAGE,
    DEFAULT_COMPUTE_TYPE,
    DEFAULT_JOB_TIMEOUT_SECONDS,
    MAX_BUILD_TIMEOUT_SECONDS,
    MAX_JOB_TIMEOUT_SECONDS,
    Job,
    Runner,
    Stage,
)
from .sources import SourceSettings

# re-exported: the domain's models live here
__all__ = [
    "DEFAULT_BUILD_IMAGE",
    "DEFAULT_COMPUTE_TYPE",
    "DEFAULT_JOB_TIMEOUT_SECONDS",
    "MAX_BUILD_TIMEOUT_SECONDS",
    "MAX_JOB_TIMEOUT_SECONDS",
    "MAX_SAFE_NUMBER",
    "MAX_VALUE_LENGTH",
    "RESERVED_NAMES",
    "VARIABLE_NAME",
    "Job",
    "Model",
    "Runner",
    "SourceSettings",
    "Stage",
    "VariableDeclaration",
    "VariableType",
    "is_reserved_name",
]

PIPELINE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# a stage's plan carries the run's variables: defaults plus a 64 KiB body stay well below Step Functions' 256 KiB
MAX_DEFAULTS_BYTES = 64 * 1024
# a stage's plan carries its jobs too: with the variables it stays below a state's 256 KiB
MAX_STAGE_BYTES = 96 * 1024
# a run's request (stages and variables) is kept in one item at its start: DynamoDB takes 400 KB
MAX_STAGES_BYTES = 240 * 1024
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
DEFAULT_MAX_RUNNING_RUNS = 10
MAX_RUNNING_RUNS = 1000  # each run not ended holds ~60 bytes of one item: far below DynamoDB's 400 KB


class WebhookSettings(Model):
    allow_undeclared_variables: bool = False


class ConcurrencyMode(StrEnum):
    """What happens when runs of one group overlap: all run, one at a time in order, or the newest wins."""

    PARALLEL = "parallel"
    QUEUE = "queue"
    SUPERSEDE = "supersede"


GROUP_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")


class Concurrency(Model):
    """`concurrency: {mode, group}`: `group` may name variables (`${HOOKRUN_BRANCH}`); empty is one per pipeline."""

    mode: ConcurrencyMode = ConcurrencyMode.PARALLEL
    group: Annotated[str, Field(max_length=200)] = ""

    def group_of(self, pipeline_id: str, variables: dict[str, str]) -> str:
        """The run's group: the pipeline and the template with the run's variables put in (unknown ones empty)."""
        return f"{pipeline_id}#" + GROUP_VARIABLE.sub(lambda m: variables.get(m.group(1), ""), self.group)[:200]


def _fit_a_runs_start(what: str, size: int, limit: int, remedy: str) -> None:
    """Refuse a part of a pipeline that would not fit in a run's start (Step Functions takes 256 KiB of input)."""
    if size > limit:
        raise ValueError(
            f"{what} take {size} bytes; at most {limit} fit in a run's start (Step Functions takes 256 KiB): {remedy}"
        )


class Pipeline(Model):
    """A pipeline as its file describes it."""

    id: Annotated[str, Field(pattern=PIPELINE_ID.pattern)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    variables: dict[str, VariableDeclaration] = Field(default_factory=dict)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    # runs not ended (queued or running) at once; one more answers 429 RUN_LIMIT_REACHED
    max_running_runs: Annotated[int, Field(ge=1, le=MAX_RUNNING_RUNS, strict=True)] = DEFAULT_MAX_RUNNING_RUNS
    stages: Annotated[tuple[Stage, ...], Field(min_length=1, max_length=50)]

    @field_validator("variables", mode="before")
    @classmethod
    def _expand_shorthand(cls, value: Any) -> Any:
        """`abc: "123"` is shorthand for a string variable with default "123"."""
        if not isinstance(value, dict):
            return value
        return {
            name: decl if isinstance(decl, dict | VariableDeclaration) else {"default": decl}
            for name, decl in value.items()
        }

    @field_validator("variables")
    @classmethod
    def _names_are_valid(cls, value: dict[str, VariableDeclaration]) -> dict[str, VariableDeclaration]:
        for name in value:
            if not VARIABLE_NAME.fullmatch(name):
                raise ValueError(f"variable name {name!r} must match {VARIABLE_NAME.pattern}")
            if is_reserved_name(name):
                raise ValueError(f"variable name {name!r} is reserved: it would change how the job's shell runs")
        # as the run's request holds them (JSON), so that many small ones cannot overflow its item
        defaults = {n: d.render(d.default) for n, d in value.items() if d.default is not None}
        size = len(json.dumps(defaults, ensure_ascii=False, separators=(",", ":")).encode())
        remedy = "shorten the defaults or keep large values in the job's script"
        _fit_a_runs_start("the variables' names and defaults", size, MAX_DEFAULTS_BYTES, remedy)
        return value

    @model_validator(mode="after")
    def _stages_fit_a_runs_start(self) -> Pipeline:
        sizes = [len(stage.model_dump_json(by_alias=True).encode()) for stage in self.stages]
        advice = "keep long scripts in the repository and call them from the jobs"
        for stage, size in zip(self.stages, sizes, strict=True):
            if size > MAX_STAGE_BYTES:
                raise ValueError(
                    f"stage {stage.name!r} takes {size} bytes; at most {MAX_STAGE_BYTES} fit in a workflow state "
                    f"with the run's variables (Step Functions takes 256 KiB): split it, or {advice}"
                )
        if sum(sizes) > MAX_STAGES_BYTES:
            raise ValueError(
                f"the stages take {sum(sizes)} bytes; at most {MAX_STAGES_BYTES} fit in a run's request (DynamoDB "
                f"takes 400 KB an item): {advice}"
            )
        return self

    @model_validator(mode="after")
    def _stage_names_unique(self) -> Pipeline:
        names = [stage.name for stage in self.stages]
        if len(names) != len(set(names)):
            raise ValueError("stage names must be unique")
        return self

    @model_validator(mode="after")
    def _checkout_has_a_repository(self) -> Pipeline:
        if self.source.repository is None:
            wanting = [job.name for stage in self.stages for job in stage.jobs if job.checkout]
            if wanting:
                raise ValueError(f"job {wanting[0]!r} asks for a checkout: set 'source.repository'")
        return self


class Role(StrEnum):
    OWNER = "owner"
    RUNNER = "runner"
    VIEWER = "viewer"


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class User(Model):
    """A hookrun user; `principals` are the IAM principal ARNs that act as this user on AWS."""

    id: Annotated[str, Field(pattern=USER_ID.pattern)]
    status: UserStatus = UserStatus.ACTIVE
    principals: tuple[str, ...] = ()


class Grant(Model):
    pipeline_id: str
    user_id: str
    role: Role


class Trigger(Model):
    """A pipeline's webhook trigger. Only the token's hash is ever kept; the signing secret by name only."""

    token_hash: str
    pipeline_id: str
    enabled: bool
    run_as: str
    enabled_at: str
    token_hint: str
    signing_secret: str | None = None
    incarnation: str = ""  # the pipeline's, when the trigger was made: where its deliveries are kept


class AuditEntry(Model):
    """Who changed what, when: kept with the pipeline or user it concerns."""

    at: str
    actor: str
    action: str
    target: str
    details: dict[str, str] = Field(default_factory=dict)


class RunStatus(StrEnum):
    """Status of a run, a stage or a job. Runs start QUEUED; stages and jobs wait as PENDING."""

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


class TriggerKind(StrEnum):
    WEBHOOK = "webhook"
    SOURCE = "source"
    RERUN = "rerun"
    MANUAL = "manual"


class DeliveryInfo(Model):
    """Where a run came from: recorded in the delivery log by the workflow's first step."""

    source: str
    event: str | None = None
    delivery_id: str | None = None
    request_id: str = ""


class CheckoutSource(Model):
    """Where a run's jobs check out from: the pipeline's repository, the branch of runs without a commit, and the
    name of the stored token that reads it (never its value)."""

    repository: str
    default_branch: str = "main"
    credentials: str | None = None

    @classmethod
    def of(cls, source: SourceSettings) -> CheckoutSource | None:
        if source.repository is None:
            return None
        return cls(repository=source.repository, default_branch=source.default_branch, credentials=source.credentials)


class RunRequest(Model):
    """What the workflow needs to run a pipeline once. Never carries secret values."""

    # the workflow adds its own keys (e.g. a caught error) beside the execution input
    model_config = ConfigDict(**{**Model.model_config, "extra": "ignore"})

    run_id: str
    pipeline_id: str
    incarnation: str = ""  # the pipeline's: a pipeline made again with the same id does not see this run
    pipeline_name: str
    stages: tuple[Stage, ...]
    variables: dict[str, str]
    secret_names: tuple[str, ...] = ()
    trigger_kind: TriggerKind = TriggerKind.WEBHOOK
    run_as: str
    created_at: str
    delivery: DeliveryInfo | None = None
    concurrency: Concurrency = Field(default_factory=Concurrency)  # the pipeline's, for the workflow to take
    rerun_of: str | None = None  # the run this one re-runs
    reuse_stages: int = 0  # how many leading stages are taken from `rerun_of` instead of run again
    # an HMAC of what the request asked for, keyed by its webhook token: tells a replay from a reused key
    request_digest: str | None = None
    checkout: CheckoutSource | None = None

    @classmethod
    def of(cls, pipeline: Pipeline, **fields: Any) -> RunRequest:
        """A run of `pipeline` as it is now (its name, stages, concurrency and checkout), with these `fields`."""
        return cls(
            pipeline_id=pipeline.id,
            pipeline_name=pipeline.name,
            stages=pipeline.stages,
            concurrency=pipeline.concurrency,
            checkout=CheckoutSource.of(pipeline.source),
            **fields,
        )


class ExecutionInput(Model):
    """What a run's execution is started with: the run, by id, and its request only if that is small and holds no
    secret value (its first state keeps it); else that is kept apart, so the input stays small (Step Functions
    takes 256 KiB)."""

    # an execution started before requests were kept carries the whole request
    model_config = ConfigDict(**{**Model.model_config, "extra": "ignore"})

    run_id: str
    pipeline_id: str
    incarnation: str = ""
    # unique per request: a repeated name with the same input is not refused (Step Functions' idempotency)
    created_at: str = ""
    request_id: str = ""
    request_digest: str | None = None
    request: RunRequest | None = None  # carried inline: the webhook kept nothing (`run_slots.travels_inline`)

    @classmethod
    def of(cls, run: RunRequest, *, inline: bool = False) -> ExecutionInput:
        return cls(
            request=run if inline else None,
            run_id=run.run_id,
            pipeline_id=run.pipeline_id,
            incarnation=run.incarnation,
            created_at=run.created_at,
            request_id=run.delivery.request_id if run.delivery is not None else "",
            request_digest=run.request_digest,
        )


class AcceptedRun(Model):
    """The answer to an accepted webhook."""

    run_id: str
    pipeline_id: str
    status: Literal[RunStatus.QUEUED] = RunStatus.QUEUED
    variables: dict[str, str]
    replayed: bool = False
