"""The use case behind the webhook URL: from a request to a started run, a replay, or a reasoned refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from .deliveries import Delivery, Outcome, request_digest, run_id_for_delivery
from .errors import (
    BadRequest,
    ErrorCode,
    HookrunError,
    IdempotencyKeyReused,
    InsufficientPermissions,
    RunAlreadyStarted,
    RunLimitReached,
    WebhookDisabled,
    WebhookNotFound,
)
from .models import AcceptedRun, CheckoutSource, DeliveryInfo, Model, Pipeline, RunRequest, Trigger, TriggerKind
from .policy import can_run
from .ports import AccessReader, DeliveryLog, RunSecrets, RunStarter, SigningSecrets, TriggerReader
from .requests import check_size, json_object
from .run_slots import RunSlots, RunStatuses, start_in_a_slot
from .sources import Decision, Inbound, Provider, SkipReason, read_inbound, read_source_event
from .sources.events import printable
from .tokens import hash_token, is_well_formed
from .variables import SECRET_MASK, MergedVariables, merge_variables

MAX_VARIABLES_BODY_BYTES = 64 * 1024
MAX_SOURCE_BODY_BYTES = 5 * 1024 * 1024
WOULD_RUN = "WOULD_RUN"
QUERY_PARAMETERS = frozenset({"dryRun"})  # the only query parameters the webhook takes
_IGNORED = frozenset({SkipReason.PING, SkipReason.IGNORED_EVENT})


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
    slots: RunSlots
    run_statuses: RunStatuses


@dataclass(frozen=True)
class WebhookRequest:
    """One POST to a webhook URL, as the handler received it."""

    token: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str = ""
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


@dataclass(frozen=True)
class Skipped:
    """A source event that starts no run, and why (answered 200 with `triggered: false`)."""

    pipeline_id: str
    outcome: Outcome
    reason: str
    message: str


class DryRun(Model):
    """What a delivery would do, answered instead of doing it: nothing is started and no secret value is kept."""

    triggered: Literal[False] = False
    dry_run: Literal[True] = True
    pipeline_id: str
    decision: str  # WOULD_RUN, or the reason code why no run would start
    message: str
    delivery_id: str | None  # the delivery id, Idempotency-Key or derived key that would name the run
    variables: dict[str, str]  # merged, secrets masked; empty when no run would start
    source_variables: dict[str, str]  # the HOOKRUN_* built-ins of a push or tag event
    filters: dict[str, str]  # each source setting the event passed, with the value or pattern that matched


def is_dry_run(query: Mapping[str, str]) -> bool:
    """`?dryRun=true` asks for a dry run, `false` (or no parameter) for a real delivery.

    Raises BadRequest: UNSUPPORTED_QUERY for any other parameter (variables are never read from the query, so
    they are refused rather than dropped), INVALID_PARAMETER for another value of dryRun.
    """
    unsupported = sorted(printable(name) for name in query if name not in QUERY_PARAMETERS)
    if unsupported:
        names = ", ".join(f"'{name}'" for name in unsupported)
        raise BadRequest(
            ErrorCode.UNSUPPORTED_QUERY,
            f"The webhook takes no query parameter {names}; its only one is 'dryRun'. Variables go in the JSON "
            """body, e.g. --data '{"abc":"456"}' with Content-Type: application/json.""",
        )
    value = query.get("dryRun")
    if value not in (None, "true", "false"):
        raise BadRequest(ErrorCode.INVALID_PARAMETER, "The query parameter 'dryRun' must be 'true' or 'false'.")
    return value == "true"


def receive_webhook(ports: TriggerPorts, request: WebhookRequest) -> AcceptedRun | Skipped | DryRun:
    """Start a run of the pipeline behind the token, as the user who last enabled its trigger.

    A source event (GitHub, GitLab, Codeup, Gitee) is verified, filtered and turned into built-in variables;
    a body of variables is merged over the pipeline's defaults. A delivery id, an Idempotency-Key or, for a push
    or tag event without either, a key derived from the push decides the run id, so a redelivery replays instead
    of starting a second run. With `?dryRun=true` everything is checked and the answer says what would happen,
    but nothing starts. Every request to a known token leaves a delivery record. Raises WebhookNotFound,
    WebhookDisabled, InsufficientPermissions, InvalidSignature, InvalidVariables or BadRequest.
    """
    if not is_well_formed(request.token):
        raise WebhookNotFound()
    trigger = ports.triggers.get_trigger(hash_token(request.token))
    if trigger is None:
        raise WebhookNotFound()
    inbound = read_inbound(request.headers)
    journal = _Journal(ports, trigger, inbound)
    with journal.recording_rejections():
        if inbound.key_error is not None:
            raise inbound.key_error
        journal.dry_run = is_dry_run(request.query)
        prepared = _prepare(ports, trigger, request, journal, inbound, check_signature=True)
        if journal.dry_run:
            return _dry_run_answer(prepared, journal)
        return _start(ports, prepared, journal, request)


def dry_run_delivery(ports: TriggerPorts, trigger: Trigger, request: WebhookRequest) -> DryRun:
    """A dry run of `request` as a delivery to `trigger`'s webhook, for a caller who proved who they are.

    The same checks, errors and delivery record as `?dryRun=true`, except the signature: the caller is
    authenticated, and the sample delivery need not be signed. The request's token is not used.
    """
    inbound = read_inbound(request.headers)
    journal = _Journal(ports, trigger, inbound, dry_run=True)
    with journal.recording_rejections():
        if inbound.key_error is not None:
            raise inbound.key_error
        prepared = _prepare(ports, trigger, request, journal, inbound, check_signature=False)
        return _dry_run_answer(prepared, journal)


class _Journal:
    """The delivery's record as far as it is known: every outcome is written with all that was learnt by then."""

    def __init__(self, ports: TriggerPorts, trigger: Trigger, inbound: Inbound, *, dry_run: bool = False) -> None:
        self._log = ports.deliveries
        self.dry_run = dry_run
        self.delivery = Delivery(
            pipeline_id=trigger.pipeline_id,
            incarnation=trigger.incarnation,
            received_at=ports.now(),
            source=inbound.source,
            event=inbound.event,
            delivery_id=inbound.key,
            outcome=Outcome.REJECTED,
            run_as=trigger.run_as,
        )

    def learn(self, key: str | None) -> None:
        self.delivery = self.delivery.model_copy(update={"delivery_id": key})

    def write(self, outcome: Outcome, reason: str | None = None, run_id: str | None = None) -> None:
        self._log.record(self.delivery.model_copy(update={"outcome": outcome, "reason": reason, "run_id": run_id}))

    @contextmanager
    def recording_rejections(self) -> Iterator[None]:
        """Record a refusal under its error code (a dry run's as DRY_RUN), then let it go on to the caller."""
        try:
            yield
        except HookrunError as error:
            if not isinstance(error, WebhookNotFound):
                run_id = error.run_id if isinstance(error, IdempotencyKeyReused) else None
                self.write(Outcome.DRY_RUN if self.dry_run else Outcome.REJECTED, error.code, run_id)
            raise


