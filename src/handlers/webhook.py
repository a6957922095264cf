"""POST /pipeline/webhook/{token}: start a pipeline run. A door: read the request, call the use case, answer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.errors import HookrunError, InsufficientPermissions, InvalidVariables
from domain.models import AcceptedRun
from domain.trigger_pipeline import DryRun, WebhookRequest, receive_webhook

from .composition import container
from .http import RequestRejected, error_response, json_response, public_base_url, raw_body
from .observability import logger, metrics

app = APIGatewayRestResolver()


@app.post("/pipeline/webhook/<token>")
def post_webhook(token: str) -> Response[str]:
    event = app.current_event
    request = WebhookRequest(
        # API Gateway's own path parameter: the router's `$` would drop a trailing newline from `token`
        token=(event.path_parameters or {}).get("token", token),
        headers=dict(event.headers),
        body=raw_body(event),
        request_id=str((event.get("requestContext") or {}).get("requestId") or ""),
        query=dict(event.query_string_parameters or {}),
    )
    result = receive_webhook(container().trigger_ports, request)
    if isinstance(result, DryRun):
        metrics.add_metric(name="DRY_RUN", unit=MetricUnit.Count, value=1)
        logger.info("dry run", extra={"pipelineId": result.pipeline_id, "decision": result.decision})
        return json_response(200, result.model_dump(by_alias=True, mode="json"))
    if not isinstance(result, AcceptedRun):
        metrics.add_metric(name=result.outcome, unit=MetricUnit.Count, value=1)
        logger.info("no run started", extra={"pipelineId": result.pipeline_id, "reason": result.reason})
        return json_response(
            200,
            {
                "triggered": False,
                "pipelineId": result.pipeline_id,
                "outcome": result.outcome,
                "reason": result.reason,
                "message": result.message,
            },
        )
    metrics.add_metric(name="REPLAYED" if result.replayed else "RUN_STARTED", unit=MetricUnit.Count, value=1)
    logger.info(
        "run replayed" if result.replayed else "run started",
        extra={"runId": result.run_id, "pipelineId": result.pipeline_id},
    )
    body = {"triggered": True, **result.model_dump(by_alias=True, mode="json")}
    body["statusUrl"] = f"{public_base_url(event)}/api/runs/{result.run_id}"
    return json_response(202, body)


@app.exception_handler(HookrunError)  # type: ignore[untyped-decorator]
def rejected(error: HookrunError) -> Response[str]:
    metrics.add_metric(name=error.code, unit=MetricUnit.Count, value=1)
    context: dict[str, Any] = {"code": error.code}
    if isinstance(error, InsufficientPermissions):
        context["runAs"] = error.run_as
    if isinstance(error, InvalidVariables):
        context["variables"] = sorted({p.name for p in error.problems})
    logger.info("webhook rejected", extra=context)
    return error_response(error)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    metrics.add_metric(name="NOT_FOUND", unit=MetricUnit.Count, value=1)
    return error_response(RequestRejected("NOT_FOUND", "No such route. Webhooks are POST /pipeline/webhook/{token}."))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
