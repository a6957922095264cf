"""Source webhooks: Git push and tag events from GitHub (and Gitea/Forgejo), GitLab, Codeup and Gitee.

The pipeline's one webhook URL also receives code-source events. This module tells them apart from general
webhooks, reads a push or tag out of each provider's payload, checks the provider's signature or token,
decides from the pipeline's source settings whether the event starts a run, and names the run's built-in
variables. Pure: headers and the raw body come in, values and decisions go out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote_plus, urlsplit

from pydantic import Field, field_validator

from .base import MAX_VALUE_LENGTH, Model
from .errors import BadRequest, HookrunError
from .requests import is_json_media_type, media_type_of, parse_json

MAX_KEY_LENGTH = 200
MAX_MESSAGE_LENGTH = 1000
MAX_EVENT_NAME_LENGTH = 100
GITEE_TIMESTAMP_TOLERANCE_MS = 60 * 60 * 1000  # Gitee: the timestamp may differ from now by at most one hour
INVALID_DELIVERY_ID = "INVALID_DELIVERY_ID"
INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
INVALID_JSON = "INVALID_JSON"
INVALID_SOURCE_EVENT = "INVALID_SOURCE_EVENT"

_KEY_SHAPE = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")
_SHA_SHAPE = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_GLOB_TOKEN = re.compile(r"\*\*/|\*\*|\*|\?|\[(!?)([^\]/]+)\]|.", re.DOTALL)
_BRANCH_PREFIX = "refs/heads/"
_TAG_PREFIX = "refs/tags/"


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    CODEUP = "codeup"
    GITEE = "gitee"


class EventKind(StrEnum):
    PUSH = "push"
    TAG = "tag"
    PING = "ping"
    OTHER = "other"


_DISPLAY_NAME = {
    Provider.GITHUB: "GitHub",
    Provider.GITLAB: "GitLab",
    Provider.CODEUP: "Codeup",
    Provider.GITEE: "Gitee",
}

# Provider-specific headers first, GitLab's last: other forges imitate GitLab's header.
_EVENT_HEADERS = {
    Provider.GITHUB: ("x-github-event", "x-gitea-event", "x-forgejo-event"),
    Provider.CODEUP: ("codeup-event", "x-codeup-event"),
    Provider.GITEE: ("x-gitee-event",),
    Provider.GITLAB: ("x-gitlab-event",),
}

# GitLab's Idempotency-Key (GitLab 17.4+) stays the same when a delivery is retried; the event UUID is older.
_DELIVERY_HEADERS = {
    Provider.GITHUB: ("x-github-delivery", "x-gitea-delivery", "x-forgejo-delivery"),
    Provider.CODEUP: ("x-codeup-delivery",),
    Provider.GITEE: ("x-gitee-delivery",),
    Provider.GITLAB: ("idempotency-key", "x-gitlab-event-uuid"),
}

_TOKEN_HEADERS = {Provider.GITLAB: "x-gitlab-token", Provider.CODEUP: "x-codeup-token"}
# Gitea and Forgejo send GitHub's headers too, but sign the JSON payload even when they send it as a form.
_GITEA_EVENT_HEADERS = ("x-gitea-event", "x-forgejo-event")
_FORM = "application/x-www-form-urlencoded"
DERIVED_KEY_PREFIX = "derived-"


class InvalidSourceEvent(HookrunError):
    """A source delivery hookrun cannot read. `code` is one of the module's error codes."""

    code = INVALID_SOURCE_EVENT

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SourceEvent(Model):
    """What hookrun keeps of one source delivery: the ref that moved, its head commit, and who pushed."""

    provider: Provider
    kind: EventKind
    event_name: str
    ref: str = ""
    branch: str | None = None
    tag: str | None = None
    commit_sha: str = ""
    commit_message: str = ""
    commit_author: str = ""
    repository: str = ""
    before: str = ""  # the ref's SHA before the push, as the provider sent it
    after: str = ""  # the ref's SHA after the push, as the provider sent it
    deleted: bool = False
    delivery_id: str | None = None


GlobPatterns = Annotated[tuple[Annotated[str, Field(min_length=1, max_length=255)], ...], Field(max_length=50)]


class SourceSettings(Model):
    """Which source events start a run: branch and tag glob patterns, and the event kinds."""

    branches: GlobPatterns = ("*",)
    tags: GlobPatterns = ("*",)
    events: tuple[Literal["push", "tag"], ...] = ("push", "tag")

    @field_validator("branches", "tags")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                glob_to_regex(pattern)
            except re.error:
                raise ValueError(f"{pattern!r} is not a valid glob pattern") from None
        return value


