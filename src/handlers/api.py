"""GET /api/runs/{runId} and GET /api/pipelines/{pipelineId}/runs: read runs. A door: identify, authorize, answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.errors import HookrunError
from domain.models import PIPELINE_ID, RunStatus, UserStatus
from domain.policy import can_view
from domain.ports import Access
from domain.runs import JobView, RunView, StageView

from .composition import container
from .http import RequestRejected, error_response, json_response
from .identity import caller_id, is_admin, is_local_stack
from .observability import logger, metrics

app = APIGatewayRestResolver()

RUN_ID = re.compile(r"^run-[0-9a-f]{29}$")
LIMIT = re.compile(r"^[0-9]{1,3}$")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SECRET_MASK = "***"  # noqa: S105 - the mask shown in place of a secret, not a secret


@dataclass(frozen=True)
class Caller:
    """Who is asking: their hookrun user (an admin principal may have none) and whether they administer hookrun."""

    user_id: str | None
    admin: bool


def _run_not_found() -> RequestRejected:
    # one answer for "no such run" and "not yours to see", so run ids are no oracle
    return RequestRejected("RUN_NOT_FOUND", "No run with this id that you may see. Check the run id.")


def _pipeline_not_found() -> RequestRejected:
    return RequestRejected("PIPELINE_NOT_FOUND", "No pipeline with this id. Check the pipeline id.")


def _current_caller() -> Caller:
    """The caller of the current request; raises UNAUTHENTICATED when there is none."""
    event = app.current_event
    user_id = caller_id(event, container().management)
    admin = is_admin(event, user_id)
    if user_id is None and not admin:
        how = (
            "Name the acting user with the X-Hookrun-User header (hookrun ... --as USER)."
            if is_local_stack()
            else "Sign the request with an IAM principal that is mapped to a hookrun user."
        )
        raise RequestRejected("UNAUTHENTICATED", f"The request names no hookrun user. {how}")
    return Caller(user_id=user_id, admin=admin)


def _access(pipeline_id: str, caller: Caller) -> Access:
    # an admin may have no hookrun user; an empty id reads no grant and no user
    return container().access.get_access(pipeline_id, caller.user_id or "")


def _can_view(access: Access) -> bool:
    return can_view(access.user, access.grant)


def _suspended(access: Access) -> RequestRejected | None:
    if access.user is not None and access.user.status is UserStatus.SUSPENDED:
        return RequestRejected(
            "FORBIDDEN", f"User '{access.user.id}' is suspended. Ask a hookrun admin to reactivate the user."
        )
    return None


def _job_body(job: JobView) -> dict[str, Any]:
    return {
        "name": job.name,
        "status": job.status,
        "exitCode": job.exit_code,
        "output": job.output,
        "reason": job.reason,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
        "durationMs": job.duration_ms,
    }


def _stage_body(stage: StageView) -> dict[str, Any]:
    return {
        "name": stage.name,
        "status": stage.status,
        "startedAt": stage.started_at,
        "finishedAt": stage.finished_at,
        "jobs": [_job_body(job) for job in stage.jobs],
    }


def _summary_body(run: RunView) -> dict[str, Any]:
    return {
        "runId": run.run_id,
        "status": run.status,
        "createdAt": run.created_at,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "trigger": {"kind": run.trigger_kind, "runAs": run.run_as},
        "reason": run.reason,
    }


def run_body(run: RunView) -> dict[str, Any]:
    """A run as the API shows it: secret variables by name only, masked, whatever the record holds."""
    masked = {name: SECRET_MASK for name in run.secret_names}
    return {
        **_summary_body(run),
        "pipelineId": run.pipeline_id,
        "pipelineName": run.pipeline_name,
        "variables": {**run.variables, **masked},
        "stages": [_stage_body(stage) for stage in run.stages],
    }


def _limit() -> int:
    text = app.current_event.get_query_string_value("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not LIMIT.match(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise RequestRejected("INVALID_PARAMETER", f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
    return int(text)


@app.get("/api/runs/<run_id>")
def get_run(run_id: str) -> Response[str]:
    """A run with its stages and jobs, for a caller who may see its pipeline; QUEUED while only accepted."""
    if not RUN_ID.match(run_id):
        raise _run_not_found()
    caller = _current_caller()
    wiring = container()
    run = wiring.runs.get_run(run_id)
    if run is None:
        # accepted by the webhook, but the workflow has not written the record yet
        pipeline_id = wiring.execution_pipeline(run_id)
        if pipeline_id is None or not (caller.admin or _can_view(_access(pipeline_id, caller))):
            raise _run_not_found()
        metrics.add_metric(name="RunRead", unit=MetricUnit.Count, value=1)
        return json_response(200, {"runId": run_id, "status": RunStatus.QUEUED, "stages": []})
    if not caller.admin:
        access = _access(run.pipeline_id, caller)
        if suspended := _suspended(access):
            raise suspended
        if not can_view(access.user, access.grant):
            raise _run_not_found()
    metrics.add_metric(name="RunRead", unit=MetricUnit.Count, value=1)
    return json_response(200, run_body(run))


@app.get("/api/pipelines/<pipeline_id>/runs")
def list_runs(pipeline_id: str) -> Response[str]:
    """A page of a pipeline's runs, newest first, for a caller who may see the pipeline."""
    if not PIPELINE_ID.match(pipeline_id):
        raise _pipeline_not_found()
    caller = _current_caller()
    limit = _limit()
    cursor = app.current_event.get_query_string_value("cursor")
    access = _access(pipeline_id, caller)
    if access.pipeline is None:
        raise _pipeline_not_found()
    if not caller.admin:
        if suspended := _suspended(access):
            raise suspended
        if not can_view(access.user, access.grant):
            raise RequestRejected(
                "FORBIDDEN",
                f"User '{caller.user_id}' has no role on pipeline '{access.pipeline.id}'. "
                "Ask a pipeline owner for the viewer role.",
            )
    runs, next_cursor = container().runs.list_runs(pipeline_id, limit=limit, cursor=cursor)
    metrics.add_metric(name="RunsListed", unit=MetricUnit.Count, value=1)
    return json_response(200, {"runs": [_summary_body(run) for run in runs], "nextCursor": next_cursor})


@app.exception_handler(HookrunError)  # type: ignore[untyped-decorator]
def rejected(error: HookrunError) -> Response[str]:
    """Every rejection and outage as `{"code", "message"}` with its status (503 with Retry-After)."""
    metrics.add_metric(name=error.code, unit=MetricUnit.Count, value=1)
    logger.info("api request rejected", extra={"code": error.code, "path": app.current_event.path})
    return error_response(error)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    """Routes this function does not serve."""
    metrics.add_metric(name="NOT_FOUND", unit=MetricUnit.Count, value=1)
    return error_response(
        RequestRejected(
            "NOT_FOUND", "No such route. Runs are GET /api/runs/{runId} and GET /api/pipelines/{pipelineId}/runs."
        )
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point of ApiFunction."""
    return app.resolve(event, context)
