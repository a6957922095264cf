"""The webhook trigger's routes (state, enable, disable, rotate, signing secret) and the source credentials'.

Doors like api_manage's: identify the caller, parse the request, call one use case, map its result.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from domain import webhook_trigger
from domain.errors import InvalidRequest, VariableProblem
from domain.management import WebhookState
from domain.sources.filters import CREDENTIALS_NAME

from .api_manage import WEBHOOK, _answer, _body, _no_content, _parsed, _pipeline_args
from .api_schemas import (
    BODY_ERRORS,
    CredentialsChange,
    PipelineId,
    SecretChange,
    WebhookStateBody,
    WebhookWithAudit,
    WebhookWithUrl,
    request_body,
    responses,
)
from .http import public_base_url

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

WEBHOOK_PATH = "/pipeline/webhook/"


def _webhook_answer(status_with_url: int, state: WebhookState) -> Response[str]:
    """The trigger's state, with its URL (and `status_with_url`) when a new token was just made."""
    if state.token is None:
        return _answer(200, WebhookStateBody.of(state))
    url = f"{public_base_url(router.current_event)}{WEBHOOK_PATH}{state.token}"
    return _answer(status_with_url, WebhookWithUrl.of(state, url=url))


@router.get(
    "/api/pipelines/<pipelineId>/webhook",
    summary="Show the webhook's state",
    description="Whether it is enabled, whom it runs as, and whether that user lost permission; any role.",
    tags=WEBHOOK,
    responses=responses({200: ("The state, with the webhook's newest audit entries.", WebhookWithAudit)}, 404),
)
def get_webhook(pipeline_id: PipelineId) -> Response[str]:
    """The webhook trigger's state with its audit."""
    details = webhook_trigger.describe_webhook(*_pipeline_args(pipeline_id))
    return _answer(200, WebhookWithAudit.of(details.state, audit=details.audit))


@router.post(
    "/api/pipelines/<pipelineId>/webhook/enable",
    summary="Enable the webhook",
    description=(
        "Users who can run the pipeline (runners, owners). The webhook then runs as the caller. "
        "The first enable makes the URL and shows it once (201); later ones keep it (200, no url)."
    ),
    tags=WEBHOOK,
    responses=responses(
        {201: ("Enabled with a new URL, shown once.", WebhookWithUrl), 200: ("Enabled; same URL.", WebhookStateBody)},
        403,
        404,
        409,
    ),
)
def enable_webhook(pipeline_id: PipelineId) -> Response[str]:
    """Enable the webhook as the caller: 201 with the URL when it was just made, else 200 without."""
    return _webhook_answer(201, webhook_trigger.enable_webhook(*_pipeline_args(pipeline_id)))


@router.post(
    "/api/pipelines/<pipelineId>/webhook/disable",
    summary="Disable the webhook",
    description="Runners, owners and admins. The URL is kept for the next enable.",
    tags=WEBHOOK,
    responses=responses({200: ("Disabled.", WebhookStateBody)}, 403, 404, 409),
)
def disable_webhook(pipeline_id: PipelineId) -> Response[str]:
    """Disable the webhook, keeping its URL: 200 with its state."""
    return _webhook_answer(200, webhook_trigger.disable_webhook(*_pipeline_args(pipeline_id)))


@router.post(
    "/api/pipelines/<pipelineId>/webhook/rotate",
    summary="Rotate the webhook URL",
    description="Owners and admins. The old URL stops working at once; the new one is shown once.",
    tags=WEBHOOK,
    responses=responses({200: ("The new URL, shown once.", WebhookWithUrl)}, 403, 404, 409),
)
def rotate_webhook(pipeline_id: PipelineId) -> Response[str]:
    """Replace the webhook's token: 200 with the new URL."""
    return _webhook_answer(200, webhook_trigger.rotate_webhook(*_pipeline_args(pipeline_id)))


@router.put(
    "/api/pipelines/<pipelineId>/webhook/secret",
    summary="Set the webhook's signing secret",
    description=(
        "Owners and admins. Source events (GitHub, GitLab, Codeup, Gitee) must then be signed with this secret, "
        "or they are refused with 401 INVALID_SIGNATURE. Setting it again replaces it; rotating the URL keeps it. "
        "The secret is never shown again."
    ),
    tags=WEBHOOK,
    responses=responses({200: ("The state, with signed: true.", WebhookStateBody)}, 403, 404, 409, *BODY_ERRORS),
    openapi_extensions=request_body(SecretChange, "The signing secret, as set in the Git provider's webhook."),
)
def put_webhook_secret(pipeline_id: PipelineId) -> Response[str]:
    """Set the webhook's signing secret: 200 with its state."""
    state = webhook_trigger.set_signing_secret(*_pipeline_args(pipeline_id), _parsed(SecretChange, _body()).secret)
    return _webhook_answer(200, state)


@router.delete(
    "/api/pipelines/<pipelineId>/webhook/secret",
    summary="Remove the webhook's signing secret",
    description="Owners and admins. Source events are then taken without a signature.",
    tags=WEBHOOK,
    responses=responses({204: ("Removed, or there was none.", None)}, 403, 404, 409),
)
def delete_webhook_secret(pipeline_id: PipelineId) -> Response[str]:
    """Remove the webhook's signing secret: 204."""
    webhook_trigger.remove_signing_secret(*_pipeline_args(pipeline_id))
    return _no_content()


@router.put(
    "/api/pipelines/<pipelineId>/credentials/<name>",
    summary="Store source credentials",
    description=(
        "Owners and admins. Stores the https token that the pipeline's `source.credentials: <name>` names; "
        "codebuild jobs check out with it. Storing it again replaces it. The token is never shown again."
    ),
    tags=WEBHOOK,
    responses=responses({204: ("Stored.", None)}, 403, 404, *BODY_ERRORS),
    openapi_extensions=request_body(CredentialsChange, "The token."),
)
def put_credentials(pipeline_id: PipelineId, name: str) -> Response[str]:
    """Store the pipeline's https token `name`: 204."""
    args = _pipeline_args(pipeline_id)
    token = _parsed(CredentialsChange, _body()).token
    webhook_trigger.set_source_credentials(*args, _credentials_name(name), token)
    return _no_content()


@router.delete(
    "/api/pipelines/<pipelineId>/credentials/<name>",
    summary="Remove source credentials",
    description="Owners and admins. Jobs then check out without a token.",
    tags=WEBHOOK,
    responses=responses({204: ("Removed, or there was none.", None)}, 403, 404),
)
def delete_credentials(pipeline_id: PipelineId, name: str) -> Response[str]:
    """Remove the pipeline's https token `name`: 204."""
    webhook_trigger.remove_source_credentials(*_pipeline_args(pipeline_id), _credentials_name(name))
    return _no_content()


def _credentials_name(name: str) -> str:
    if not CREDENTIALS_NAME.fullmatch(name):
        reason = f"must match {CREDENTIALS_NAME.pattern}"
        raise InvalidRequest(f"The credentials name {reason}.", [VariableProblem("name", reason)])
    return name