class SkipReason(StrEnum):
    PING = "PING"
    IGNORED_EVENT = "IGNORED_EVENT"
    BRANCH_DELETED = "BRANCH_DELETED"
    TAG_DELETED = "TAG_DELETED"
    EVENT_FILTERED = "EVENT_FILTERED"
    BRANCH_FILTERED = "BRANCH_FILTERED"
    TAG_FILTERED = "TAG_FILTERED"


class Decision(Model):
    """Whether a source event starts a run; a skip carries a reason code and a message a person can act on.

    `matched` names each source setting the event passed and the value or pattern that let it through.
    """

    outcome: Literal["run", "skip"]
    reason: SkipReason | None = None
    message: str
    matched: dict[str, str] = Field(default_factory=dict)


def detect_source(headers: Mapping[str, str]) -> Provider | None:
    """The provider whose event header the request carries, or None for a general or variable webhook.

    Header names are matched case-insensitively. Gitea and Forgejo send GitHub's headers and count as GitHub.
    """
    lowered = _lower(headers)
    for provider, names in _EVENT_HEADERS.items():
        if any(name in lowered for name in names):
            return provider
    return None


def event_name(provider: Provider, headers: Mapping[str, str]) -> str:
    """The provider's event header as sent (e.g. `push`, `Tag Push Hook`), cut to 100 characters; "" if absent."""
    lowered = _lower(headers)
    return next((lowered[name][:MAX_EVENT_NAME_LENGTH] for name in _EVENT_HEADERS[provider] if name in lowered), "")


