"""A webhook request read once into one value: who sent it, which event, the key that names its run, and its payload.

The use case enters this package once, after the trigger is read; what the pipeline expects of a body is asked for
once the headers are read (the run's key known), so the use case may read the pipeline and act on the key at once.
Refusals come back in the value, for the use case to raise in the order of its checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import HookrunError, InvalidSignature
from ..requests import check_size, json_object
from .built_ins import built_in_variables
from .events import InvalidSourceEvent
from .filters import Decision, SourceSettings, decide
from .headers import delivery_id, detect_source, event_name, idempotency_key, lower
from .parsing import derived_idempotency_key, parse_source_event
from .providers import EventKind, Provider
from .signatures import signature_checked, verify_signature

MAX_VARIABLES_BODY_BYTES = 64 * 1024
MAX_SOURCE_BODY_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Expectations:
    """What a pipeline its webhook may run now expects of a request's body."""

    settings: SourceSettings  # which source events start a run
    # the signing secret's value ("" if it is gone: nothing verifies), asked for only for a source event;
    # None: the signature is not checked
    signing_secret: Callable[[], str] | None
    now_ms: int


@dataclass(frozen=True)
class Inbound:
    """One webhook request: its sender, event and key, and what its body asks for, or why it is refused.

    `key` is the provider's delivery id, else the Idempotency-Key, else for a verified push or tag the key derived
    from it. `key_error` refuses a malformed key, `body_error` the body (size, media type, JSON, signature, event), or
    says the signing secret could not be read.
    """

    provider: Provider | None  # None: a general or variable webhook
    source: str  # the provider's name, or "webhook"
    event: str | None
    key: str | None
    key_error: InvalidSourceEvent | None = None
    body_error: HookrunError | None = None
    variables: dict[str, Any] = field(default_factory=dict)  # a variable webhook's body
    decision: Decision | None = None  # a source event's: does it start a run, and why (not)
    built_ins: dict[str, str] = field(default_factory=dict)  # the HOOKRUN_* variables of a push or tag event


def read_inbound(
    headers: Mapping[str, str],
    body: bytes,
    expectations: Expectations | Callable[[Inbound], Expectations | None] | None,
) -> Inbound:
    """Read a webhook request: its headers, then its body against `expectations` (None: the request is refused
    before its body counts, and the body is not read; a callable: asked with what the headers said).

    A source event is verified (unless there is no signing secret to check), parsed and decided by the pipeline's
    source settings; a variable webhook's body is read as a JSON object of variables.
    """
    provider = detect_source(headers)
    event = event_name(provider, headers) if provider else None
    inbound = Inbound(provider, provider.value if provider else "webhook", event, None)
    try:
        key = delivery_id(provider, headers) if provider else None
        inbound = replace(inbound, key=key if key is not None else idempotency_key(headers))
    except InvalidSourceEvent as error:
        inbound = replace(inbound, key_error=error)
    if callable(expectations):
        expectations = expectations(inbound)
    if expectations is None or inbound.key_error is not None:
        return inbound
    content_type = lower(headers).get("content-type")
    try:
        if provider is None:
            return replace(inbound, variables=json_object(body, content_type, MAX_VARIABLES_BODY_BYTES))
        return _read_source_event(inbound, provider, (headers, body, content_type), expectations)
    except HookrunError as error:  # the signing secret's store may be unavailable too
        return replace(inbound, body_error=error)


def _read_source_event(
    inbound: Inbound,
    provider: Provider,
    request: tuple[Mapping[str, str], bytes, str | None],
    expectations: Expectations,
) -> Inbound:
    """Verify, parse and decide a source delivery given as (headers, body, content type)."""
    headers, body, content_type = request
    check_size(body, MAX_SOURCE_BODY_BYTES)
    if expectations.signing_secret is not None:
        secret = expectations.signing_secret()
        if not verify_signature(provider, headers, body, secret, expectations.now_ms, content_type=content_type):
            raise InvalidSignature(signature_checked(provider, headers, content_type))
    event = parse_source_event(provider, inbound.event or "", body, content_type)
    return replace(
        inbound,
        key=inbound.key if inbound.key is not None else derived_idempotency_key(event),
        decision=decide(expectations.settings, event),
        built_ins=built_in_variables(event) if event.kind in (EventKind.PUSH, EventKind.TAG) else {},
    )
