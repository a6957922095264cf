"""HTTP edges shared by the API handlers: JSON bodies, error bodies, status codes."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

if TYPE_CHECKING:  # the webhook answers without the event handler: its imports are a good part of a cold start
    from aws_lambda_powertools.event_handler import Response

from domain.errors import (
    ErrorCode,
    HookrunError,
    IdempotencyKeyReused,
    InsufficientPermissions,
    RunLimitReached,
    Unavailable,
    VariableProblem,
)
from domain.models import AcceptedRun
from domain.requests import json_object

MAX_BODY_BYTES = 64 * 1024
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_LIMIT = re.compile(r"^[0-9]{1,3}$")


class RequestRejected(HookrunError):
    """A request that fails at the HTTP edge, before any use case runs; `problems` name each wrong field."""

    def __init__(
        self, error: ErrorCode, message: str | None = None, *, problems: list[VariableProblem] | None = None
    ) -> None:
        super().__init__(error, message, problems)


def no_such_pipeline() -> RequestRejected:
    """The answer for a pipeline id that names nothing the caller may know of; it never repeats the id."""
    return RequestRejected(ErrorCode.PIPELINE_NOT_FOUND)


def page_limit(text: str | None) -> int:
    """The `limit` query parameter of a list: DEFAULT_LIMIT if absent; INVALID_PARAMETER unless 1 to MAX_LIMIT."""
    if text is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise RequestRejected(ErrorCode.INVALID_PARAMETER, f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
    return int(text)


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    """A JSON answer for the API's resolver (Powertools' event handler, which only the API function imports)."""
    from aws_lambda_powertools.event_handler import Response

    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or {},
    )


def proxy_result(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A JSON answer as an API Gateway REST proxy result, shaped as the API's resolver shapes its own."""
    multi_value_headers = {"Content-Type": ["application/json"]} | {k: [v] for k, v in (headers or {}).items()}
    return {
        "statusCode": status,
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
        "multiValueHeaders": multi_value_headers,
    }


def error_answer(error: HookrunError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, body and headers every rejection shares: `code`, `message`, plus what the error adds."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    headers: dict[str, str] = {}
    if isinstance(error, InsufficientPermissions):
        body["runAs"] = error.run_as
    if isinstance(error, IdempotencyKeyReused):
        body["runId"] = error.run_id
    if error.problems:
        body["errors"] = [{"name": p.name, "reason": p.reason} for p in error.problems]
    if isinstance(error, RunLimitReached):
        body["maxRunningRuns"] = error.limit
    if isinstance(error, Unavailable | RunLimitReached):
        headers["Retry-After"] = str(error.retry_after_seconds)
    return error.status, body, headers


def error_response(error: HookrunError) -> Response[str]:
    """A rejection as the API's resolver answers it."""
    return json_response(*error_answer(error))


def raw_body(event: BaseProxyEvent) -> bytes:
    """The request body as bytes, whether API Gateway passed it as text or base64."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestRejected(ErrorCode.INVALID_JSON, "The request body could not be decoded.") from None
    return body.encode("utf-8", errors="surrogatepass")


def json_object_body(
    event: BaseProxyEvent, max_bytes: int = MAX_BODY_BYTES, expected: str = "a JSON object of variable names to values"
) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}`. Raises BadRequest for anything else."""
    return json_object(raw_body(event), event.headers.get("content-type"), max_bytes, expected)


def accepted_run_body(event: BaseProxyEvent, accepted: AcceptedRun, **more: Any) -> dict[str, Any]:
    """A run accepted to start, as the webhook and the run API answer it (202), with the URL that follows it."""
    status_url = f"{public_base_url(event)}/api/runs/{accepted.run_id}"
    return {"triggered": True, **accepted.model_dump(by_alias=True, mode="json"), **more, "statusUrl": status_url}


def public_base_url(event: BaseProxyEvent) -> str:
    """The URL prefix callers used to reach this API (scheme, host and any stage prefix)."""
    headers = event.headers
    host = headers.get("host") or "localhost"
    scheme = headers.get("x-forwarded-proto") or "https"
    request_path = str((event.get("requestContext") or {}).get("path") or event.path)
    prefix = request_path[: len(request_path) - len(event.path)] if request_path.endswith(event.path) else ""
    return f"{scheme}://{host}{prefix}"
