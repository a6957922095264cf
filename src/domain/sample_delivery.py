"""Trying a webhook without its token: a sample delivery, answered exactly as a dry run of the webhook would be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .management import ManagementPorts
from .policy import Caller
from .trigger_pipeline import DryRun, TriggerPorts, WebhookRequest, dry_run_delivery
from .webhook_trigger import trigger_to_test

# The header that names each sender's event, and the event a sample is unless its headers say otherwise.
SAMPLE_EVENT_HEADERS: dict[str, tuple[str, str] | None] = {
    "webhook": None,
    "github": ("X-GitHub-Event", "push"),
    "gitea": ("X-Gitea-Event", "push"),
    "forgejo": ("X-Forgejo-Event", "push"),
    "gitlab": ("X-Gitlab-Event", "Push Hook"),
    "codeup": ("Codeup-Event", "Push Hook"),
    "gitee": ("X-Gitee-Event", "Push Hook"),
}


@dataclass(frozen=True)
class SampleDelivery:
    """What a provider (or `webhook`: a general or variable call) would send: its headers and raw body."""

    provider: str
    headers: Mapping[str, str]
    body: bytes


def dry_run_sample(
    management: ManagementPorts, triggers: TriggerPorts, caller: Caller, pipeline_id: str, sample: SampleDelivery
) -> DryRun:
    """Answer `sample` as `?dryRun=true` on the pipeline's webhook would, for a caller who may run it.

    The sample gets its provider's event header (unless it has one) and `Content-Type: application/json`
    (unless it names one). Its signature is not checked: the caller is authenticated. Raises what the
    webhook's dry run raises, and FORBIDDEN, PIPELINE_NOT_FOUND or WEBHOOK_NOT_FOUND.
    """
    trigger = trigger_to_test(management, caller, pipeline_id)
    sample_request = WebhookRequest(token="", headers=sample_headers(sample), body=sample.body)  # nosec B106 # no token: the caller is authenticated
    return dry_run_delivery(triggers, trigger, sample_request)


def sample_headers(sample: SampleDelivery) -> dict[str, str]:
    """The sample's headers with its provider's event header and a JSON content type added where missing."""
    headers = dict(sample.headers)
    present = {name.lower() for name in headers}
    event = SAMPLE_EVENT_HEADERS[sample.provider]
    if event is not None and event[0].lower() not in present:
        headers[event[0]] = event[1]
    if "content-type" not in present:
        headers["Content-Type"] = "application/json"
    return headers
