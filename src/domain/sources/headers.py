"""What a delivery's headers say before its body is read: the provider, the event, the delivery id."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ErrorCode
from .events import InvalidSourceEvent
from .providers import PROFILES, Provider

MAX_KEY_LENGTH = 200
MAX_EVENT_NAME_LENGTH = 100
_KEY_SHAPE = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")


def lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def detect_source(headers: Mapping[str, str]) -> Provider | None:
    """The provider whose event header the request carries, or None for a general or variable webhook.

    Header names are matched case-insensitively. Gitea and Forgejo send GitHub's headers and count as GitHub.
    """
    lowered = lower(headers)
    return next(
        (provider for provider, p in PROFILES.items() if any(name in lowered for name in p.event_headers)), None
    )


def event_name(provider: Provider, headers: Mapping[str, str]) -> str:
    """The provider's event header as sent (e.g. `push`, `Tag Push Hook`), cut to 100 characters; "" if absent."""
    lowered = lower(headers)
    names = PROFILES[provider].event_headers
    return next((lowered[name][:MAX_EVENT_NAME_LENGTH] for name in names if name in lowered), "")


def delivery_id(provider: Provider, headers: Mapping[str, str]) -> str | None:
    """The provider's id for this delivery (stable across redeliveries), or None if it sends none.

    Raises InvalidSourceEvent (INVALID_DELIVERY_ID) if the id is longer than 200 characters or not printable ASCII.
    """
    lowered = lower(headers)
    for name in PROFILES[provider].delivery_headers:
        if name in lowered:
            return _checked_key(
                lowered[name],
                ErrorCode.INVALID_DELIVERY_ID,
                f"The delivery id header from {PROFILES[provider].display_name} must be at most {MAX_KEY_LENGTH} "
                "printable ASCII characters. Check what sits between the provider and hookrun.",
            )
    return None


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The `Idempotency-Key` header of a general webhook, or None if absent.

    Raises InvalidSourceEvent (INVALID_IDEMPOTENCY_KEY) if it is empty (a failed `$(...)` in a shell sends that:
    it must not silently mean "no key"), longer than 200 characters, or not printable ASCII.
    """
    value = lower(headers).get("idempotency-key")
    if value is None:
        return None
    if not value.strip():
        raise InvalidSourceEvent(
            ErrorCode.INVALID_IDEMPOTENCY_KEY,
            "The Idempotency-Key header is empty. Send a key (a UUID, for example), or leave the header out.",
        )
    return _checked_key(
        value,
        ErrorCode.INVALID_IDEMPOTENCY_KEY,
        f"The Idempotency-Key header must be at most {MAX_KEY_LENGTH} printable ASCII characters, for example a UUID.",
    )


def _checked_key(value: str, code: ErrorCode, message: str) -> str | None:
    key = value.strip()
    if not key:
        return None
    if not _KEY_SHAPE.fullmatch(key):
        raise InvalidSourceEvent(code, message)
    return key
