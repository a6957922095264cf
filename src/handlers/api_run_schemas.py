"""The run API's bodies at the edge, in camelCase: the manual start's request and the run answers, with their docs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from domain.models import Model

from .api_schemas import NextCursor


class RunStart(Model):
    """POST /api/pipelines/{pipelineId}/runs: the run's variables, checked as a variable webhook's body is."""

    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Variable names to values (strings, numbers, booleans) over the pipeline's defaults; "
        "undeclared names are refused unless the pipeline allows them.",
    )


class RunTrigger(Model):
    kind: str = Field(description="webhook, source (a Git push or tag event), manual (POST .../runs) or rerun.")
    run_as: str = Field(description="The user the run executes as.")
    branch: str | None = Field(description="A push's branch (HOOKRUN_BRANCH); null otherwise.")
    tag: str | None = Field(description="A tag push's tag (HOOKRUN_TAG); null otherwise.")
    commit_sha: str | None = Field(description="A push's commit (HOOKRUN_COMMIT_SHA); null otherwise.")
    rerun_of: str | None = Field(default=None, description="The run a re-run re-runs; left out otherwise.")


class JobBody(Model):
    name: str
    status: str = Field(description="PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED or CANCELLED.")
    exit_code: int | None
    output: str = Field(description="The last 64 KiB of the job's output, secret values as ***.")
    reason: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None


class StageBody(Model):
    name: str
    status: str
    started_at: str | None
    finished_at: str | None
    reused_from: str | None = Field(default=None, description="The run whose result it shows: not run again.")
    jobs: list[JobBody]


class RunSummaryBody(Model):
    run_id: str
    status: str = Field(description="QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED.")
    created_at: str
    started_at: str | None
    finished_at: str | None
    trigger: RunTrigger
    reason: str | None = Field(description="Why the run failed or was cancelled (CANCELLED, SUPERSEDED, ...).")
    cancelled_by: str | None = Field(default=None, description="Who cancelled it.")
    cancelled_at: str | None = Field(default=None, description="When it was cancelled.")
    rerun_of: str | None = Field(default=None, description="The run it re-runs.")
    superseded_by: str | None = Field(default=None, description="The newer run of its group that cancelled it.")


class RunBody(RunSummaryBody):
    """A recorded run; one only accepted so far answers `{"runId", "status": "QUEUED", "stages": []}`."""

    pipeline_id: str
    pipeline_name: str
    variables: dict[str, str] = Field(description="The run's variables; secret ones as ***.")
    stages: list[StageBody]


class RunPage(Model):
    runs: list[RunSummaryBody] = Field(description="Newest first.")
    next_cursor: NextCursor


class RunAccepted(Model):
    """A run that was accepted and will start (the webhook's 202 answer too)."""

    triggered: bool
    run_id: str
    pipeline_id: str
    status: str = Field(description="QUEUED: accepted; GET statusUrl follows it.")
    variables: dict[str, str] = Field(description="The merged variables; secret ones as ***.")
    replayed: bool
    status_url: str
