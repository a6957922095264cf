"""The use case behind the webhook URL: from a request to a started run, a replay, or a reasoned refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
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
    Unavailable,
    WebhookDisabled,
    WebhookNotFound,
)
from .models import AcceptedRun, DeliveryInfo, Model, Pipeline, RunRequest, Trigger, TriggerKind
from .policy import can_run
from .ports import AccessReader, DeliveryLog, RunSecrets, RunStarter, SigningSecrets, TriggerReader
from .requests import printable
from .run_slots import EarlySlot, RunSlots, RunStatuses, early_slot, start_in_a_slot
from .sources import Expectations, Inbound, SkipReason, read_inbound
from .tokens import hash_token, is_well_formed
from .variables import SECRET_MASK, MergedVariables, merge_variables

WOULD_RUN = "WOULD_RUN"
QUERY_PARAMETERS = frozenset({"dryRun"})  # the only query parameters the webhook takes
_IGNORED = frozenset({SkipReason.PING, SkipReason.IGNORED_EVENT})
_Seen = Callable[[Inbound], None] | None


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
    stack_run_limit: int  # the stack's MaxRunningRunsPerPipeline


@dataclass(frozen=True)
class WebhookRequest:
    """One POST to a webhook URL, as the handler received it."""

    token: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str = ""
    query: Mapping[str, str] = field(default_factory=dict)


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
    WebhookDisabled, InsufficientPermissions, InvalidSignature, InvalidVariables, BadRequest, IdempotencyKeyReused,
    RunLimitReached or Unavailable.
    """
    if not is_well_formed(request.token):
        raise WebhookNotFound()
    trigger = ports.triggers.get_trigger(hash_token(request.token))
    if trigger is None:
        raise WebhookNotFound()
    received_at, early = ports.now(), list[EarlySlot]()

    def take_early(headers: Inbound) -> None:
        if trigger.enabled and request.query.get("dryRun") != "true" and not headers.key_error:
            early.extend(early_slot(ports, trigger, headers.key, headers.provider is not None, received_at))

    try:
        runnable, inbound = _read(ports, trigger, request, check_signature=True, on_headers=take_early)
        journal = _Journal(ports, trigger, inbound, received_at=received_at)
        with journal.recording_rejections():
            journal.dry_run = is_dry_run(request.query)
            prepared = _prepare(trigger, runnable, inbound)
            if journal.dry_run:
                return _dry_run_answer(prepared, journal)
            return _start(ports, prepared, journal, request, early[0] if early else None)
    finally:
        for slot in early:
            slot.drop()  # unless the run claimed it: the request was refused, filtered or failed


def dry_run_delivery(ports: TriggerPorts, trigger: Trigger, request: WebhookRequest) -> DryRun:
    """A dry run of `request` as a delivery to `trigger`'s webhook, for a caller who proved who they are.

    The same checks, errors and delivery record as `?dryRun=true`, except the signature: the caller is
    authenticated, and the sample delivery need not be signed. The request's token is not used.
    """
    runnable, inbound = _read(ports, trigger, request, check_signature=False)
    journal = _Journal(ports, trigger, inbound, dry_run=True)
    with journal.recording_rejections():
        return _dry_run_answer(_prepare(trigger, runnable, inbound), journal)


def _read(
    ports: TriggerPorts, trigger: Trigger, request: WebhookRequest, *, check_signature: bool, on_headers: _Seen = None
) -> tuple[Pipeline | HookrunError, Inbound]:
    """The pipeline the trigger may run now (else the refusal to raise in its turn), read once the request's headers
    are (`on_headers` is told of them first), and the request, read once."""
    runnable: list[Pipeline | HookrunError] = []

    def expectations(headers: Inbound) -> Expectations | None:
        if on_headers is not None:
            on_headers(headers)
        runnable.append(pipeline := _pipeline_to_run(ports, trigger))
        if not isinstance(pipeline, Pipeline):
            return None
        secret_name = trigger.signing_secret if check_signature else None
        signing_secret = (lambda: ports.signing_secrets.get_signing_secret(secret_name) or "") if secret_name else None
        return Expectations(pipeline.source, signing_secret, ports.epoch_ms())

    inbound = read_inbound(request.headers, request.body, expectations)
    return runnable[0], inbound


def _pipeline_to_run(ports: TriggerPorts, trigger: Trigger) -> Pipeline | HookrunError:
    if not trigger.enabled:
        return WebhookDisabled()
    try:
        access = ports.access.get_access(trigger.pipeline_id, trigger.run_as)
    except Unavailable as error:  # refused in its turn, so that it is recorded with the delivery
        return error
    pipeline = access.pipeline
    if pipeline is None or access.incarnation != trigger.incarnation:  # a trigger outliving its pipeline: none
        return WebhookNotFound()
    if not can_run(access.user, access.grant):
        return InsufficientPermissions(run_as=trigger.run_as, pipeline_id=pipeline.id)
    return pipeline


