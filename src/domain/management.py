"""Management use cases: pipelines, users, members and the webhook trigger, with their permission rules."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from .deliveries import Delivery
from .errors import Conflict, ErrorCode, Forbidden, InvalidRequest, NotFound, VariableProblem
from .models import AuditEntry, Grant, Pipeline, Role, Trigger, User, UserStatus
from .policy import Caller, Rule, authorize, can_own, can_run, can_view, is_suspended, refusal, suspended
from .ports import DeliveryReader, ManagementStore, SigningSecretStore, SourceCredentialStore, StoredPipeline
from .tokens import hash_token, new_token, token_hint

RUN_AS_LOST_PERMISSION = "RUN_AS_LOST_PERMISSION"
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class ManagementPorts:
    store: ManagementStore
    signing_secrets: SigningSecretStore
    deliveries: DeliveryReader
    now: Callable[[], str]
    random_bytes: Callable[[int], bytes]
    source_credentials: SourceCredentialStore | None = None


@dataclass(frozen=True)
class WebhookState:
    pipeline_id: str
    enabled: bool
    run_as: str | None
    enabled_at: str | None
    token_hint: str | None
    problem: str | None
    signed: bool = False  # the trigger has a signing secret: source events must prove they know it
    token: str | None = None  # only right after the token was made: shown once


@dataclass(frozen=True)
class PipelineSummary:
    """A pipeline in a list: its definition and its webhook's state."""

    stored: StoredPipeline
    webhook: WebhookState


@dataclass(frozen=True)
class PipelineDetails:
    """Everything one pipeline's page shows."""

    stored: StoredPipeline
    webhook: WebhookState
    members: list[Grant]
    audit: list[AuditEntry]


@dataclass(frozen=True)
class UserDetails:
    user: User
    audit: list[AuditEntry]


@dataclass(frozen=True)
class WebhookDetails:
    state: WebhookState
    audit: list[AuditEntry]


@dataclass(frozen=True)
class DeliveryPage:
    """A page of a pipeline's deliveries, newest first, and the cursor of the next page (None at the end)."""

    deliveries: list[Delivery]
    next_cursor: str | None


def pipeline_not_found() -> NotFound:
    return NotFound(ErrorCode.PIPELINE_NOT_FOUND)


def user_not_found() -> NotFound:
    return NotFound(ErrorCode.USER_NOT_FOUND)


class _Session:
    """One use case's view of the caller: their user record and role, looked up once."""

    def __init__(self, ports: ManagementPorts, caller: Caller) -> None:
        self.ports = ports
        self.store = ports.store
        self.caller = caller
        self.user = ports.store.get_user(caller.user_id)
        self.now = ports.now()

    def audit(self, action: str, target: str, **details: str) -> AuditEntry:
        return AuditEntry(at=self.now, actor=self.caller.user_id, action=action, target=target, details=details)

    def grant_on(self, pipeline_id: str) -> Grant | None:
        return next((g for g in self.store.list_grants(pipeline_id) if g.user_id == self.caller.user_id), None)

    def pipeline(self, pipeline_id: str, needs: Rule) -> StoredPipeline:
        """The pipeline if the policy lets the caller do what `needs` their role; its answer otherwise."""
        stored = self.store.get_pipeline(pipeline_id)
        if stored is None:
            raise refusal(self.caller, self.user)
        grant = None if self.caller.is_admin else self.grant_on(pipeline_id)
        authorize(self.caller, self.user, grant, exists=True, needs=needs)
        return stored

    def require_active(self) -> None:
        if is_suspended(self.caller, self.user):
            raise suspended(self.caller.user_id)
        if not self.caller.is_admin and self.user is None:
            raise Forbidden(f"User '{self.caller.user_id}' is not a hookrun user. Ask a hookrun admin to add you.")


# Pipelines


