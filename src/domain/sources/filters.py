"""Which source events start a run: the pipeline's `source:` settings, branch and tag globs, and the decision."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ..base import Model
from ..requests import printable
from .events import SourceEvent
from .providers import PROFILES, EventKind
from .repositories import is_same_repository

_GLOB_TOKEN = re.compile(r"\*\*/|\*\*|\*|\?|\[(!?)([^\]/]+)\]|.", re.DOTALL)

CREDENTIALS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

GlobPatterns = Annotated[tuple[Annotated[str, Field(min_length=1, max_length=255)], ...], Field(max_length=50)]


class SourceSettings(Model):
    """Which source events start a run (branch and tag globs, event kinds, the repository) and what jobs check out.

    `credentials` names the pipeline's stored https token for `repository`; its value is never in the pipeline.
    """

    branches: GlobPatterns = ("*",)
    tags: GlobPatterns = ("*",)
    events: tuple[Literal["push", "tag"], ...] = ("push", "tag")
    repository: Annotated[str, Field(min_length=1, max_length=1000, pattern=r"^[^\s]+$")] | None = None
    credentials: Annotated[str, Field(pattern=CREDENTIALS_NAME.pattern)] | None = None
    default_branch: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s~^:?*\[\\]+$")] = "main"

    @field_validator("repository")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).password is not None:
            raise ValueError("must not hold a password or token: store the token and name it in 'credentials'")
        return value

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
    REPOSITORY_MISMATCH = "REPOSITORY_MISMATCH"
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


def decide(settings: SourceSettings, event: SourceEvent) -> Decision:
    """Run or skip: pings and other events are ignored, another repository's events and deletions skipped, then
    the event, branch and tag filters.

    A branch (or tag) must match at least one of the patterns; see `glob_to_regex` for the pattern language.
    """
    ignored = _ignored(event) or _from_another_repository(settings, event)
    if ignored is not None:
        return ignored
    if event.kind is EventKind.TAG:
        name, patterns = event.tag or "", settings.tags
        deleted, filtered = SkipReason.TAG_DELETED, SkipReason.TAG_FILTERED
    else:
        name, patterns = event.branch or "", settings.branches
        deleted, filtered = SkipReason.BRANCH_DELETED, SkipReason.BRANCH_FILTERED
    subject = f"{'tag' if event.kind is EventKind.TAG else 'branch'} '{printable(name)}'"
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


def _ignored(event: SourceEvent) -> Decision | None:
    """Pings and events other than push and tag start nothing."""
    if event.kind is EventKind.PING:
        source = PROFILES[event.provider].display_name
        return _skip(SkipReason.PING, f"{source} sent a ping to check the webhook. It arrived; no run is started.")
    if event.kind is EventKind.OTHER:
        return _skip(
            SkipReason.IGNORED_EVENT,
            f"Event '{printable(event.event_name)}' does not start runs; only push and tag events do. "
            "Subscribe the webhook to push and tag events only to avoid these deliveries.",
        )
    return None


def _from_another_repository(settings: SourceSettings, event: SourceEvent) -> Decision | None:
    if settings.repository is not None and not is_same_repository(
        settings.repository, event.repository_urls, event.repository
    ):
        return _skip(
            SkipReason.REPOSITORY_MISMATCH,
            f"The event comes from repository '{printable(event.repository)}', which is not the pipeline's "
            "'source.repository'. Send each repository's events to its own pipeline's webhook, or correct "
            "'source.repository'.",
        )
    return None


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


def _skip(reason: SkipReason, message: str, matched: dict[str, str] | None = None) -> Decision:
    return Decision(outcome="skip", reason=reason, message=message, matched=matched or {})
