"""The use case behind the webhook URL: from a request to a started run, a replay, or a reasoned refusal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass

from .deliveries import Delivery, Outcome, run_id_for_delivery
from .errors import (
    HookrunError,
    InsufficientPermissions,
    InvalidSignature,
    RunAlreadyStarted,
    Unavailable,
    WebhookDisabled,
    WebhookNotFound,
)
from .models import AcceptedRun, DeliveryInfo, Pipeline, RunRequest, Trigger, TriggerKind
from .policy import can_run
from .ports import AccessReader, DeliveryLog, RunSecrets, RunStarter, SigningSecrets, TriggerReader
from .requests import check_size, json_object
from .sources import (
    Provider,
    SourceEvent,
    built_in_variables,
    decide,
    delivery_id,
    detect_source,
    event_name,
    idempotency_key,
    parse_source_event,
    verify_signature,
)
from .tokens import hash_token, is_well_formed
from .variables import merge_variables

MAX_VARIABLES_BODY_BYTES = 64 * 1024
MAX_SOURCE_BODY_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class TriggerPorts:
    triggers: TriggerReader
    access: AccessReader
    secrets: RunSecrets
    runs: RunStarter
    deliveries: DeliveryLog
    signing_secrets: SigningSecrets
    now: Callable[[], str]
    epoch_ms: Callable[[], int]
    new_run_id: Callable[[], str]


@dataclass(frozen=True)
class WebhookRequest:
    """One POST to a webhook URL, as the handler received it."""

    token: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str = ""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


@dataclass(frozen=True)
class Skipped:
    """A source event that starts no run, and why (answered 200 with `triggered: false`)."""

    pipeline_id: str
    outcome: Outcome
    reason: str
    message: str


def receive_webhook(ports: TriggerPorts, request: WebhookRequest) -> AcceptedRun | Skipped:
    """Start a run of the pipeline behind the token, as the user who last enabled its trigger.

    A source event (GitHub, GitLab, Codeup, Gitee) is verified, filtered and turned into built-in variables;
    a body of variables is merged over the pipeline's defaults. A delivery id or Idempotency-Key decides the
    run id, so a redelivery replays instead of starting a second run. Every request to a known token leaves
    a delivery record. Raises WebhookNotFound, WebhookDisabled, InsufficientPermissions, InvalidSignature,
    InvalidVariables or BadRequest.
    """
    if not is_well_formed(request.token):
        raise WebhookNotFound()
    trigger = ports.triggers.get_trigger(hash_token(request.token))
    if trigger is None:
        raise WebhookNotFound()
    provider = detect_source(request.headers)
    delivery = Delivery(
        pipeline_id=trigger.pipeline_id,
        received_at=ports.now(),
        source=provider.value if provider else "webhook",
        event=event_name(provider, request.headers) if provider else None,
        outcome=Outcome.REJECTED,
        run_as=trigger.run_as,
    )
    try:
        return _receive(ports, request, trigger, delivery, provider)
    except HookrunError as error:
        if not isinstance(error, WebhookNotFound):
            ports.deliveries.record(delivery.model_copy(update={"reason": error.code}))
        raise


def _receive(
    ports: TriggerPorts, request: WebhookRequest, trigger: Trigger, delivery: Delivery, provider: Provider | None
) -> AcceptedRun | Skipped:
    if not trigger.enabled:
        raise WebhookDisabled()
    access = ports.access.get_access(trigger.pipeline_id, trigger.run_as)
    pipeline = access.pipeline
    if pipeline is None:
        raise WebhookNotFound()
    if not can_run(access.user, access.grant):
        raise InsufficientPermissions(run_as=trigger.run_as, pipeline_id=pipeline.id)
    built_ins: dict[str, str] = {}
    overrides: Mapping[str, object] = {}
    if provider is None:
        key = idempotency_key(request.headers)
        overrides = json_object(request.body, request.header("content-type"), MAX_VARIABLES_BODY_BYTES)
    else:
        key = delivery_id(provider, request.headers)
        delivery = delivery.model_copy(update={"delivery_id": key})
        event = _source_event(ports, request, trigger, provider)
        decision = decide(pipeline.source, event)
        if decision.outcome == "skip":
            outcome = Outcome.IGNORED_EVENT if decision.reason in {"PING", "IGNORED_EVENT"} else Outcome.FILTERED
            reason = str(decision.reason)
            ports.deliveries.record(delivery.model_copy(update={"outcome": outcome, "reason": reason}))
            return Skipped(pipeline.id, outcome, reason, decision.message)
        built_ins = built_in_variables(event)
    delivery = delivery.model_copy(update={"delivery_id": key})
    merged = merge_variables(
        pipeline.variables, overrides, allow_undeclared=pipeline.webhook.allow_undeclared_variables, built_ins=built_ins
    )
    run_id = run_id_for_delivery(pipeline.id, key) if key else ports.new_run_id()
    secrets = merged.secrets()
    if secrets:
        ports.secrets.put_run_secrets(run_id, secrets)
    run = _run_request(
        pipeline,
        trigger,
        run_id=run_id,
        variables=merged.public(),
        secret_names=merged.secret_names,
        from_source=provider is not None,
        delivery=delivery,
        request_id=request.request_id,
    )
    try:
        ports.runs.start_run(run)
    except Unavailable:
        if secrets:
            with suppress(Unavailable):  # nothing half-done: a run that never started keeps no secrets
                ports.secrets.delete_run_secrets(run_id)
        raise
    except RunAlreadyStarted:
        ports.deliveries.record(delivery.model_copy(update={"outcome": Outcome.REPLAYED, "run_id": run_id}))
        return AcceptedRun(run_id=run_id, pipeline_id=pipeline.id, variables=merged.masked(), replayed=True)
    return AcceptedRun(run_id=run_id, pipeline_id=pipeline.id, variables=merged.masked())


def _source_event(ports: TriggerPorts, request: WebhookRequest, trigger: Trigger, provider: Provider) -> SourceEvent:
    check_size(request.body, MAX_SOURCE_BODY_BYTES)
    if trigger.signing_secret:
        secret = ports.signing_secrets.get_signing_secret(trigger.signing_secret)
        if secret is None or not verify_signature(provider, request.headers, request.body, secret, ports.epoch_ms()):
            raise InvalidSignature()
    return parse_source_event(provider, request.headers, request.body, request.header("content-type"))


def _run_request(
    pipeline: Pipeline,
    trigger: Trigger,
    *,
    run_id: str,
    variables: dict[str, str],
    secret_names: frozenset[str],
    from_source: bool,
    delivery: Delivery,
    request_id: str,
) -> RunRequest:
    return RunRequest(
        run_id=run_id,
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        stages=pipeline.stages,
        variables=variables,
        secret_names=tuple(sorted(secret_names)),
        trigger_kind=TriggerKind.SOURCE if from_source else TriggerKind.WEBHOOK,
        run_as=trigger.run_as,
        created_at=delivery.received_at,
        # a request id makes every start's input unique, so a repeated name is always refused as a replay
        delivery=DeliveryInfo(
            source=delivery.source, event=delivery.event, delivery_id=delivery.delivery_id, request_id=request_id
        ),
    )