def delivery_id(provider: Provider, headers: Mapping[str, str]) -> str | None:
    """The provider's id for this delivery (stable across redeliveries), or None if it sends none.

    Raises InvalidSourceEvent (INVALID_DELIVERY_ID) if the id is longer than 200 characters or not printable ASCII.
    """
    lowered = _lower(headers)
    for name in _DELIVERY_HEADERS[provider]:
        if name in lowered:
            return _checked_key(
                lowered[name],
                INVALID_DELIVERY_ID,
                f"The delivery id header from {_DISPLAY_NAME[provider]} must be at most {MAX_KEY_LENGTH} "
                "printable ASCII characters. Check what sits between the provider and hookrun.",
            )
    return None


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The `Idempotency-Key` header of a general webhook, or None if absent or blank.

    Raises InvalidSourceEvent (INVALID_IDEMPOTENCY_KEY) if it is longer than 200 characters or not printable ASCII.
    """
    value = _lower(headers).get("idempotency-key")
    if value is None:
        return None
    return _checked_key(
        value,
        INVALID_IDEMPOTENCY_KEY,
        f"The Idempotency-Key header must be at most {MAX_KEY_LENGTH} printable ASCII characters, for example a UUID.",
    )


def derived_idempotency_key(event: SourceEvent) -> str | None:
    """For a push or tag event: a key made of what the push was (provider, repository, ref, before and after SHAs).

    The same push redelivered gives the same key, so it replays instead of starting a second run; used when the
    delivery has no delivery id and no Idempotency-Key (Gitee and Codeup document none). None for other events.
    """
    if event.kind not in (EventKind.PUSH, EventKind.TAG):
        return None
    parts = (event.provider.value, event.repository, event.ref, event.before, event.after)
    return DERIVED_KEY_PREFIX + hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def parse_source_event(
    provider: Provider, headers: Mapping[str, str], body: bytes, content_type: str | None
) -> SourceEvent:
    """Read a source delivery into a SourceEvent.

    GitHub may send JSON or a form with one `payload` field holding the JSON; the others send JSON. Push and
    tag events are told apart by the ref (`refs/heads/` or `refs/tags/`): it is what actually moved. Raises
    InvalidSourceEvent with UNSUPPORTED_MEDIA_TYPE, INVALID_JSON, INVALID_DELIVERY_ID or INVALID_SOURCE_EVENT.
    """
    payload = _payload(provider, body, content_type)
    name = event_name(provider, headers)
    delivery = delivery_id(provider, headers)
    if not _is_push_family(provider, name, payload):
        kind = EventKind.PING if provider is Provider.GITHUB and name == "ping" else EventKind.OTHER
        return SourceEvent(
            provider=provider,
            kind=kind,
            event_name=name,
            repository=_repository(payload) or "",
            delivery_id=delivery,
        )
    return _push_event(provider, name, payload, delivery)


def built_in_variables(event: SourceEvent) -> dict[str, str]:
    """The HOOKRUN_* variables a source event gives its run, safe for a process environment.

    NUL characters are removed, lone surrogates replaced, and each value cut to 4096 characters.
    """
    values = {
        "HOOKRUN_SOURCE": event.provider.value,
        "HOOKRUN_EVENT": event.kind.value,
        "HOOKRUN_REF": event.ref,
        "HOOKRUN_COMMIT_SHA": event.commit_sha,
        "HOOKRUN_COMMIT_MESSAGE": event.commit_message,
        "HOOKRUN_COMMIT_AUTHOR": event.commit_author,
        "HOOKRUN_REPOSITORY": event.repository,
    }
    if event.branch is not None:
        values["HOOKRUN_BRANCH"] = event.branch
    if event.tag is not None:
        values["HOOKRUN_TAG"] = event.tag
    return {name: _environment_safe(value) for name, value in values.items()}


def decide(settings: SourceSettings, event: SourceEvent) -> Decision:
    """Run or skip: pings and other events are ignored, deletions skipped, then the event, branch and tag filters.

    A branch (or tag) must match at least one of the patterns; see `glob_to_regex` for the pattern language.
    """
    if event.kind is EventKind.PING:
        source = _DISPLAY_NAME[event.provider]
        return _skip(SkipReason.PING, f"{source} sent a ping to check the webhook. It arrived; no run is started.")
    if event.kind is EventKind.OTHER:
        return _skip(
            SkipReason.IGNORED_EVENT,
            f"Event '{_printable(event.event_name)}' does not start runs; only push and tag events do. "
            "Subscribe the webhook to push and tag events only to avoid these deliveries.",
        )
    if event.kind is EventKind.TAG:
        name, patterns = event.tag or "", settings.tags
        deleted, filtered = SkipReason.TAG_DELETED, SkipReason.TAG_FILTERED
    else:
        name, patterns = event.branch or "", settings.branches
        deleted, filtered = SkipReason.BRANCH_DELETED, SkipReason.BRANCH_FILTERED
    subject = f"{'tag' if event.kind is EventKind.TAG else 'branch'} '{_printable(name)}'"
    if event.deleted:
        return _skip(deleted, f"The {subject} was deleted; deletions do not start runs.")
    if event.kind.value not in settings.events:
        return _skip(
            SkipReason.EVENT_FILTERED,
            f"The pipeline's source settings start runs on {', '.join(settings.events) or 'no events'}, "
            f"not on {event.kind.value} events. Add '{event.kind.value}' to 'events' to run on them.",
        )
    matched: dict[str, str] = {"events": event.kind.value}
    pattern = next((pattern for pattern in patterns if glob_to_regex(pattern).fullmatch(name)), None)
    if pattern is None:
        return _skip(
            filtered,
            f"The {subject} matches none of the patterns {', '.join(patterns) or '(none)'} in the pipeline's "
            "source settings. Add a matching pattern to run on it.",
            matched,
        )
    matched["tags" if event.kind is EventKind.TAG else "branches"] = pattern
    return Decision(outcome="run", message=f"The {event.kind.value} to {subject} starts a run.", matched=matched)


@lru_cache(maxsize=512)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a branch or tag glob; match names with `.fullmatch(name)`.

    `*` matches any characters except `/`; `**` matches any characters including `/`, and `**/` also matches
    no directory at all (`**/main` matches `main`); `?` matches one character except `/`; `[abc]`, `[a-z]` and
    `[!a-z]` match one character of (or not of) a set. Everything else matches itself. So `release/*` matches
    `release/1.0` but not `release/1.0/hotfix`, which `release/**` matches. Raises re.error for a bad set.
    """
    parts: list[str] = []
    for token in _GLOB_TOKEN.finditer(pattern):
        text = token.group(0)
        if text == "**/":
            if parts[-1:] != ["(?:.*/)?"]:  # repeated `**/` means the same and would only slow matching down
                parts.append("(?:.*/)?")
        elif text == "**":
            parts.append(".*")
        elif text == "*":
            parts.append("[^/]*")
        elif text == "?":
            parts.append("[^/]")
        elif token.group(2) is not None:
            members = "".join(ch if ch == "-" else re.escape(ch) for ch in token.group(2))
            parts.append(f"[^/{members}]" if token.group(1) else f"[{members}]")
        else:
            parts.append(re.escape(text))
    return re.compile("".join(parts), re.DOTALL)


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
    lowered = _lower(headers)
    if provider is Provider.GITHUB:
        signed = _gitea_form_payload(body) if _signs_json_of_forms(lowered, content_type) else body
        return signed is not None and _github_signature_matches(lowered, signed, secret)
    if provider is Provider.GITEE:
        return _gitee_token_matches(lowered, secret, now_ms)
    token = lowered.get(_TOKEN_HEADERS[provider])
    return token is not None and _same(token, secret)


