"""POST /api/pipelines/{pipelineId}/webhook/test: a sample delivery, answered as the webhook's dry run would be.

A door like the management routes: identify the caller, parse the sample, call one use case, answer.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from domain.sample_delivery import SampleDelivery, dry_run_sample
from domain.trigger_pipeline import DryRun

from .api_manage import WEBHOOK, _answer, _body, _caller, _parsed, _pipeline_id, _ports
from .api_schemas import BODY_ERRORS, PipelineId, WebhookTest, request_body, responses
from .composition import container

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.post(
    "/api/pipelines/<pipelineId>/webhook/test",
    summary="Try the webhook with a sample delivery",
    description=(
        "Owners, runners and admins. The sample (provider, headers, body) is answered exactly as "
        "`POST /pipeline/webhook/{token}?dryRun=true` would answer it: the same checks and errors, then 200 with "
        "the decision (WOULD_RUN or the reason no run would start), the merged variables (secrets ***), the "
        "built-in source variables and the filters that matched. Nothing starts; the delivery log records it as "
        "DRY_RUN. Its signature is not checked: the caller is authenticated."
    ),
    tags=WEBHOOK,
    responses=responses({200: ("What the delivery would do.", DryRun)}, 403, 404, *BODY_ERRORS),
    openapi_extensions=request_body(WebhookTest, "The sample delivery."),
)
def try_webhook(pipeline_id: PipelineId) -> Response[str]:
    """Dry-run a sample delivery against the pipeline's webhook: 200 with what it would do."""
    caller = _caller()
    pipeline_id = _pipeline_id(pipeline_id)
    test = _parsed(WebhookTest, _body())
    sample = SampleDelivery(provider=test.provider, headers=test.headers, body=test.raw_body())
    answer = dry_run_sample(_ports(), container().trigger_ports, caller, pipeline_id, sample)
    return _answer(200, answer)
