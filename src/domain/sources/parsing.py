"""Reading a push or tag out of each provider's payload, with the same strict JSON reader as variable bodies."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import BadRequest, ErrorCode
from ..requests import is_json_media_type, media_type_of, parse_json
from .events import InvalidSourceEvent, SourceEvent
from .providers import FORM, PROFILES, EventKind, Provider

MAX_MESSAGE_LENGTH = 1000

_SHA_SHAPE = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")

_BRANCH_PREFIX = "refs/heads/"

_TAG_PREFIX = "refs/tags/"

DERIVED_KEY_PREFIX = "derived-"


def parse_source_event(provider: Provider, event_name: str, body: bytes, content_type: str | None) -> SourceEvent:
    """Read the body of a source delivery whose event header says `event_name` into a SourceEvent.

    GitHub may send JSON or a form with one `payload` field holding the JSON; the others send JSON. Push and
    tag events are told apart by the ref (`refs/heads/` or `refs/tags/`): it is what actually moved. Raises
    InvalidSourceEvent with UNSUPPORTED_MEDIA_TYPE, INVALID_JSON or INVALID_SOURCE_EVENT.
    """
    payload = _payload(provider, body, content_type)
    if not _is_push_family(provider, event_name, payload):
        kind = EventKind.PING if event_name == PROFILES[provider].ping_event else EventKind.OTHER
        return SourceEvent(
            provider=provider,
            kind=kind,
            event_name=event_name,
            repository=_repository(payload) or "",
            repository_urls=_repository_urls(payload),
        )
    return _push_event(provider, event_name, payload)


def derived_idempotency_key(event: SourceEvent) -> str | None:
    """For a push or tag event: a key made of what the push was (provider, repository, ref, before and after SHAs).

    The same push redelivered gives the same key, so it replays instead of starting a second run; used when the
    delivery has no delivery id and no Idempotency-Key (Gitee and Codeup document none). None for other events.
    """
    if event.kind not in (EventKind.PUSH, EventKind.TAG):
        return None
    parts = (event.provider.value, event.repository, event.ref, event.before, event.after)
    return DERIVED_KEY_PREFIX + hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _payload(provider: Provider, body: bytes, content_type: str | None) -> dict[str, Any]:
    is_json = is_json_media_type(content_type)
    is_form = media_type_of(content_type) == FORM and PROFILES[provider].reads_forms
    if not (is_json or is_form):
        accepted = f"'application/json' or '{FORM}'" if PROFILES[provider].reads_forms else "'application/json'"
        raise InvalidSourceEvent(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"hookrun reads {PROFILES[provider].display_name} events sent as {accepted}. "
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
            ErrorCode.INVALID_JSON,
            "The event body is not valid UTF-8 JSON (no duplicate keys, no NaN or Infinity, at most 32 levels deep)"
            + (" in a single form field named 'payload'." if is_form else ".")
            + " Redeliver it from the provider's webhook settings, or check what sits between them and hookrun.",
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidSourceEvent(ErrorCode.INVALID_JSON, "The event body must be a JSON object, as providers send it.")
    return parsed


def _is_push_family(provider: Provider, event_name: str, payload: dict[str, Any]) -> bool:
    profile = PROFILES[provider]
    if profile.system_hooks and event_name == "System Hook":
        # GitLab's documented System Hook push carries only `event_name`; its data builder adds `object_kind`
        return (payload.get("object_kind") or payload.get("event_name")) in ("push", "tag_push")
    return event_name in profile.push_events


def _push_event(provider: Provider, event_name: str, payload: dict[str, Any]) -> SourceEvent:
    source = PROFILES[provider].display_name
    ref = _text(payload, "ref")
    after = _text(payload, "after")
    if ref is None or after is None:
        raise InvalidSourceEvent(
            ErrorCode.INVALID_SOURCE_EVENT,
            f"The {source} push event lacks 'ref' or 'after', so hookrun cannot tell what was pushed. "
            "Redeliver it from the provider's webhook settings.",
        )
    repository = _repository(payload)
    if repository is None:
        raise InvalidSourceEvent(
            ErrorCode.INVALID_SOURCE_EVENT,
            f"The {source} push event does not name its repository. Redeliver it from the provider's webhook settings.",
        )
    head_field = payload.get("head_commit")
    head_commit = head_field if isinstance(head_field, dict) else None
    sha = _text(payload, "checkout_sha") or _text(head_commit, "id") or after
    if not _SHA_SHAPE.fullmatch(sha):
        raise InvalidSourceEvent(
            ErrorCode.INVALID_SOURCE_EVENT,
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
        repository_urls=_repository_urls(payload),
        before=_text(payload, "before") or "",
        after=after,
        deleted=payload.get("deleted") is True
        or not after.strip("0")
        or ("checkout_sha" in payload and payload["checkout_sha"] is None),
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


_URL_FIELDS = (
    ("repository", "clone_url"),  # GitHub, Gitee
    ("repository", "ssh_url"),
    ("repository", "html_url"),
    ("repository", "git_http_url"),  # GitLab, Codeup
    ("repository", "git_ssh_url"),
    ("repository", "homepage"),
    ("repository", "url"),
    ("project", "git_http_url"),
    ("project", "git_ssh_url"),
    ("project", "web_url"),
)


def _repository_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    """Every URL the payload gives its repository (clone, ssh, web), in each provider's words."""
    urls = (_text(payload, *path) for path in _URL_FIELDS)
    return tuple(dict.fromkeys(url[:1000] for url in urls if url))


def _text(data: object, *path: str) -> str | None:
    """The non-empty string at `path` in nested JSON objects, else None."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, str) and data else None