def signature_checked(provider: Provider, headers: Mapping[str, str], content_type: str | None) -> str:
    """What `verify_signature` checked, in words for a 401: the header, what it must hold, and the content type."""
    lowered = _lower(headers)
    sent_as = _printable(media_type_of(content_type)) or "no Content-Type"
    if provider is Provider.GITHUB:
        gitea = _signs_json_of_forms(lowered, content_type)
        header = next(
            (name for name in ("x-hub-signature-256", "x-gitea-signature", "x-forgejo-signature") if name in lowered),
            "x-hub-signature-256",
        )
        signed = "the JSON in the form's 'payload' field, as Gitea and Forgejo sign it" if gitea else "the raw body"
        checked = f"{_header_name(header)} (the hex HMAC-SHA256 of {signed}, keyed with the signing secret)"
    elif provider is Provider.GITEE:
        kind = (
            "with X-Gitee-Timestamp: the signing key's signature"
            if "x-gitee-timestamp" in lowered
            else "the WebHook password"
        )
        checked = f"X-Gitee-Token ({kind})"
    else:
        checked = f"{_header_name(_TOKEN_HEADERS[provider])} (the signing secret itself)"
    missing = "" if any(name in lowered for name in _signature_headers(provider)) else ", which the request lacks"
    return f"hookrun checked {checked}{missing}, of a {_DISPLAY_NAME[provider]} delivery sent as {sent_as}"


def _signature_headers(provider: Provider) -> tuple[str, ...]:
    if provider is Provider.GITHUB:
        return ("x-hub-signature-256", "x-gitea-signature", "x-forgejo-signature")
    if provider is Provider.GITEE:
        return ("x-gitee-token",)
    return (_TOKEN_HEADERS[provider],)


def _header_name(lowered: str) -> str:
    """A header's name as the providers write it: X-Hub-Signature-256, X-Gitlab-Token."""
    return "-".join(part.capitalize() if part != "x" else "X" for part in lowered.split("-"))


def _signs_json_of_forms(headers: Mapping[str, str], content_type: str | None) -> bool:
    """Gitea and Forgejo form deliveries: their signature covers the JSON payload, not the form body."""
    return media_type_of(content_type) == _FORM and any(name in headers for name in _GITEA_EVENT_HEADERS)


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


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _checked_key(value: str, code: str, message: str) -> str | None:
    key = value.strip()
    if not key:
        return None
    if not _KEY_SHAPE.fullmatch(key):
        raise InvalidSourceEvent(code, message)
    return key


