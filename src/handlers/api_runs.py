"""The run API: read, list, start, cancel and re-run runs. A door: identify, call, answer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from domain.errors import ErrorCode
from domain.manual_runs import start_manual_run
from domain.models import AcceptedRun, RunStatus
from domain.run_control import cancel_run, rerun
from domain.run_reads import RUN_ID, QueuedRun, show_run
from domain.run_reads import list_runs as list_runs_of
from domain.runs import RunView, StageView
from domain.trigger_pipeline import masked_variables

from .api_manage import _caller, _parsed, _pipeline_id
from .api_run_schemas import RunAccepted, RunBody, RunPage, RunStart, StageBody
from .api_schemas import BODY_ERRORS, PageCursor, PageLimit, PipelineId, RunId, request_body, responses
from .composition import container
from .http import (
    RequestRejected,
    accepted_run_body,
    json_object_body,
    json_response,
    page_limit,
)
from .observability import metrics

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

RUNS = ["runs"]
JSON_OBJECT = {"type": "object"}
MAX_RUN_BODY_BYTES = 64 * 1024  # as the webhook's body of variables


def _run_id(run_id: str) -> str:
    """The id, if it could name a run; a malformed one names none: answered before any call, even to identify."""
    if not RUN_ID.fullmatch(run_id):
        raise RequestRejected(ErrorCode.RUN_NOT_FOUND)
    return run_id


def _stage_body(stage: StageView) -> dict[str, Any]:
    """A stage with its jobs, as StageBody documents it."""
    return StageBody.model_validate(stage, from_attributes=True).model_dump(by_alias=True, mode="json")


def _trigger_body(run: RunView) -> dict[str, Any]:
    """Who started the run and, for a push or tag event, what it ran on (from its built-in variables)."""
    built_in = run.variables
    return {
        "kind": run.trigger_kind,
        "runAs": run.run_as,
        "branch": built_in.get("HOOKRUN_BRANCH"),
        "tag": built_in.get("HOOKRUN_TAG"),
        "commitSha": built_in.get("HOOKRUN_COMMIT_SHA"),
    } | ({"rerunOf": run.rerun_of} if run.rerun_of else {})


def _summary_body(run: RunView) -> dict[str, Any]:
    return {
        "runId": run.run_id,
        "status": run.status,
        "createdAt": run.created_at,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "trigger": _trigger_body(run),
        "reason": run.reason,
        "cancelledBy": run.cancelled_by,
        "cancelledAt": run.cancelled_at,
        "rerunOf": run.rerun_of,
        "supersededBy": run.superseded_by,
    }


def run_body(run: RunView) -> dict[str, Any]:
    """A run as the API shows it: secret variables by name only, masked, whatever the record holds."""
    return {
        **_summary_body(run),
        "pipelineId": run.pipeline_id,
        "pipelineName": run.pipeline_name,
        "variables": masked_variables(run.variables, run.secret_names),
        "stages": [_stage_body(stage) for stage in run.stages],
    }


@router.get(
    "/api/runs/<runId>",
    summary="Show a run",
    description="A run with its stages, jobs and job output, for a caller with any role on its pipeline.",
    tags=RUNS,
    responses=responses({200: ("The run; QUEUED with no stages while only accepted.", RunBody)}, 403, 404),
)
def get_run(run_id: RunId) -> Response[str]:
    """A run with its stages and jobs, for a caller who may see its pipeline; QUEUED while only accepted."""
    run_id = _run_id(run_id)
    run = show_run(container().run_read_ports, _caller(), run_id)
    metrics.add_metric(name="RunRead", unit=MetricUnit.Count, value=1)
    if isinstance(run, QueuedRun):
        return json_response(200, {"runId": run.run_id, "status": RunStatus.QUEUED, "stages": []})
    return json_response(200, run_body(run))


@router.get(
    "/api/pipelines/<pipelineId>/runs",
    summary="List a pipeline's runs",
    description="A page of runs, newest first (`limit` 1 to 100, `cursor` from the previous page); any role.",
    tags=RUNS,
    responses=responses(
        {200: ("A page of runs and the next page's cursor (null at the end).", RunPage)}, 400, 403, 404
    ),
)
def list_runs(
    pipeline_id: PipelineId,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Response[str]:
    """A page of a pipeline's runs, newest first, for a caller who may see the pipeline."""
    pipeline_id = _pipeline_id(pipeline_id)
    caller = _caller()
    page = list_runs_of(container().run_read_ports, caller, pipeline_id, page_limit(limit), cursor)
    metrics.add_metric(name="RunsListed", unit=MetricUnit.Count, value=1)
    return json_response(200, {"runs": [_summary_body(run) for run in page.runs], "nextCursor": page.next_cursor})


