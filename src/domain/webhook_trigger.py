"""Management use cases of a pipeline's webhook trigger and stored secrets: its state, enable, disable, rotate,
its signing secret, and the source credentials a checkout uses."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .errors import Conflict, ErrorCode, Forbidden, InvalidRequest, NotFound, VariableProblem
from .management import ManagementPorts, Session, WebhookState, stored_pipeline, trigger_of, webhook_state_of
from .models import AuditEntry, Trigger
from .policy import Caller, can_own, can_run, can_view
from .ports import SourceCredentialStore, StoredPipeline
from .tokens import hash_token, new_token, token_hint

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class WebhookDetails:
    state: WebhookState
    audit: list[AuditEntry]


def webhook_state(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """The trigger's state and, before the next webhook fails, whether its run-as user lost permission."""
    stored = Session(ports, caller).pipeline(pipeline_id, can_view)
    return webhook_state_of(ports, stored)


def describe_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookDetails:
    """The trigger's state with the webhook entries among the pipeline's newest audit entries."""
    stored = Session(ports, caller).pipeline(pipeline_id, can_view)
    state = webhook_state_of(ports, stored)
    audit = ports.store.list_audit(f"pipeline/{pipeline_id}", incarnation=stored.incarnation)
    return WebhookDetails(state, [entry for entry in audit if entry.action.startswith("webhook.")])


def enable_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """The caller, who must be able to run the pipeline, becomes the run-as user.

    The first enable makes the token and returns it once; later ones keep it, so the old URL works again.
    """
    session = Session(ports, caller)
    stored = session.pipeline(pipeline_id, lambda user, grant: True)
    if not can_run(session.user, session.grant_on(pipeline_id)):
        raise Forbidden(
            f"User '{caller.user_id}' cannot run pipeline '{pipeline_id}', so cannot enable its webhook: "
            "the webhook runs as the user who enables it. Ask an owner for the runner role."
        )
    audit = session.audit("webhook.enable", f"pipeline/{pipeline_id}", runAs=caller.user_id)
    current = trigger_of(ports, stored)
    if current is None:
        token = new_token(ports.random_bytes)
        trigger = _trigger(pipeline_id, token, caller.user_id, session.now, stored.incarnation)
        ports.store.create_trigger(stored, trigger, audit)
        return webhook_state_of(ports, stored_pipeline(ports, pipeline_id), token)
    ports.store.update_trigger(
        stored,
        current.model_copy(update={"enabled": True, "run_as": caller.user_id, "enabled_at": session.now}),
        audit,
    )
    return webhook_state_of(ports, stored)


def disable_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """Runners, owners and admins may disable; the URL is kept for the next enable."""
    session = Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_run)
    current = _existing_trigger(ports, stored)
    audit = session.audit("webhook.disable", f"pipeline/{pipeline_id}")
    ports.store.update_trigger(stored, current.model_copy(update={"enabled": False}), audit)
    return webhook_state_of(ports, stored)


def rotate_webhook(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """Owners and admins replace the token: the old URL dies at once, the new one is returned once.

    Everything else about the trigger stays, its signing secret included.
    """
    session = Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    current = _existing_trigger(ports, stored)
    token = new_token(ports.random_bytes)
    replacement = current.model_copy(update={"token_hash": hash_token(token), "token_hint": token_hint(token)})
    ports.store.replace_trigger(
        stored, current.token_hash, replacement, session.audit("webhook.rotate", f"pipeline/{pipeline_id}")
    )
    return webhook_state_of(ports, stored_pipeline(ports, pipeline_id), token)


def set_signing_secret(ports: ManagementPorts, caller: Caller, pipeline_id: str, secret: str) -> WebhookState:
    """Owners and admins give the webhook a signing secret (or replace it): source events must then prove it.

    The value goes to the secret store; the trigger keeps only its name. The value is never audited, logged or
    answered. Raises WEBHOOK_NOT_FOUND before the first enable, InvalidRequest for an unfit secret.
    """
    session = Session(ports, caller)
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
    return webhook_state_of(ports, stored)


def remove_signing_secret(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> WebhookState:
    """Owners and admins remove the webhook's signing secret: source events are then taken unsigned.

    Removing a secret the webhook does not have changes nothing. Raises WEBHOOK_NOT_FOUND before the first enable.
    """
    session = Session(ports, caller)
    stored = session.pipeline(pipeline_id, can_own)
    current = _existing_trigger(ports, stored)
    if current.signing_secret is None:
        return webhook_state_of(ports, stored)
    audit = session.audit("webhook.secret.remove", f"pipeline/{pipeline_id}")
    # the trigger lets go first: a secret left behind is harmless, a trigger naming a deleted one refuses all events
    ports.store.update_trigger(stored, current.model_copy(update={"signing_secret": None}), audit)  # nosec B105
    ports.signing_secrets.delete_signing_secret(current.signing_secret)
    return webhook_state_of(ports, stored)


def set_source_credentials(ports: ManagementPorts, caller: Caller, pipeline_id: str, name: str, token: str) -> None:
    """Owners and admins store the https token that `source.credentials: <name>` names; it is never answered,
    audited or logged, and reaches a codebuild job's build only while it checks out."""
    Session(ports, caller).pipeline(pipeline_id, can_own)
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
    Session(ports, caller).pipeline(pipeline_id, can_own)
    _credential_store(ports).delete_source_token(pipeline_id, name)


def _credential_store(ports: ManagementPorts) -> SourceCredentialStore:
    if ports.source_credentials is None:
        raise RuntimeError("this function is not wired to store source credentials")
    return ports.source_credentials


def trigger_to_test(ports: ManagementPorts, caller: Caller, pipeline_id: str) -> Trigger:
    """The webhook trigger a sample delivery is tried against: for those who may run the pipeline, and admins.

    Raises FORBIDDEN for a viewer, WEBHOOK_NOT_FOUND before the first enable.
    """
    stored = Session(ports, caller).pipeline(pipeline_id, can_run)
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


def _existing_trigger(ports: ManagementPorts, stored: StoredPipeline) -> Trigger:
    """The pipeline's trigger; WEBHOOK_NOT_FOUND if its webhook was never enabled."""
    trigger = trigger_of(ports, stored)
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
