"""Management use cases: pipelines, users, members and deliveries, with their permission rules.

The webhook trigger's use cases (and the pipeline's stored secrets) are in webhook_trigger.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .deliveries import Delivery
from .errors import Conflict, ErrorCode, Forbidden, NotFound
from .models import AuditEntry, Grant, Pipeline, Role, Trigger, User, UserStatus
from .policy import Caller, Rule, authorize, can_own, can_run, can_view, is_suspended, refusal, suspended
from .ports import DeliveryReader, ManagementStore, SigningSecretStore, SourceCredentialStore, StoredPipeline

RUN_AS_LOST_PERMISSION = "RUN_AS_LOST_PERMISSION"


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
class PipelineDetails(PipelineSummary):
    """Everything one pipeline's page shows: its summary, members and newest changes."""

    members: list[Grant]
    audit: list[AuditEntry]


@dataclass(frozen=True)
class UserDetails:
    user: User
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


class Session:
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
    session = Session(ports, caller)
    session.require_active()
    target = f"pipeline/{pipeline.id}"
    if ports.store.get_pipeline(pipeline.id) is None:
        owner = Grant(pipeline_id=pipeline.id, user_id=caller.user_id, role=Role.OWNER)
        incarnation = ports.random_bytes(8).hex()  # a new life of this id: no history of a deleted namesake
        if ports.store.create_pipeline(pipeline, owner, session.audit("pipeline.create", target), incarnation):
            return stored_pipeline(ports, pipeline.id), True
    if not caller.is_admin and not can_view(session.user, session.grant_on(pipeline.id)):
        raise Conflict(ErrorCode.PIPELINE_EXISTS, f"The id '{pipeline.id}' is taken by a pipeline you hold no role on.")
    stored = session.pipeline(pipeline.id, can_own)
    ports.store.update_pipeline(stored, pipeline, session.audit("pipeline.update", target))
    return stored_pipeline(ports, pipeline.id), False


def get_pipeline(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> StoredPipeline:
    return Session(ports, caller).pipeline(pipeline_id, can_view)


def describe_pipeline(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> PipelineDetails:
    """The pipeline with its webhook's state, members and newest audit entries, for a caller who may see it."""
    stored = get_pipeline(ports, caller, pipeline_id)
    return PipelineDetails(
        stored=stored,
        webhook=webhook_state_of(ports, stored),
        members=_members(ports, pipeline_id),
        audit=ports.store.list_audit(f"pipeline/{pipeline_id}", incarnation=stored.incarnation),
    )


def list_pipelines(ports: ManagementPorts, caller: Caller) -> list[StoredPipeline]:
    """Every pipeline for admins; for others, those they hold a role on."""
    session = Session(ports, caller)
    if caller.is_admin:
        return ports.store.list_pipelines(None)
    if is_suspended(caller, session.user):
        raise suspended(caller.user_id)
    if session.user is None:
        return []
    return ports.store.list_pipelines(caller.user_id)


def list_pipeline_summaries(ports: ManagementPorts, caller: Caller) -> list[PipelineSummary]:
    """The pipelines the caller may see (as list_pipelines), each with its webhook's state."""
    return [PipelineSummary(stored, webhook_state_of(ports, stored)) for stored in list_pipelines(ports, caller)]


def delete_pipeline(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> None:
    """Owners and admins delete a pipeline; its webhook URL stops working at once, and its signing secret and
    the source credentials it names go."""
    session = Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    trigger = trigger_of(ports, stored)
    grants = ports.store.list_grants(pipeline_id)
    ports.store.delete_pipeline(stored, grants, session.audit("pipeline.delete", f"pipeline/{pipeline_id}"))
    if trigger is not None and trigger.signing_secret:
        ports.signing_secrets.delete_signing_secret(trigger.signing_secret)
    credentials = stored.pipeline.source.credentials
    if credentials and ports.source_credentials is not None:
        ports.source_credentials.delete_source_token(pipeline_id, credentials)


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
    session = Session(ports, caller)
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
    session = Session(ports, caller)
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
    session = Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    grants = ports.store.list_grants(pipeline_id)
    grant = next((g for g in grants if g.user_id == user_id), None)
    if grant is None:
        raise NotFound(ErrorCode.MEMBER_NOT_FOUND, f"User '{user_id}' holds no role on pipeline '{pipeline_id}'.")
    _keep_an_owner(grants, user_id)
    audit = session.audit("member.remove", f"pipeline/{pipeline_id}", user=user_id)
    ports.store.delete_grant(stored, grant, audit)


def list_members(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> list[Grant]:
    Session(ports, caller).pipeline(pipeline_id, can_view)
    return _members(ports, pipeline_id)


def _members(ports: ManagementPorts, pipeline_id: str) -> list[Grant]:
    return sorted(ports.store.list_grants(pipeline_id), key=lambda g: g.user_id)


def _keep_an_owner(grants: list[Grant], leaving_user: str) -> None:
    owners = {g.user_id for g in grants if g.role is Role.OWNER}
    if owners == {leaving_user}:
        raise Conflict(
            ErrorCode.LAST_OWNER, f"'{leaving_user}' is the pipeline's last owner. Make another owner first."
        )


# Deliveries


def list_deliveries(
    ports: ManagementPorts, caller: Caller, pipeline_id: str, limit: int, cursor: str | None
) -> DeliveryPage:
    """A page of what became of the requests to the pipeline's webhook, newest first; any role, admins."""
    stored = Session(ports, caller).pipeline(pipeline_id, can_view)
    deliveries, next_cursor = ports.deliveries.list_deliveries(pipeline_id, limit, cursor, stored.incarnation)
    return DeliveryPage(deliveries, next_cursor)


def trigger_of(ports: ManagementPorts, stored: StoredPipeline) -> Trigger | None:
    return ports.store.get_trigger(stored.token_hash) if stored.token_hash else None


def stored_pipeline(ports: ManagementPorts, pipeline_id: str) -> StoredPipeline:
    stored = ports.store.get_pipeline(pipeline_id)
    if stored is None:
        raise pipeline_not_found()
    return stored


def webhook_state_of(ports: ManagementPorts, stored: StoredPipeline, token: str | None = None) -> WebhookState:
    trigger = trigger_of(ports, stored)
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
