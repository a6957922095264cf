"""Webhook tokens: made once, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

TOKEN_PREFIX = "hr_"  # noqa: S105  # nosec B105 # a prefix, not a secret
TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"^hr_[A-Za-z0-9_-]{43}$")


def new_token(random_bytes: Callable[[int], bytes]) -> str:
    """Make a fresh token from `random_bytes(n)` (pass `secrets.token_bytes`)."""
    raw = random_bytes(TOKEN_BYTES)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def is_well_formed(token: str) -> bool:
    """True if `token` has the shape of a hookrun token; lets malformed ones fail without a lookup."""
    return bool(_TOKEN_SHAPE.fullmatch(token))


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: the only form in which tokens are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_hint(token: str) -> str:
    """The last four characters, enough for a person to tell two URLs apart."""
    return token[-4:]
