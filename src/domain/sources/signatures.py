"""Proof that a delivery comes from the provider: each provider's signature or token, checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs, quote_plus

from ..requests import media_type_of, printable
from .headers import lower
from .providers import FORM, GITEA_EVENT_HEADERS, PROFILES, Provider

GITEE_TIMESTAMP_TOLERANCE_MS = 60 * 60 * 1000  # Gitee: the timestamp may differ from now by at most one hour


def verify_signature(
    provider: Provider,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now_ms: int,
    *,
    content_type: str | None = None,
) -> bool:
    """True if the delivery carries the provider's proof of `secret`; every comparison takes constant time.

    GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` (Gitea and Forgejo without it: the
    bare hex in `X-Gitea-Signature` / `X-Forgejo-Signature`; they sign the JSON payload, so for their form
    deliveries the HMAC is of the form's `payload` field). GitLab and Codeup: the secret itself in
    `X-Gitlab-Token` / `X-Codeup-Token`. Gitee: `X-Gitee-Token` holds either the password itself or, with
    `X-Gitee-Timestamp` (milliseconds, within one hour of `now_ms`), base64(HMAC-SHA256(secret,
    "<timestamp>\\n<secret>")), as sent or URL-encoded. A missing header or an empty secret is never valid.
    """
    if not secret:
        return False
    lowered = lower(headers)
    profile = PROFILES[provider]
    if profile.signature_scheme == "hmac":
        signed = _gitea_form_payload(body) if _signs_json_of_forms(lowered, content_type) else body
        return signed is not None and _github_signature_matches(lowered, signed, secret)
    if profile.signature_scheme == "gitee":
        return _gitee_token_matches(lowered, secret, now_ms)
    token = lowered.get(profile.signature_headers[0])
    return token is not None and _same(token, secret)


def signature_checked(provider: Provider, headers: Mapping[str, str], content_type: str | None) -> str:
    """What `verify_signature` checked, in words for a 401: the header, what it must hold, and the content type."""
    lowered = lower(headers)
    profile = PROFILES[provider]
    sent_as = printable(media_type_of(content_type)) or "no Content-Type"
    header = next((name for name in profile.signature_headers if name in lowered), profile.signature_headers[0])
    if profile.signature_scheme == "hmac":
        gitea = _signs_json_of_forms(lowered, content_type)
        signed = "the JSON in the form's 'payload' field, as Gitea and Forgejo sign it" if gitea else "the raw body"
        checked = f"{_header_name(header)} (the hex HMAC-SHA256 of {signed}, keyed with the signing secret)"
    elif profile.signature_scheme == "gitee":
        kind = (
            "with X-Gitee-Timestamp: the signing key's signature"
            if "x-gitee-timestamp" in lowered
            else "the WebHook password"
        )
        checked = f"{_header_name(header)} ({kind})"
    else:
        checked = f"{_header_name(header)} (the signing secret itself)"
    missing = "" if header in lowered else ", which the request lacks"
    return f"hookrun checked {checked}{missing}, of a {profile.display_name} delivery sent as {sent_as}"


def _header_name(lowered: str) -> str:
    """A header's name as the providers write it: X-Hub-Signature-256, X-Gitlab-Token."""
    return "-".join(part.capitalize() if part != "x" else "X" for part in lowered.split("-"))


def _signs_json_of_forms(headers: Mapping[str, str], content_type: str | None) -> bool:
    """Gitea and Forgejo form deliveries: their signature covers the JSON payload, not the form body."""
    return media_type_of(content_type) == FORM and any(name in headers for name in GITEA_EVENT_HEADERS)


def _gitea_form_payload(body: bytes) -> bytes | None:
    """The `payload` field of a form body, as the bytes Gitea signed; None if the form cannot be read."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("payload", [])
    return values[0].encode("utf-8", "surrogatepass") if len(values) == 1 else None


def _github_signature_matches(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    signature = headers.get("x-hub-signature-256")
    if signature is not None:
        return _same(signature, f"sha256={digest}")
    bare = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature")
    return bare is not None and _same(bare, digest)


def _gitee_token_matches(headers: Mapping[str, str], secret: str, now_ms: int) -> bool:
    token = headers.get("x-gitee-token")
    if token is None:
        return False
    password_matches = _same(token, secret)
    timestamp = headers.get("x-gitee-timestamp", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now_ms - int(timestamp)) > GITEE_TIMESTAMP_TOLERANCE_MS:
        return password_matches
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = base64.b64encode(mac).decode("ascii")
    # Gitee documents a URL-encoded signature but sends plain base64; both are accepted.
    return any([password_matches, _same(token, sign), _same(token, quote_plus(sign))])


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))
