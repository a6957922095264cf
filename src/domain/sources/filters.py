"""Which source events start a run: the pipeline's `source:` settings, branch and tag globs, and the decision."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..base import Model
from .events import SourceEvent, printable
from .providers import PROFILES, EventKind

_GLOB_TOKEN = re.compile(r"\*\*/|\*\*|\*|\?|\[(!?)([^\]/]+)\]|.", re.DOTALL)

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


def decide(settings: SourceSettings, event: SourceEvent) -> Decision:
    """Run or skip: pings and other events are ignored, deletions skipped, then the event, branch and tag filters.

    A branch (or tag) must match at least one of the patterns; see `glob_to_regex` for the pattern language.
    """
    if event.kind is EventKind.PING:
        source = PROFILES[event.provider].display_name
        return _skip(SkipReason.PING, f"{source} sent a ping to check the webhook. It arrived; no run is started.")
    if event.kind is EventKind.OTHER:
        return _skip(
            SkipReason.IGNORED_EVENT,
            f"Event '{printable(event.event_name)}' does not start runs; only push and tag events do. "
            "Subscribe the webhook to push and tag events only to avoid these deliveries.",
        )
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