@dataclass(frozen=True)
class _Prepared:
    """A delivery that passed every check: what it would run with, or why a source event starts nothing."""

    pipeline: Pipeline
    trigger: Trigger
    provider: Provider | None
    key: str | None
    decision: Decision | None  # source events only
    built_ins: dict[str, str]
    merged: MergedVariables | None  # None when the source event starts nothing
    asked: Mapping[str, object]  # what the request asked for: its variables, or its push's built-ins


def _prepare(
    ports: TriggerPorts,
    trigger: Trigger,
    request: WebhookRequest,
    journal: _Journal,
    inbound: Inbound,
    *,
    check_signature: bool,
) -> _Prepared:
    key, provider = inbound.key, inbound.provider
    if not trigger.enabled:
        raise WebhookDisabled()
    access = ports.access.get_access(trigger.pipeline_id, trigger.run_as)
    pipeline = access.pipeline
    if pipeline is None or access.incarnation != trigger.incarnation:  # a trigger outliving its pipeline: none
        raise WebhookNotFound()
    if not can_run(access.user, access.grant):
        raise InsufficientPermissions(run_as=trigger.run_as, pipeline_id=pipeline.id)
    allow_undeclared = pipeline.webhook.allow_undeclared_variables
    if provider is None:
        overrides = json_object(request.body, request.header("content-type"), MAX_VARIABLES_BODY_BYTES)
        merged = merge_variables(pipeline.variables, overrides, allow_undeclared=allow_undeclared)
        return _Prepared(pipeline, trigger, None, key, None, {}, merged, overrides)
    check_size(request.body, MAX_SOURCE_BODY_BYTES)
    secret = None  # not checked
    if check_signature and trigger.signing_secret:
        secret = ports.signing_secrets.get_signing_secret(trigger.signing_secret) or ""
    source = read_source_event(
        inbound,
        provider,
        (request.headers, request.body, request.header("content-type")),
        pipeline.source,
        secret=secret,
        now_ms=ports.epoch_ms(),
    )
    journal.learn(source.key)
    if source.decision.outcome == "skip":
        return _Prepared(pipeline, trigger, provider, source.key, source.decision, source.built_ins, None, {})
    merged = merge_variables(pipeline.variables, {}, allow_undeclared=allow_undeclared, built_ins=source.built_ins)
    return _Prepared(
        pipeline, trigger, provider, source.key, source.decision, source.built_ins, merged, source.built_ins
    )