@router.post(
    "/api/pipelines/<pipelineId>/runs",
    summary="Start a run",
    description="Start a run of the pipeline as the caller (owners and runners), with `variables` over its defaults: "
    "the webhook's variable rules, errors and answer, with the trigger kind `manual`.",
    tags=RUNS,
    responses=responses(
        {202: ("The run was accepted; statusUrl follows it.", RunAccepted)}, 403, 404, 429, *BODY_ERRORS
    ),
    openapi_extensions=request_body(RunStart, "The run's variables; an empty body runs with the defaults."),
)
def start_run(pipeline_id: PipelineId) -> Response[str]:
    """Start a run as the caller; 202 with the run id, its masked variables and where to follow it."""
    pipeline_id = _pipeline_id(pipeline_id)
    caller = _caller()
    data = json_object_body(router.current_event, MAX_RUN_BODY_BYTES, expected='a JSON object: {"variables": {...}}')
    accepted = start_manual_run(container().trigger_ports, caller, pipeline_id, _parsed(RunStart, data).variables)
    metrics.add_metric(name="ManualRunStarted", unit=MetricUnit.Count, value=1)
    return json_response(202, accepted_run_body(router.current_event, accepted))


@router.post(
    "/api/runs/<runId>/cancel",
    summary="Cancel a run",
    description=(
        "Stops a run that has not ended: its execution stops, its running jobs' results are discarded (on AWS a running"
        " Lambda script runs on to its end; on the local stack it is killed),"
        " and the run, its running jobs and its waiting stages end CANCELLED. Owners, runners and admins; "
        "cancelling a cancelled run changes nothing (202), one that ended otherwise is 409 RUN_FINISHED."
    ),
    tags=RUNS,
    responses=responses({202: ("The run as it is after the cancel.", JSON_OBJECT)}, 403, 404, 409),
)
def post_cancel(run_id: RunId) -> Response[str]:
    """Cancel a run for an owner, runner or admin of its pipeline."""
    run_id = _run_id(run_id)
    run = cancel_run(container().run_control_ports, _caller(), run_id)
    metrics.add_metric(name="RunCancelled", unit=MetricUnit.Count, value=1)
    return json_response(202, _summary_body(run))


@router.post(
    "/api/runs/<runId>/rerun",
    summary="Re-run a run",
    description=(
        "Starts a new run of the pipeline (as it is now) with the same variables and commit, as the caller "
        "(`trigger.kind: rerun`, `rerunOf`). `?from=failed` shows the stages before the first that did not succeed "
        "SUCCEEDED with `reusedFrom` and runs the rest. Owners and runners (admins too need a role: the run executes "
        "as them); 409 SECRETS_EXPIRED when the run's secret values are no longer kept (deleted when it succeeded or "
        "failed)."
    ),
    tags=RUNS,
    responses=responses(
        {202: ("The new run, as the webhook answers an accepted call.", JSON_OBJECT)}, 400, 403, 404, 409, 429
    ),
)
def post_rerun(
    run_id: RunId,
    from_: Annotated[
        str | None, Query(alias="from", description="'failed': run again from the first stage that did not succeed.")
    ] = None,
) -> Response[str]:
    """Re-run a run for an owner or runner of its pipeline: the new run executes as them."""
    run_id = _run_id(run_id)
    if from_ not in (None, "failed"):
        raise RequestRejected(ErrorCode.INVALID_PARAMETER, "The query parameter 'from' takes only 'failed'.")
    started = rerun(container().run_control_ports, _caller(), run_id, from_failed=from_ == "failed")
    metrics.add_metric(name="RunRerun", unit=MetricUnit.Count, value=1)
    variables = masked_variables(started.variables, started.secret_names)
    accepted = AcceptedRun(run_id=started.run_id, pipeline_id=started.pipeline_id, variables=variables)
    answer = accepted_run_body(router.current_event, accepted, rerunOf=run_id, reusedStages=started.reuse_stages)
    return json_response(202, answer)
