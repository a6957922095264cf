"""POST /pipeline/webhook/{token}: start a pipeline run. A door: read the request, call the use case, answer.

The function has one route, so it reads the event with Powertools' API Gateway data class rather than its event
handler: the resolver's imports (every resolver kind, asyncio) cost more at a cold start than the webhook's work.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.errors import ErrorCode, HookrunError, InsufficientPermissions, InvalidVariables
from domain.models import AcceptedRun
from domain.trigger_pipeline import DryRun, WebhookRequest, receive_webhook

from .composition import container
from .http import RequestRejected, accepted_run_body, error_answer, proxy_result, raw_body
from .observability import logger, metrics

ROUTE = "/pipeline/webhook/{token}"
# the characters Powertools' resolver takes in a path parameter (RFC 3986 and the unsafe ones API Gateway passes)
_ROUTE_PATH = re.compile(r"^/pipeline/webhook/[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+$")


def post_webhook(event: APIGatewayProxyEvent) -> dict[str, Any]:
    request = WebhookRequest(
        token=(event.path_parameters or {}).get("token", ""),
        headers=dict(event.headers),
        body=raw_body(event),
        request_id=str((event.get("requestContext") or {}).get("requestId") or ""),
        query=dict(event.query_string_parameters or {}),
    )
    result = receive_webhook(container().trigger_ports, request)
    if isinstance(result, DryRun):
        metrics.add_metric(name="DRY_RUN", unit=MetricUnit.Count, value=1)
        logger.info("dry run", extra={"pipelineId": result.pipeline_id, "decision": result.decision})
        return proxy_result(200, result.model_dump(by_alias=True, mode="json"))
    if not isinstance(result, AcceptedRun):
        metrics.add_metric(name=result.outcome, unit=MetricUnit.Count, value=1)
        logger.info("no run started", extra={"pipelineId": result.pipeline_id, "reason": result.reason})
        return proxy_result(
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
    return proxy_result(202, accepted_run_body(event, result))


def rejected(error: HookrunError) -> dict[str, Any]:
    metrics.add_metric(name=error.code, unit=MetricUnit.Count, value=1)
    context: dict[str, Any] = {"code": error.code}
    if isinstance(error, InsufficientPermissions):
        context["runAs"] = error.run_as
    if isinstance(error, InvalidVariables):
        context["variables"] = sorted({p.name for p in error.problems})
    logger.info("webhook rejected", extra=context)
    return proxy_result(*error_answer(error))


def not_found() -> dict[str, Any]:
    metrics.add_metric(name="NOT_FOUND", unit=MetricUnit.Count, value=1)
    return proxy_result(
        *error_answer(RequestRejected(ErrorCode.NOT_FOUND, f"No such route. Webhooks are POST {ROUTE}."))
    )


def is_webhook_route(event: APIGatewayProxyEvent) -> bool:
    """POST on the webhook's path: what API Gateway routes here (a direct invoke may send anything)."""
    # `$` also matches before a trailing newline, as the resolver's did: that token is then unknown (404)
    return event.http_method == "POST" and bool(_ROUTE_PATH.match(event.path))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    proxy_event = APIGatewayProxyEvent(event)
    if not is_webhook_route(proxy_event):
        return not_found()
    try:
        return post_webhook(proxy_event)
    except HookrunError as error:
        return rejected(error)
