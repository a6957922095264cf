"""A webhook request read once: what its headers say, then (for a source event) what its verified payload says.

The use case enters this package twice, in the order its checks need: `read_inbound` right after the trigger is
found (so every delivery record carries the delivery id), and `read_source_event` once the pipeline is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidSignature
from .built_ins import built_in_variables
from .events import InvalidSourceEvent
from .filters import Decision, SourceSettings, decide
from .headers import delivery_id, detect_source, event_name, idempotency_key
from .parsing import derived_idempotency_key, parse_source_event
from .providers import EventKind, Provider
from .signatures import signature_checked, verify_signature


@dataclass(frozen=True)
class Inbound:
    """Who sent a request, which event, and the key that names its run (delivery id, else Idempotency-Key).

    `key_error` is the refusal of a malformed key, raised by the use case where it records refusals.
    """

    provider: Provider | None
    event: str | None
    key: str | None
    key_error: InvalidSourceEvent | None = None

    @property
    def source(self) -> str:
        return self.provider.value if self.provider else "webhook"


@dataclass(frozen=True)
class SourceRun:
    """A verified source event, decided: the key of its run (derived for a push without one), and its variables."""

    key: str | None
    decision: Decision
    built_ins: dict[str, str]  # the HOOKRUN_* variables of a push or tag event, else empty


def read_inbound(headers: Mapping[str, str]) -> Inbound:
    """The request's provider (None: a general or variable webhook), event header and key, read from its headers."""
    provider = detect_source(headers)
    event = event_name(provider, headers) if provider else None
    try:
        key = delivery_id(provider, headers) if provider else None
        return Inbound(provider, event, key if key is not None else idempotency_key(headers))
    except InvalidSourceEvent as error:
        return Inbound(provider, event, None, error)


def read_source_event(
    inbound: Inbound,
    provider: Provider,
    request: tuple[Mapping[str, str], bytes, str | None],
    settings: SourceSettings,
    *,
    secret: str | None,
    now_ms: int,
) -> SourceRun:
    """Verify (unless `secret` is None), parse and decide a source delivery given as (headers, body, content type).

    A webhook with a signing secret passes its value ("" if it is gone: nothing verifies then). Raises
    InvalidSignature, naming the header and content type checked, or InvalidSourceEvent.
    """
    headers, body, content_type = request
    if secret is not None and not verify_signature(provider, headers, body, secret, now_ms, content_type=content_type):
        raise InvalidSignature(signature_checked(provider, headers, content_type))
    event = parse_source_event(provider, headers, body, content_type)
    key = inbound.key if inbound.key is not None else derived_idempotency_key(event)
    built_ins = built_in_variables(event) if event.kind in (EventKind.PUSH, EventKind.TAG) else {}
    return SourceRun(key, decide(settings, event), built_ins)
