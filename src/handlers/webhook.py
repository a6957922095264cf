"""POST /pipeline/webhook/{token}: start a pipeline run. A door: parse, call the use case, answer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.errors import HookrunError, InsufficientPermissions, InvalidVariables
from domain.trigger_pipeline import trigger_pipeline

from .composition import container
from .http import RequestRejected, error_response, json_object_body, json_response, public_base_url
from .observability import logger, metrics

app = APIGatewayRestResolver()


@app.post("/pipeline/webhook/<token>")
def post_webhook(token: str) -> Response[str]:
    overrides = json_object_body(app.current_event)
    accepted = trigger_pipeline(container().trigger_ports, token, overrides)
    metrics.add_metric(name="RunStarted", unit=MetricUnit.Count, value=1)
    logger.info("run started", extra={"runId": accepted.run_id, "pipelineId": accepted.pipeline_id})
    body = accepted.model_dump(by_alias=True, mode="json")
    body["statusUrl"] = f"{public_base_url(app.current_event)}/api/runs/{accepted.run_id}"
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