class _Journal:
    """The delivery's record, built once from the request: every outcome is written with all that is known of it."""

    def __init__(
        self,
        ports: TriggerPorts,
        trigger: Trigger,
        inbound: Inbound,
        *,
        dry_run: bool = False,
        received_at: str | None = None,
    ) -> None:
        self._log = ports.deliveries
        self.dry_run = dry_run
        self.delivery = Delivery(
            pipeline_id=trigger.pipeline_id,
            incarnation=trigger.incarnation,
            received_at=received_at if received_at is not None else ports.now(),
            source=inbound.source,
            event=inbound.event,
            delivery_id=inbound.key,
            outcome=Outcome.REJECTED,
            run_as=trigger.run_as,
        )

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
    inbound: Inbound
    merged: MergedVariables | None  # None when the source event starts nothing

    def skip(self) -> tuple[str, str]:
        """Why the source event starts nothing (its reason code), and the message saying so."""
        decision = self.inbound.decision
        reason = decision.reason if decision is not None and decision.reason is not None else SkipReason.IGNORED_EVENT
        return str(reason), decision.message if decision is not None else ""


def _prepare(trigger: Trigger, runnable: Pipeline | HookrunError, inbound: Inbound) -> _Prepared:
    """Raise the request's refusals in the order of the checks: its key, the trigger and run-as user, its body."""
    if inbound.key_error is not None:
        raise inbound.key_error
    if isinstance(runnable, HookrunError):
        raise runnable
    if inbound.body_error is not None:
        raise inbound.body_error
    pipeline = runnable
    if inbound.decision is not None and inbound.decision.outcome == "skip":
        return _Prepared(pipeline, trigger, inbound, None)
    merged = merge_variables(
        pipeline.variables,
        inbound.variables,
        allow_undeclared=pipeline.webhook.allow_undeclared_variables,
        built_ins=inbound.built_ins,
    )
    return _Prepared(pipeline, trigger, inbound, merged)


def _start(
    ports: TriggerPorts, prepared: _Prepared, journal: _Journal, request: WebhookRequest, early: EarlySlot | None
) -> AcceptedRun | Skipped:
    pipeline, merged, key = prepared.pipeline, prepared.merged, prepared.inbound.key
    if merged is None:
        reason, message = prepared.skip()
        outcome = Outcome.IGNORED_EVENT if reason in _IGNORED else Outcome.FILTERED
        journal.write(outcome, reason)
        return Skipped(pipeline.id, outcome, reason, message)
    if key:
        run_id = run_id_for_delivery(pipeline.id, key, prepared.trigger.incarnation)
    else:
        run_id = early.run_id if early is not None else ports.new_run_id()
    run = _run_request(prepared, merged, journal.delivery, run_id=run_id, request=request)
    try:
        start_in_a_slot(ports, run, merged.secrets(), pipeline.max_running_runs, ports.now(), early=early)
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
    variables = merged.masked() if original is None else masked_variables(original.variables, original.secret_names)
    journal.write(Outcome.REPLAYED, run_id=run.run_id)
    return AcceptedRun(run_id=run.run_id, pipeline_id=run.pipeline_id, variables=variables, replayed=True)


def masked_variables(variables: Mapping[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """A run's variables as they may be shown: its secret ones by name, masked, whatever the record holds."""
    return {**variables, **dict.fromkeys(secret_names, SECRET_MASK)}


def _dry_run_answer(prepared: _Prepared, journal: _Journal) -> DryRun:
    """Record the dry run with its decision and say what would have happened; nothing is started or stored."""
    inbound, merged = prepared.inbound, prepared.merged
    if merged is not None:
        verdict, message = WOULD_RUN, f"This delivery would start a run of pipeline '{prepared.pipeline.id}'."
    else:
        verdict, message = prepared.skip()
    journal.write(Outcome.DRY_RUN, verdict)
    return DryRun(
        pipeline_id=prepared.pipeline.id,
        decision=verdict,
        message=f"{message} Dry run: nothing was started.",
        delivery_id=inbound.key,
        variables=merged.masked() if merged is not None else {},
        source_variables=inbound.built_ins,
        filters=inbound.decision.matched if inbound.decision is not None else {},
    )


def _run_request(
    prepared: _Prepared, merged: MergedVariables, delivery: Delivery, *, run_id: str, request: WebhookRequest
) -> RunRequest:
    pipeline, trigger, inbound = prepared.pipeline, prepared.trigger, prepared.inbound
    return RunRequest.of(
        pipeline,
        run_id=run_id,
        incarnation=trigger.incarnation,
        variables=merged.public(),
        secret_names=tuple(sorted(merged.secret_names)),
        trigger_kind=TriggerKind.WEBHOOK if inbound.provider is None else TriggerKind.SOURCE,
        run_as=trigger.run_as,
        created_at=delivery.received_at,
        # a request id makes every start's input unique, so a repeated name is always refused as a replay
        delivery=DeliveryInfo(
            source=delivery.source,
            event=delivery.event,
            delivery_id=delivery.delivery_id,
            request_id=request.request_id,
        ),
        # what the request asked for (its variables, or its push's built-ins), keyed by the token: replays compare it
        request_digest=request_digest(request.token, delivery.source, {**inbound.built_ins, **inbound.variables}),
    )