def apply_pipeline(ports: ManagementPorts, caller: Caller, pipeline: Pipeline) -> tuple[StoredPipeline, bool]:
    """Create the pipeline (the caller becomes its owner) or update it (owners and admins). True if created."""
    session = _Session(ports, caller)
    session.require_active()
    target = f"pipeline/{pipeline.id}"
    if ports.store.get_pipeline(pipeline.id) is None:
        owner = Grant(pipeline_id=pipeline.id, user_id=caller.user_id, role=Role.OWNER)
        incarnation = ports.random_bytes(8).hex()  # a new life of this id: no history of a deleted namesake
        if ports.store.create_pipeline(pipeline, owner, session.audit("pipeline.create", target), incarnation):
            return _stored(ports, pipeline.id), True
    if not caller.is_admin and not can_view(session.user, session.grant_on(pipeline.id)):
        raise Conflict(ErrorCode.PIPELINE_EXISTS, f"The id '{pipeline.id}' is taken by a pipeline you hold no role on.")
    stored = session.pipeline(pipeline.id, can_own)
    ports.store.update_pipeline(stored, pipeline, session.audit("pipeline.update", target))
    return _stored(ports, pipeline.id), False


def get_pipeline(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> StoredPipeline:
    return _Session(ports, caller).pipeline(pipeline_id, can_view)


def describe_pipeline(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> PipelineDetails:
    """The pipeline with its webhook's state, members and newest audit entries, for a caller who may see it."""
    stored = get_pipeline(ports, caller, pipeline_id)
    return PipelineDetails(
        stored=stored,
        webhook=_state(ports, stored),
        members=_members(ports, pipeline_id),
        audit=ports.store.list_audit(f"pipeline/{pipeline_id}", incarnation=stored.incarnation),
    )


def list_pipelines(ports: ManagementPorts, caller: Caller) -> list[StoredPipeline]:
    """Every pipeline for admins; for others, those they hold a role on."""
    session = _Session(ports, caller)
    if caller.is_admin:
        return ports.store.list_pipelines(None)
    if is_suspended(caller, session.user):
        raise suspended(caller.user_id)
    if session.user is None:
        return []
    return ports.store.list_pipelines(caller.user_id)


def list_pipeline_summaries(ports: ManagementPorts, caller: Caller) -> list[PipelineSummary]:
    """The pipelines the caller may see (as list_pipelines), each with its webhook's state."""
    return [PipelineSummary(stored, _state(ports, stored)) for stored in list_pipelines(ports, caller)]


def delete_pipeline(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> None:
    """Owners and admins delete a pipeline; its webhook URL stops working at once, and its signing secret goes."""
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    trigger = _trigger_of(ports, stored)
    grants = ports.store.list_grants(pipeline_id)
    ports.store.delete_pipeline(stored, grants, session.audit("pipeline.delete", f"pipeline/{pipeline_id}"))
    if trigger is not None and trigger.signing_secret:
        ports.signing_secrets.delete_signing_secret(trigger.signing_secret)


# Users


def put_user(
    ports: ManagementPorts,
    caller: Caller,
    user_id: str,
    status: UserStatus | None,
    principals: tuple[str, ...] | None,
) -> tuple[User, bool]:
    """Admins add users and change their status or principals. True if the user was created.

    None keeps what the user has: their status (active for a new user) or their principals (none).
    """
    if not caller.is_admin:
        raise Forbidden("Only hookrun admins manage users.")
    session = _Session(ports, caller)
    previous = ports.store.get_user(user_id)
    kept_status = previous.status if previous else UserStatus.ACTIVE
    kept_principals = previous.principals if previous else ()
    user = User(
        id=user_id,
        status=kept_status if status is None else status,
        principals=kept_principals if principals is None else principals,
    )
    changes = {"status": str(user.status)} | (
        {"principals": ",".join(user.principals)} if principals is not None else {}
    )
    if previous is None:
        action = "user.create"
    elif user.status is not previous.status:
        action = "user.suspend" if user.status is UserStatus.SUSPENDED else "user.activate"
    else:
        action = "user.update"
    ports.store.put_user(user, previous, session.audit(action, f"user/{user_id}", **changes))
    return user, previous is None


def get_user(ports: ManagementPorts, caller: Caller, user_id: str) -> User:
    """Admins see every user; a user sees themself."""
    if not caller.is_admin and caller.user_id != user_id:
        raise Forbidden("Only hookrun admins see other users.")
    user = ports.store.get_user(user_id)
    if user is None:
        raise user_not_found()
    return user


def describe_user(ports: ManagementPorts, caller: Caller, user_id: str) -> UserDetails:
    """The user with their newest audit entries: for admins, or the user themself."""
    return UserDetails(get_user(ports, caller, user_id), ports.store.list_audit(f"user/{user_id}"))


# Members


def set_member(ports: ManagementPorts, caller: Caller, pipeline_id: str, user_id: str, role: Role) -> Grant:
    """Owners and admins give a user a role on the pipeline; the last owner cannot be demoted."""
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    if ports.store.get_user(user_id) is None:
        raise user_not_found()
    grants = ports.store.list_grants(pipeline_id)
    if role is not Role.OWNER:
        _keep_an_owner(grants, user_id)
    grant = Grant(pipeline_id=pipeline_id, user_id=user_id, role=role)
    audit = session.audit("member.set", f"pipeline/{pipeline_id}", user=user_id, role=role)
    ports.store.put_grant(stored, grant, audit)
    return grant


def remove_member(ports: ManagementPorts, caller: Caller, pipeline_id: str, user_id: str) -> None:
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    grants = ports.store.list_grants(pipeline_id)
    grant = next((g for g in grants if g.user_id == user_id), None)
    if grant is None:
        raise NotFound(ErrorCode.MEMBER_NOT_FOUND, f"User '{user_id}' holds no role on pipeline '{pipeline_id}'.")
    _keep_an_owner(grants, user_id)
    audit = session.audit("member.remove", f"pipeline/{pipeline_id}", user=user_id)
    ports.store.delete_grant(stored, grant, audit)


def list_members(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> list[Grant]:
    _Session(ports, caller).pipeline(pipeline_id, can_view)
    return _members(ports, pipeline_id)


def _members(ports: ManagementPorts, pipeline_id: str) -> list[Grant]:
    return sorted(ports.store.list_grants(pipeline_id), key=lambda g: g.user_id)


def _keep_an_owner(grants: list[Grant], leaving_user: str) -> None:
    owners = {g.user_id for g in grants if g.role is Role.OWNER}
    if owners == {leaving_user}:
        raise Conflict(
            ErrorCode.LAST_OWNER, f"'{leaving_user}' is the pipeline's last owner. Make another owner first."
        )


# The webhook trigger


def webhook_state(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """The trigger's state and, before the next webhook fails, whether its run-as user lost permission."""
    stored = _Session(ports, caller).pipeline(pipeline_id, can_view)
    return _state(ports, stored)


def describe_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookDetails:
    """The trigger's state with the webhook entries among the pipeline's newest audit entries."""
    stored = _Session(ports, caller).pipeline(pipeline_id, can_view)
    state = _state(ports, stored)
    audit = ports.store.list_audit(f"pipeline/{pipeline_id}", incarnation=stored.incarnation)
    return WebhookDetails(state, [entry for entry in audit if entry.action.startswith("webhook.")])


def enable_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """The caller, who must be able to run the pipeline, becomes the run-as user.

    The first enable makes the token and returns it once; later ones keep it, so the old URL works again.
    """
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, lambda user, grant: True)
    if not can_run(session.user, session.grant_on(pipeline_id)):
        raise Forbidden(
            f"User '{caller.user_id}' cannot run pipeline '{pipeline_id}', so cannot enable its webhook: "
            "the webhook runs as the user who enables it. Ask an owner for the runner role."
        )
    audit = session.audit("webhook.enable", f"pipeline/{pipeline_id}", runAs=caller.user_id)
    current = _trigger_of(ports, stored)
    if current is None:
        token = new_token(ports.random_bytes)
        trigger = _trigger(pipeline_id, token, caller.user_id, session.now, stored.incarnation)
        ports.store.create_trigger(stored, trigger, audit)
        return _state(ports, _stored(ports, pipeline_id), token)
    ports.store.update_trigger(
        stored,
        current.model_copy(update={"enabled": True, "run_as": caller.user_id, "enabled_at": session.now}),
        audit,
    )
    return _state(ports, stored)


def disable_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """Runners, owners and admins may disable; the URL is kept for the next enable."""
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_run)
    current = _existing_trigger(ports, stored)
    audit = session.audit("webhook.disable", f"pipeline/{pipeline_id}")
    ports.store.update_trigger(stored, current.model_copy(update={"enabled": False}), audit)
    return _state(ports, stored)


def rotate_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """Owners and admins replace the token: the old URL dies at once, the new one is returned once.

    Everything else about the trigger stays, its signing secret included.
    """
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    current = _existing_trigger(ports, stored)
    token = new_token(ports.random_bytes)
    replacement = current.model_copy(update={"token_hash": hash_token(token), "token_hint": token_hint(token)})
    ports.store.replace_trigger(
        stored, current.token_hash, replacement, session.audit("webhook.rotate", f"pipeline/{pipeline_id}")
    )
    return _state(ports, _stored(ports, pipeline_id), token)


def set_signing_secret(ports: ManagementPorts, caller: Caller, pipeline_id: str, secret: str) -> WebhookState:
    """Owners and admins give the webhook a signing secret (or replace it): source events must then prove it.

    The value goes to the secret store; the trigger keeps only its name. The value is never audited, logged or
    answered. Raises WEBHOOK_NOT_FOUND before the first enable, InvalidRequest for an unfit secret.
    """
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    current = _existing_trigger(ports, stored)
    _check_secret(secret)
    # a new secret each time, named afresh: a change that loses a race leaves the winner's secret as it was
    name = ports.signing_secrets.put_signing_secret(pipeline_id, secret)
    audit = session.audit("webhook.secret.set", f"pipeline/{pipeline_id}")
    try:
        ports.store.update_trigger(stored, current.model_copy(update={"signing_secret": name}), audit)
    except Conflict:
        ports.signing_secrets.delete_signing_secret(name)
        raise
    if current.signing_secret and current.signing_secret != name:
        ports.signing_secrets.delete_signing_secret(current.signing_secret)
    return _state(ports, stored)


def remove_signing_secret(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """Owners and admins remove the webhook's signing secret: source events are then taken unsigned.

    Removing a secret the webhook does not have changes nothing. Raises WEBHOOK_NOT_FOUND before the first enable.
    """
    session = _Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    current = _existing_trigger(ports, stored)
    if current.signing_secret is None:
        return _state(ports, stored)
    audit = session.audit("webhook.secret.remove", f"pipeline/{pipeline_id}")
    # the trigger lets go first: a secret left behind is harmless, a trigger naming a deleted one refuses all events
    ports.store.update_trigger(stored, current.model_copy(update={"signing_secret": None}), audit)  # nosec B105
    ports.signing_secrets.delete_signing_secret(current.signing_secret)
    return _state(ports, stored)


def set_source_credentials(ports: ManagementPorts, caller: Caller, pipeline_id: str, name: str, token: str) -> None:
    """Owners and admins store the https token that `source.credentials: <name>` names; it is never answered,
    audited or logged, and reaches a codebuild job's build only while it checks out."""
    _Session(ports, caller).pipeline(pipeline_id, can_own)
    reason = None
    if not 1 <= len(token) <= MAX_TOKEN_LENGTH:
        reason = f"must be 1 to {MAX_TOKEN_LENGTH} characters long"
    elif any(unicodedata.category(ch) in {"Cc", "Cs"} or ch.isspace() for ch in token):
        reason = "must not contain spaces, control characters or invalid Unicode"
    if reason is not None:
        raise InvalidRequest(f"The token {reason}.", [VariableProblem("token", reason)])
    _credential_store(ports).put_source_token(pipeline_id, name, token)


def remove_source_credentials(ports: ManagementPorts, caller: Caller, pipeline_id: str, name: str) -> None:
    """Owners and admins remove a stored token; removing one that is not stored changes nothing."""
    _Session(ports, caller).pipeline(pipeline_id, can_own)
    _credential_store(ports).delete_source_token(pipeline_id, name)


def _credential_store(ports: ManagementPorts) -> SourceCredentialStore:
    if ports.source_credentials is None:
        raise RuntimeError("this function is not wired to store source credentials")
    return ports.source_credentials


def trigger_to_test(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> Trigger:
    """The webhook trigger a sample delivery is tried against: for those who may run the pipeline, and admins.

    Raises FORBIDDEN for a viewer, WEBHOOK_NOT_FOUND before the first enable.
    """
    stored = _Session(ports, caller).pipeline(pipeline_id, can_run)
    return _existing_trigger(ports, stored)


def _check_secret(secret: str) -> None:
    """Raise InvalidRequest, naming the field but never the value, unless the secret is fit to sign with."""
    reason = None
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        reason = f"must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters long"
    elif any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in secret):
        reason = "must not contain control characters or invalid Unicode"
    if reason is not None:
        raise InvalidRequest(f"The signing secret {reason}.", [VariableProblem("secret", reason)])


# Deliveries


def list_deliveries(
    ports: ManagementPorts, caller: Caller, pipeline_id: str, limit: int, cursor: str | None
) -> DeliveryPage:
    """A page of what became of the requests to the pipeline's webhook, newest first; any role, admins."""
    stored = _Session(ports, caller).pipeline(pipeline_id, can_view)
    deliveries, next_cursor = ports.deliveries.list_deliveries(pipeline_id, limit, cursor, stored.incarnation)
    return DeliveryPage(deliveries, next_cursor)


def _trigger_of(ports: ManagementPorts, stored: StoredPipeline) -> Trigger | None:
    return ports.store.get_trigger(stored.token_hash) if stored.token_hash else None


def _existing_trigger(ports: ManagementPorts, stored: StoredPipeline) -> Trigger:
    """The pipeline's trigger; WEBHOOK_NOT_FOUND if its webhook was never enabled."""
    trigger = _trigger_of(ports, stored)
    if trigger is None and stored.token_hash:  # rotated or deleted since the pipeline was read
        raise Conflict(
            ErrorCode.CONFLICT, f"The webhook of pipeline '{stored.pipeline.id}' changed meanwhile. Try again."
        )
    if trigger is None:
        raise NotFound(
            ErrorCode.WEBHOOK_NOT_FOUND, f"Pipeline '{stored.pipeline.id}' has no webhook trigger yet. Enable it first."
        )
    return trigger


def _trigger(pipeline_id: str, token: str, run_as: str, now: str, incarnation: str) -> Trigger:
    return Trigger(
        token_hash=hash_token(token),
        pipeline_id=pipeline_id,
        incarnation=incarnation,
        enabled=True,
        run_as=run_as,
        enabled_at=now,
        token_hint=token_hint(token),
    )


def _stored(ports: ManagementPorts, pipeline_id: str) -> StoredPipeline:
    stored = ports.store.get_pipeline(pipeline_id)
    if stored is None:
        raise pipeline_not_found()
    return stored


def _state(ports: ManagementPorts, stored: StoredPipeline, token: str | None = None) -> WebhookState:
    trigger = _trigger_of(ports, stored)
    if trigger is None:
        return WebhookState(stored.pipeline.id, False, None, None, None, None)
    run_as = ports.store.get_user(trigger.run_as)
    grant = next((g for g in ports.store.list_grants(stored.pipeline.id) if g.user_id == trigger.run_as), None)
    return WebhookState(
        pipeline_id=stored.pipeline.id,
        enabled=trigger.enabled,
        run_as=trigger.run_as,
        enabled_at=trigger.enabled_at,
        token_hint=trigger.token_hint,
        problem=None if can_run(run_as, grant) else RUN_AS_LOST_PERMISSION,
        signed=trigger.signing_secret is not None,
        token=token,
    )