def _payload(provider: Provider, body: bytes, content_type: str | None) -> dict[str, Any]:
    is_json = is_json_media_type(content_type)
    is_form = media_type_of(content_type) == _FORM and provider is Provider.GITHUB
    if not (is_json or is_form):
        accepted = f"'application/json' or '{_FORM}'" if provider is Provider.GITHUB else "'application/json'"
        raise InvalidSourceEvent(
            UNSUPPORTED_MEDIA_TYPE,
            f"hookrun reads {_DISPLAY_NAME[provider]} events sent as {accepted}. "
            "Set the webhook's content type to one of these in the provider's webhook settings.",
        )
    try:
        text: bytes | str = body
        if is_form:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict")
            values = fields.get("payload", [])
            if len(values) != 1:
                raise ValueError("the form needs exactly one 'payload' field")
            text = values[0]
        parsed = parse_json(text)
    except (UnicodeDecodeError, ValueError, BadRequest):
        raise InvalidSourceEvent(
            INVALID_JSON,
            "The event body is not valid UTF-8 JSON (no duplicate keys, no NaN or Infinity, at most 32 levels deep)"
            + (" in a single form field named 'payload'." if is_form else ".")
            + " Redeliver it from the provider's webhook settings, or check what sits between them and hookrun.",
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidSourceEvent(INVALID_JSON, "The event body must be a JSON object, as providers send it.")
    return parsed


def _is_push_family(provider: Provider, event_name: str, payload: dict[str, Any]) -> bool:
    if provider is Provider.GITHUB:
        return event_name == "push"
    if provider is not Provider.GITEE and event_name == "System Hook":
        # GitLab's documented System Hook push carries only `event_name`; its data builder adds `object_kind`
        return (payload.get("object_kind") or payload.get("event_name")) in ("push", "tag_push")
    return event_name in ("Push Hook", "Tag Push Hook")


def _push_event(provider: Provider, event_name: str, payload: dict[str, Any], delivery: str | None) -> SourceEvent:
    source = _DISPLAY_NAME[provider]
    ref = _text(payload, "ref")
    after = _text(payload, "after")
    if ref is None or after is None:
        raise InvalidSourceEvent(
            INVALID_SOURCE_EVENT,
            f"The {source} push event lacks 'ref' or 'after', so hookrun cannot tell what was pushed. "
            "Redeliver it from the provider's webhook settings.",
        )
    repository = _repository(payload)
    if repository is None:
        raise InvalidSourceEvent(
            INVALID_SOURCE_EVENT,
            f"The {source} push event does not name its repository. Redeliver it from the provider's webhook settings.",
        )
    head_field = payload.get("head_commit")
    head_commit = head_field if isinstance(head_field, dict) else None
    sha = _text(payload, "checkout_sha") or _text(head_commit, "id") or after
    if not _SHA_SHAPE.fullmatch(sha):
        raise InvalidSourceEvent(
            INVALID_SOURCE_EVENT,
            f"The {source} push event names a commit that is not a 40- or 64-digit hexadecimal SHA. "
            "Redeliver it from the provider's webhook settings.",
        )
    if ref.startswith(_TAG_PREFIX):
        kind, branch, tag = EventKind.TAG, None, ref.removeprefix(_TAG_PREFIX)
    elif ref.startswith(_BRANCH_PREFIX):
        kind, branch, tag = EventKind.PUSH, ref.removeprefix(_BRANCH_PREFIX), None
    else:
        kind, branch, tag = EventKind.OTHER, None, None
    head = head_commit or _commit_by_id(payload, sha)
    message = _text(head, "message") or ""
    return SourceEvent(
        provider=provider,
        kind=kind,
        event_name=event_name,
        ref=ref,
        branch=branch,
        tag=tag,
        commit_sha=sha,
        commit_message=(message.splitlines() or [""])[0][:MAX_MESSAGE_LENGTH],
        commit_author=_author(payload, head),
        repository=repository,
        before=_text(payload, "before") or "",
        after=after,
        deleted=payload.get("deleted") is True
        or not after.strip("0")
        or ("checkout_sha" in payload and payload["checkout_sha"] is None),
        delivery_id=delivery,
    )


def _commit_by_id(payload: dict[str, Any], sha: str) -> dict[str, Any] | None:
    """The pushed commit with id `sha`, else the last (newest) pushed commit, else None."""
    listed = payload.get("commits")
    commits = [commit for commit in listed if isinstance(commit, dict)] if isinstance(listed, list) else []
    return next((commit for commit in commits if commit.get("id") == sha), commits[-1] if commits else None)


def _author(payload: dict[str, Any], head: dict[str, Any] | None) -> str:
    """The head commit's author, else whoever pushed, in each provider's words."""
    candidates = (
        _text(head, "author", "name"),
        _text(head, "author", "username"),
        _text(payload, "pusher", "name"),
        _text(payload, "pusher", "username"),
        _text(payload, "pusher", "login"),
        _text(payload, "user_name"),
        _text(payload, "user_username"),
        _text(payload, "sender", "login"),
    )
    return next((candidate for candidate in candidates if candidate), "")


def _repository(payload: dict[str, Any]) -> str | None:
    """The repository's path, e.g. `octo/hello`: GitLab's and Gitee's path_with_namespace, GitHub's full_name
    (Gitee's full_name is a display name), else the path of Codeup's repository homepage."""
    named = (
        _text(payload, "project", "path_with_namespace")
        or _text(payload, "repository", "path_with_namespace")
        or _text(payload, "repository", "full_name")
    )
    if named is not None:
        return named
    homepage = _text(payload, "repository", "homepage")
    path = urlsplit(homepage).path.strip("/").removesuffix(".git") if homepage else ""
    return path or None


def _text(data: object, *path: str) -> str | None:
    """The non-empty string at `path` in nested JSON objects, else None."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, str) and data else None


def _environment_safe(value: str) -> str:
    cleaned = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned[:MAX_VALUE_LENGTH]


def _printable(text: str) -> str:
    """Text from a payload, cut short and stripped of control characters, fit for a message."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:100])
    return cleaned + ("..." if len(text) > 100 else "")


def _skip(reason: SkipReason, message: str, matched: dict[str, str] | None = None) -> Decision:
    return Decision(outcome="skip", reason=reason, message=message, matched=matched or {})