def _start(
    ports: TriggerPorts, prepared: _Prepared, journal: _Journal, request: WebhookRequest
) -> AcceptedRun | Skipped:
    pipeline, merged, key = prepared.pipeline, prepared.merged, prepared.key
    if merged is None:
        decision = prepared.decision
        reason = decision.reason if decision is not None and decision.reason is not None else SkipReason.IGNORED_EVENT
        outcome = Outcome.IGNORED_EVENT if reason in _IGNORED else Outcome.FILTERED
        journal.write(outcome, str(reason))
        return Skipped(pipeline.id, outcome, str(reason), decision.message if decision else "")
    incarnation = prepared.trigger.incarnation
    run_id = run_id_for_delivery(pipeline.id, key, incarnation) if key else ports.new_run_id()
    digest = request_digest(request.token, journal.delivery.source, prepared.asked)
    run = _run_request(
        pipeline,
        prepared.trigger,
        run_id=run_id,
        variables=merged.public(),
        secret_names=merged.secret_names,
        from_source=prepared.provider is not None,
        delivery=journal.delivery,
        request_id=request.request_id,
    ).model_copy(update={"request_digest": digest})
    try:
        start_in_a_slot(ports, run, merged.secrets(), pipeline.max_running_runs, ports.now())
    except (RunAlreadyStarted, RunLimitReached) as refused:
        # a redelivery of a run that started is its replay, even at the pipeline's limit
        if isinstance(refused, RunLimitReached) and not (key and ports.runs.get_started_run(run_id)):
            raise
        return _replay(ports, run, journal, merged)
    return AcceptedRun(run_id=run_id, pipeline_id=pipeline.id, variables=merged.masked())


def _replay(ports: TriggerPorts, run: RunRequest, journal: _Journal, merged: MergedVariables) -> AcceptedRun:
    """A repeat of a delivery: answered with the run it started then, or refused if it asked for something else."""
    original = ports.runs.get_started_run(run.run_id)
    if original is not None and original.request_digest is not None and original.request_digest != run.request_digest:
        raise IdempotencyKeyReused(run.run_id)
    # the first request's run, as it runs: its variables, even if the pipeline's defaults changed since
    variables = merged.masked() if original is None else masked_variables(original)
    journal.write(Outcome.REPLAYED, run_id=run.run_id)
    return AcceptedRun(run_id=run.run_id, pipeline_id=run.pipeline_id, variables=variables, replayed=True)


def masked_variables(run: RunRequest) -> dict[str, str]:
    """A started run's variables as they may be shown: its secret ones by name, masked."""
    return {**run.variables, **dict.fromkeys(run.secret_names, SECRET_MASK)}


def _dry_run_answer(prepared: _Prepared, journal: _Journal) -> DryRun:
    """Record the dry run with its decision and say what would have happened; nothing is started or stored."""
    decision = prepared.decision
    if prepared.merged is not None:
        verdict = WOULD_RUN
        message = f"This delivery would start a run of pipeline '{prepared.pipeline.id}'."
    else:
        verdict = str(decision.reason if decision is not None else SkipReason.IGNORED_EVENT)
        message = decision.message if decision is not None else ""
    journal.write(Outcome.DRY_RUN, verdict)
    return DryRun(
        pipeline_id=prepared.pipeline.id,
        decision=verdict,
        message=f"{message} Dry run: nothing was started.",
        delivery_id=prepared.key,
        variables=prepared.merged.masked() if prepared.merged is not None else {},
        source_variables=prepared.built_ins,
        filters=decision.matched if decision is not None else {},
    )


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
        incarnation=trigger.incarnation,
        pipeline_name=pipeline.name,
        stages=pipeline.stages,
        concurrency=pipeline.concurrency,
        variables=variables,
        secret_names=tuple(sorted(secret_names)),
        trigger_kind=TriggerKind.SOURCE if from_source else TriggerKind.WEBHOOK,
        run_as=trigger.run_as,
        created_at=delivery.received_at,
        # a request id makes every start's input unique, so a repeated name is always refused as a replay
        delivery=DeliveryInfo(
            source=delivery.source, event=delivery.event, delivery_id=delivery.delivery_id, request_id=request_id
        ),
        checkout=CheckoutSource.of(pipeline.source),
    )
