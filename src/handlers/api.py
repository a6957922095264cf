"""ApiFunction: the management and run API under /api, behind AWS_IAM. The resolver, its routers and its errors."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.errors import ErrorCode, HookrunError

from . import api_manage, api_runs, api_webhook, api_webhook_test
from .http import RequestRejected, error_response
from .observability import logger, metrics

SWAGGER_PATH = "/swagger"
LOCAL_USER_SCHEME = "localUser"
LOCAL_USER_HEADER = "X-Hookrun-User"  # read by the local API Gateway (hookrun/local_api.py), never by this function

# validation maps the template's camelCase path parameters to the routes' arguments and documents them
app = APIGatewayRestResolver(enable_validation=True)
app.include_router(api_runs.router)
app.include_router(api_manage.router)
app.include_router(api_webhook.router)
app.include_router(api_webhook_test.router)
app.configure_openapi(
    title="hookrun API",
    version="1",
    description="Manage pipelines, users, members and webhook triggers, and follow runs. Every route is AWS_IAM.",
    security_schemes={
        "sigv4": APIKey(
            name="Authorization",
            in_=APIKeyIn.header,
            description="AWS Signature Version 4 of an IAM principal mapped to a hookrun user.",
        )
    },
    security=[{"sigv4": []}],
)


# The template has no such route: only the local API Gateway routes it here. There the acting user is the
# X-Hookrun-User header (the gateway signs as that user's principal), so this schema declares it: Authorize, then
# "Try it out" sends it. The deployed API's schema (configure_openapi above) knows no such header.
app.enable_swagger(
    path=SWAGGER_PATH,
    security_schemes={
        LOCAL_USER_SCHEME: APIKey(
            name=LOCAL_USER_HEADER,
            in_=APIKeyIn.header,
            description="The local stack only: the hookrun user to act as (admin, alice, bob).",
        )
    },
    security=[{LOCAL_USER_SCHEME: []}],
    persist_authorization=True,
)


@app.exception_handler(HookrunError)  # type: ignore[untyped-decorator]
def rejected(error: HookrunError) -> Response[str]:
    """Every rejection and outage as `{"code", "message"}` with its status (503 with Retry-After)."""
    metrics.add_metric(name=error.code, unit=MetricUnit.Count, value=1)
    logger.info("api request rejected", extra={"code": error.code, "path": app.current_event.path})
    return error_response(error)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def invalid_parameter(error: RequestValidationError) -> Response[str]:
    """Powertools' own validation (a query parameter given twice, say) answered in the API's shape, echoing nothing."""
    places = {str(problem["loc"][0]) for problem in error.errors() if problem.get("loc")}
    if places <= {"query", "path", "header"}:
        names = sorted({str(problem["loc"][-1]) for problem in error.errors() if problem.get("loc")})
        message = f"Give each of {', '.join(names) or 'the parameters'} once, with a value this route takes."
        answer: Response[str] = rejected(RequestRejected(ErrorCode.INVALID_PARAMETER, message))
    else:
        answer = rejected(RequestRejected(ErrorCode.INVALID_REQUEST))
    return answer


def _no_such_route() -> Response[str]:
    metrics.add_metric(name="NOT_FOUND", unit=MetricUnit.Count, value=1)
    return error_response(
        RequestRejected(ErrorCode.NOT_FOUND, "No such route. The README's 'Management API' section lists the routes.")
    )


@app.not_found
def not_found(_: Exception) -> Response[str]:
    """Routes this function does not serve."""
    return _no_such_route()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point of ApiFunction."""
    metrics.add_metric(name="ApiRequest", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
