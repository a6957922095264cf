"""Real provider deliveries for tests: the shared payloads (../shared/real-payloads) with headers and signatures
built the way each provider builds them (see SOURCES.md there), and what hookrun should make of each.

The payload files are read from where they are, never copied into the project; without the folder the tests that
use them skip, saying why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from tests.support import ROOT

REAL_PAYLOADS = ROOT.parent / "shared" / "real-payloads"
SECRET = "hookrun-example-secret"  # nosec B105 # a test secret


def real_payloads_or_skip() -> Path:
    """The shared folder of real deliveries; the calling test skips, saying why, where it is absent."""
    if not (REAL_PAYLOADS / "SOURCES.md").is_file():
        reason = f"no real provider payloads at {REAL_PAYLOADS} (a clone without ../shared/real-payloads)"
        print(reason)  # the reason belongs in the test output as well as in the skip
        pytest.skip(reason)
    return REAL_PAYLOADS


@dataclass(frozen=True)
class Sample:
    """One real payload: who sends it, under which event, and what hookrun records for it (outcome, reason)."""

    file: str
    sender: str  # github, gitea, forgejo, gitlab, codeup, gitee
    event: str
    outcome: str  # RUN_STARTED, FILTERED, IGNORED_EVENT
    reason: str | None = None

    @property
    def provider(self) -> str:
        """The provider hookrun reads it as: Gitea and Forgejo send GitHub's headers and count as GitHub."""
        return "github" if self.sender in {"gitea", "forgejo"} else self.sender

    @property
    def starts_a_run(self) -> bool:
        return self.outcome == "RUN_STARTED"

    def payload(self) -> bytes:
        return (real_payloads_or_skip() / self.file).read_bytes()


RUN, FILTERED, IGNORED = "RUN_STARTED", "FILTERED", "IGNORED_EVENT"
SAMPLES = (
    Sample("github_push.json", "github", "push", RUN),
    Sample("github_push_tag.json", "github", "push", RUN),
    Sample("github_push_tag_delete.json", "github", "push", FILTERED, "TAG_DELETED"),
    Sample("github_push_branch_create.json", "github", "push", RUN),
    Sample("github_push_branch_delete.json", "github", "push", FILTERED, "BRANCH_DELETED"),
    Sample("github_push_multiline_message.json", "github", "push", RUN),
    Sample("github_ping.json", "github", "ping", IGNORED, "PING"),
    Sample("github_create.json", "github", "create", IGNORED, "IGNORED_EVENT"),
    Sample("github_delete.json", "github", "delete", IGNORED, "IGNORED_EVENT"),
    Sample("github_pull_request.json", "github", "pull_request", IGNORED, "IGNORED_EVENT"),
    Sample("gitlab_push.json", "gitlab", "Push Hook", RUN),
    Sample("gitlab_push_subgroup.json", "gitlab", "Push Hook", RUN),
    Sample("gitlab_push_unicode.json", "gitlab", "Push Hook", RUN),
    Sample("gitlab_push_branch_delete.json", "gitlab", "Push Hook", FILTERED, "BRANCH_DELETED"),
    Sample("gitlab_tag_push.json", "gitlab", "Tag Push Hook", RUN),
    Sample("gitlab_tag_push_annotated.json", "gitlab", "Tag Push Hook", RUN),
    Sample("gitlab_tag_push_delete.json", "gitlab", "Tag Push Hook", FILTERED, "TAG_DELETED"),
    Sample("gitlab_system_push.json", "gitlab", "System Hook", RUN),
    Sample("gitlab_merge_request.json", "gitlab", "Merge Request Hook", IGNORED, "IGNORED_EVENT"),
    Sample("gitea_push.json", "gitea", "push", RUN),
    Sample("gitea_push_multi.json", "gitea", "push", RUN),
    Sample("gitea_push_new_branch.json", "gitea", "push", RUN),
    Sample("gitea_create.json", "gitea", "create", IGNORED, "IGNORED_EVENT"),
    Sample("gitea_delete.json", "gitea", "delete", IGNORED, "IGNORED_EVENT"),
    Sample("forgejo_push.json", "forgejo", "push", RUN),
    Sample("gitee_push.json", "gitee", "Push Hook", RUN),
    Sample("gitee_tag_push.json", "gitee", "Tag Push Hook", RUN),
    Sample("gitee_push_branch_delete.json", "gitee", "Push Hook", FILTERED, "BRANCH_DELETED"),
    Sample("gitee_tag_push_delete.json", "gitee", "Tag Push Hook", FILTERED, "TAG_DELETED"),
    Sample("codeup_push.json", "codeup", "Push Hook", RUN),
)
SENDERS = ("github", "gitlab", "gitea", "forgejo", "gitee", "codeup")


