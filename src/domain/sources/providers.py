"""The Git providers hookrun reads, each one's differences in one place: headers, events, content types, names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


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


@dataclass(frozen=True)
class Profile:
    """How one provider sends its deliveries. Header names are lowercase; values are matched as sent."""

    display_name: str
    event_headers: tuple[str, ...]  # the first one present names the event
    delivery_headers: tuple[str, ...]  # the first one present is the delivery id
    push_events: tuple[str, ...]  # event header values whose payload is a push or tag push
    # hmac: the hex HMAC-SHA256 of the body; verbatim: the secret itself; gitee: Gitee's password or signing key
    signature_scheme: Literal["hmac", "verbatim", "gitee"]
    signature_headers: tuple[str, ...]  # where the signature or token is, the first one present counts
    ping_event: str | None = None  # the event that only checks the webhook
    system_hooks: bool = False  # `System Hook` events carry a push or tag push named by object_kind / event_name
    reads_forms: bool = False  # may send the JSON in the `payload` field of an url-encoded form


# GitHub first, GitLab last: Gitea and Forgejo send GitHub's headers, other forges imitate GitLab's.
PROFILES: dict[Provider, Profile] = {
    Provider.GITHUB: Profile(
        "GitHub",
        event_headers=("x-github-event", "x-gitea-event", "x-forgejo-event"),
        delivery_headers=("x-github-delivery", "x-gitea-delivery", "x-forgejo-delivery"),
        push_events=("push",),
        signature_scheme="hmac",
        signature_headers=("x-hub-signature-256", "x-gitea-signature", "x-forgejo-signature"),
        ping_event="ping",
        reads_forms=True,
    ),
    Provider.CODEUP: Profile(
        "Codeup",
        event_headers=("codeup-event", "x-codeup-event"),
        delivery_headers=("x-codeup-delivery",),
        push_events=("Push Hook", "Tag Push Hook"),
        signature_scheme="verbatim",
        signature_headers=("x-codeup-token",),
        system_hooks=True,
    ),
    Provider.GITEE: Profile(
        "Gitee",
        event_headers=("x-gitee-event",),
        delivery_headers=("x-gitee-delivery",),
        push_events=("Push Hook", "Tag Push Hook"),
        signature_scheme="gitee",
        signature_headers=("x-gitee-token",),
    ),
    # GitLab's Idempotency-Key (GitLab 17.4+) stays the same when a delivery is retried; the event UUID is older.
    Provider.GITLAB: Profile(
        "GitLab",
        event_headers=("x-gitlab-event",),
        delivery_headers=("idempotency-key", "x-gitlab-event-uuid"),
        push_events=("Push Hook", "Tag Push Hook"),
        signature_scheme="verbatim",
        signature_headers=("x-gitlab-token",),
        system_hooks=True,
    ),
}

# Gitea and Forgejo are read as GitHub but sign the JSON payload, even when they send it as a form.
GITEA_EVENT_HEADERS = ("x-gitea-event", "x-forgejo-event")
FORM = "application/x-www-form-urlencoded"