def samples_of(sender: str) -> list[Sample]:
    return [sample for sample in SAMPLES if sample.sender == sender]


@dataclass(frozen=True)
class RawRequest:
    """A webhook request as it goes over the wire: its headers and raw body."""

    headers: dict[str, str]
    body: bytes

    def send(self, url: str) -> requests.Response:
        return requests.post(url, data=self.body, headers=self.headers, timeout=60)


@dataclass(frozen=True)
class Wire(RawRequest):
    """A provider's delivery as it goes over the wire, with the delivery id the provider sent (if any)."""

    delivery_id: str | None


def hub_signatures(secret: str, payload: bytes) -> dict[str, str]:
    """GitHub's two signature headers of `payload` (Gitea and Forgejo send them too)."""
    return {
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), payload, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hex_hmac(secret, payload),
    }


def deliver(
    sample: Sample, *, secret: str = SECRET, now_ms: int, form: bool = False, delivery_id: str | None = None
) -> Wire:
    """`sample` as its sender delivers it, signed (or carrying its token) with `secret`.

    GitHub signs the raw body; Gitea and Forgejo sign the JSON payload, also when they send it as a form; GitLab
    and Codeup send the secret as a token; Gitee sends its signing key's signature with a timestamp. GitHub, Gitea,
    Forgejo and GitLab send a delivery id (`delivery_id`, or a new one); Gitee and Codeup document none.
    """
    payload = sample.payload()
    if sample.sender == "github":
        key = delivery_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": sample.event,
            "X-GitHub-Delivery": key,
            "X-GitHub-Hook-ID": "292430182",
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "79929171",
            **hub_signatures(secret, payload),
        }
        return Wire(headers, payload, key)
    if sample.sender in {"gitea", "forgejo"}:
        key = delivery_id or str(uuid.uuid4())
        digest = hex_hmac(secret, payload)
        headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
        for family in ("Gitea", "Gogs") + (("Forgejo",) if sample.sender == "forgejo" else ()):
            headers |= {
                f"X-{family}-Delivery": key,
                f"X-{family}-Event": sample.event,
                f"X-{family}-Event-Type": sample.event,
                f"X-{family}-Signature": digest,
            }
        headers |= {
            **hub_signatures(secret, payload),
            "X-GitHub-Delivery": key,
            "X-GitHub-Event": sample.event,
            "X-GitHub-Event-Type": sample.event,
        }
        body = urlencode({"payload": payload.decode("utf-8")}).encode() if form else payload
        return Wire(headers, body, key)
    if sample.sender == "gitlab":
        key = delivery_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": sample.event,
            "X-Gitlab-Token": secret,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Webhook-UUID": "2a3ab7c5-a7d5-4c7c-a4e8-0c1b4a86e2e1",
            "Idempotency-Key": key,
            "X-Gitlab-Instance": "https://gitlab.example.com",
        }
        return Wire(headers, payload, key)
    if sample.sender == "gitee":
        timestamp = str(now_ms)
        mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "git-oschina-hook",
            "X-Gitee-Event": sample.event,
            "X-Gitee-Token": base64.b64encode(mac).decode(),
            "X-Gitee-Timestamp": timestamp,
            "X-Gitee-Ping": "false",
        }
        return Wire(headers, payload, None)
    headers = {"Content-Type": "application/json", "Codeup-Event": sample.event, "X-Codeup-Token": secret}
    return Wire(headers, payload, None)


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
