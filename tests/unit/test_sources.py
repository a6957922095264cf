"""Source webhooks: detection, parsing, filters and signatures, on the providers' documented sample payloads."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import pytest
from pydantic import ValidationError

from domain.sources import (
    EventKind,
    Expectations,
    InvalidSourceEvent,
    Provider,
    SkipReason,
    SourceEvent,
    SourceSettings,
    built_in_variables,
    decide,
    delivery_id,
    derived_idempotency_key,
    detect_source,
    event_name,
    glob_to_regex,
    idempotency_key,
    parse_source_event,
    read_inbound,
    signature_checked,
    verify_signature,
)
from tests.providers import RawRequest
from tests.support import load_event

# The secret the signatures and tokens in events/source-*.json were made with.
EXAMPLE_SECRET = "hookrun-example-secret"
# The X-Gitee-Timestamp in those files: the events' request time.
NOW_MS: int = load_event("source-gitee-push.json")["requestContext"]["requestTimeEpoch"]
HOUR_MS = 60 * 60 * 1000
GITHUB_DELIVERY = "6dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11"  # events/source-github-push.json's X-GitHub-Delivery


def expectations(signing_secret: Callable[[], str] | None = None) -> Expectations:
    """What the demo pipeline, with every source event let through, expects of a body; signed if `signing_secret`."""
    return Expectations(SourceSettings(), signing_secret, NOW_MS)


class Delivery(RawRequest):
    """An event of events/ as the webhook handler sees it."""

    @property
    def provider(self) -> Provider:
        provider = detect_source(self.headers)
        assert provider is not None
        return provider

    @property
    def content_type(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), None)

    def parse(self) -> SourceEvent:
        return parse_source_event(self.provider, event_name(self.provider, self.headers), self.body, self.content_type)

    def verify(self, secret: str = EXAMPLE_SECRET, now_ms: int = NOW_MS) -> bool:
        return verify_signature(self.provider, self.headers, self.body, secret, now_ms)


def delivery(name: str, **headers: str) -> Delivery:
    """events/<name> as the webhook handler sees it: headers and raw body, with `headers` added or replaced."""
    event = load_event(name)
    return Delivery({**event["headers"], **headers}, event["body"].encode("utf-8"))


def changed(name: str, change: Callable[[dict[str, Any]], None], **headers: str) -> Delivery:
    """events/<name> with its JSON payload changed in place by `change`."""
    original = delivery(name, **headers)
    payload = json.loads(original.body)
    change(payload)
    return Delivery(original.headers, json.dumps(payload).encode("utf-8"))


def without(name: str, header: str) -> Delivery:
    original = delivery(name)
    return Delivery({k: v for k, v in original.headers.items() if k.lower() != header.lower()}, original.body)


def rejection(provider: Provider, body: bytes, content_type: str | None, **headers: str) -> str:
    with pytest.raises(InvalidSourceEvent) as caught:
        parse_source_event(provider, event_name(provider, headers), body, content_type)
    return caught.value.code


def event(**fields: Any) -> SourceEvent:
    values: dict[str, Any] = {"provider": Provider.GITHUB, "kind": EventKind.PUSH, "event_name": "push"}
    values.update(fields)
    return SourceEvent(**values)


@dataclass(frozen=True)
class Expected:
    provider: Provider
    kind: EventKind
    event_name: str
    ref: str
    sha: str
    message: str
    author: str
    repository: str
    delivery_id: str | None
    token_header: str
    branch: str | None = None
    tag: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


GITHUB_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
GITLAB_PUSH_SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
GITLAB_TAG_SHA = "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
CODEUP_SHA = "eb63d0277e64684236ebf8394b919230c4b8a286"
GITEE_SHA = "1cdcd819599cbb4099289dbbec762452f006cb40"

SAMPLES = {
    "source-github-push.json": Expected(
        Provider.GITHUB, EventKind.PUSH, "push", "refs/heads/master", GITHUB_SHA, "Initial commit", "Codertocat",
        "Codertocat/Hello-World", "6dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11", "X-Hub-Signature-256", branch="master",
    ),
    "source-github-tag.json": Expected(
        Provider.GITHUB, EventKind.TAG, "push", "refs/tags/simple-tag", GITHUB_SHA, "Initial commit", "Codertocat",
        "Codertocat/Hello-World", "9a4b6f32-ebc3-4d80-a051-3d7cbe904f44", "X-Hub-Signature-256", tag="simple-tag",
    ),
    "source-gitlab-push.json": Expected(
        Provider.GITLAB, EventKind.PUSH, "Push Hook", "refs/heads/master", GITLAB_PUSH_SHA, "fixed readme",
        "GitLab dev user", "mike/diaspora", "c0ffee00-1234-4abc-8def-0123456789aa", "X-Gitlab-Token",
        branch="master",
    ),
    "source-gitlab-tag.json": Expected(
        Provider.GITLAB, EventKind.TAG, "Tag Push Hook", "refs/tags/v1.0.0", GITLAB_TAG_SHA, "", "John Smith",
        "jsmith/example", "c0ffee00-1234-4abc-8def-0123456789bb", "X-Gitlab-Token", tag="v1.0.0",
    ),
    "source-codeup-push.json": Expected(
        Provider.CODEUP, EventKind.PUSH, "Push Hook", "refs/heads/master", CODEUP_SHA, "fixed readme", "Codeup",
        "demo/demo", None, "X-Codeup-Token", branch="master",
    ),
    "source-codeup-tag.json": Expected(
        Provider.CODEUP, EventKind.TAG, "Tag Push Hook", "refs/tags/v1.0.0", CODEUP_SHA, "", "Codeup", "demo/demo",
        None, "X-Codeup-Token", tag="v1.0.0",
    ),
    "source-gitee-push.json": Expected(
        Provider.GITEE, EventKind.PUSH, "Push Hook", "refs/heads/change_commitlint_config", GITEE_SHA,
        "Update README.md", "robot", "oschina/gitee", None, "X-Gitee-Token", branch="change_commitlint_config",
    ),
    "source-gitee-tag.json": Expected(
        Provider.GITEE, EventKind.TAG, "Tag Push Hook", "refs/tags/v1.0.0", GITEE_SHA, "Update README.md", "robot",
        "oschina/gitee", None, "X-Gitee-Token", tag="v1.0.0",
    ),
}  # fmt: skip
SAMPLE_NAMES = sorted(SAMPLES)


# --- the providers' samples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_is_detected_as_its_provider(name: str) -> None:
    assert detect_source(delivery(name).headers) is SAMPLES[name].provider


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_reads_kind_and_event_name(name: str) -> None:
    parsed = delivery(name).parse()
    assert (parsed.kind, parsed.event_name) == (SAMPLES[name].kind, SAMPLES[name].event_name)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_reads_ref_and_branch_or_tag(name: str) -> None:
    parsed = delivery(name).parse()
    assert (parsed.ref, parsed.branch, parsed.tag) == (SAMPLES[name].ref, SAMPLES[name].branch, SAMPLES[name].tag)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_reads_head_commit_sha_first_line_and_author(name: str) -> None:
    parsed = delivery(name).parse()
    expected = SAMPLES[name]
    assert (parsed.commit_sha, parsed.commit_message, parsed.commit_author) == (
        expected.sha,
        expected.message,
        expected.author,
    )


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_reads_repository_path(name: str) -> None:
    assert delivery(name).parse().repository == SAMPLES[name].repository


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_reads_delivery_id(name: str) -> None:
    sample = delivery(name)
    assert delivery_id(sample.provider, sample.headers) == SAMPLES[name].delivery_id


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_is_not_a_deletion(name: str) -> None:
    assert delivery(name).parse().deleted is False


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_gives_its_built_in_variables(name: str) -> None:
    expected = SAMPLES[name]
    ref_variable = {"HOOKRUN_BRANCH": expected.branch} if expected.branch else {"HOOKRUN_TAG": expected.tag or ""}
    assert built_in_variables(delivery(name).parse()) == {
        "HOOKRUN_SOURCE": expected.provider.value,
        "HOOKRUN_EVENT": expected.kind.value,
        "HOOKRUN_REF": expected.ref,
        **ref_variable,
        "HOOKRUN_COMMIT_SHA": expected.sha,
        "HOOKRUN_COMMIT_MESSAGE": expected.message,
        "HOOKRUN_COMMIT_AUTHOR": expected.author,
        "HOOKRUN_REPOSITORY": expected.repository,
    }


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_starts_a_run_with_default_settings(name: str) -> None:
    decision = decide(SourceSettings(), delivery(name).parse())
    assert (decision.outcome, decision.reason) == ("run", None)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_signature_verifies_with_the_example_secret(name: str) -> None:
    assert delivery(name).verify() is True


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_signature_fails_with_another_secret(name: str) -> None:
    assert delivery(name).verify(secret="another-secret") is False


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_without_its_signature_header_fails(name: str) -> None:
    assert without(name, SAMPLES[name].token_header).verify() is False


# --- detection and delivery ids ---------------------------------------------------------------------------------


def test_request_without_a_provider_event_header_is_a_general_webhook() -> None:
    assert detect_source(load_event("webhook-general.json")["headers"]) is None


@pytest.mark.parametrize(
    ("headers", "provider"),
    [
        ({"x-github-event": "push"}, Provider.GITHUB),
        ({"X-GITLAB-EVENT": "Push Hook"}, Provider.GITLAB),
        ({"codeup-event": "Push Hook"}, Provider.CODEUP),
        ({"X-Gitee-Event": "Push Hook"}, Provider.GITEE),
    ],
)
def test_event_header_names_are_matched_case_insensitively(headers: dict[str, str], provider: Provider) -> None:
    assert detect_source(headers) is provider


@pytest.mark.parametrize(
    "headers",
    [{"X-Gitea-Event": "push"}, {"X-Forgejo-Event": "push"}, {"X-GitHub-Event": "push", "X-Gitea-Event": "push"}],
)
def test_gitea_and_forgejo_count_as_github(headers: dict[str, str]) -> None:
    assert detect_source(headers) is Provider.GITHUB


def test_codeup_is_also_detected_by_its_x_prefixed_header() -> None:
    assert detect_source({"X-Codeup-Event": "Push Hook"}) is Provider.CODEUP


def test_codeup_event_under_its_x_prefixed_header_is_read() -> None:
    original = without("source-codeup-push.json", "Codeup-Event")
    assert Delivery({**original.headers, "X-Codeup-Event": "Push Hook"}, original.body).parse().kind is EventKind.PUSH


@pytest.mark.parametrize(
    ("provider", "headers", "expected"),
    [
        (Provider.GITHUB, {"x-gitea-event": "push"}, "push"),
        (Provider.CODEUP, {"X-Codeup-Event": "Tag Push Hook"}, "Tag Push Hook"),
        (Provider.GITEE, {"X-Gitee-Event": "x" * 500}, "x" * 100),
        (Provider.GITLAB, {}, ""),
    ],
)
def test_event_name_is_the_providers_event_header_cut_short(
    provider: Provider, headers: dict[str, str], expected: str
) -> None:
    assert event_name(provider, headers) == expected


@pytest.mark.parametrize(
    ("provider", "headers", "expected"),
    [
        (Provider.GITHUB, {"X-Gitea-Delivery": "gitea-1"}, "gitea-1"),
        (Provider.GITLAB, {"X-Gitlab-Event-UUID": "event-uuid"}, "event-uuid"),
        (Provider.GITLAB, {"Idempotency-Key": "retry-stable", "X-Gitlab-Event-UUID": "event-uuid"}, "retry-stable"),
        (Provider.CODEUP, {"X-Codeup-Delivery": "codeup-1"}, "codeup-1"),
        (Provider.GITEE, {"X-Gitee-Delivery": "gitee-1"}, "gitee-1"),
        (Provider.GITEE, {}, None),
    ],
)
def test_delivery_id_comes_from_the_providers_header(
    provider: Provider, headers: dict[str, str], expected: str | None
) -> None:
    assert delivery_id(provider, headers) == expected


def test_blank_delivery_id_counts_as_absent() -> None:
    assert delivery_id(Provider.GITHUB, {"X-GitHub-Delivery": "  "}) is None


def test_delivery_id_of_200_characters_is_accepted() -> None:
    assert delivery_id(Provider.GITHUB, {"X-GitHub-Delivery": "a" * 200}) == "a" * 200


@pytest.mark.parametrize("value", ["a" * 201, "caf\u00e9", "a\x00b", "a\nb"])
def test_overlong_or_non_printable_delivery_id_is_a_bad_request(value: str) -> None:
    with pytest.raises(InvalidSourceEvent) as caught:
        delivery_id(Provider.GITHUB, {"X-GitHub-Delivery": value})
    assert caught.value.code == "INVALID_DELIVERY_ID"


def test_sample_with_a_bad_delivery_id_is_refused_when_read() -> None:
    sample = delivery("source-github-push.json", **{"X-GitHub-Delivery": "x" * 201})
    inbound = read_inbound(sample.headers, sample.body, expectations())
    assert (inbound.key_error is not None and inbound.key_error.code, inbound.key, inbound.decision) == (
        "INVALID_DELIVERY_ID",
        None,
        None,
    )


def test_a_request_refused_before_its_body_counts_is_read_by_its_headers_alone() -> None:
    sample = delivery("source-github-push.json")
    inbound = read_inbound(sample.headers, b"{broken", None)
    assert (inbound.source, inbound.event, inbound.key) == ("github", "push", GITHUB_DELIVERY)
    assert (inbound.body_error, inbound.decision, inbound.built_ins) == (None, None, {})


def test_the_signing_secret_is_asked_for_only_for_a_source_event() -> None:
    asked: list[str] = []

    def secret() -> str:
        asked.append("secret")
        return EXAMPLE_SECRET

    general = load_event("webhook-variables.json")
    inbound = read_inbound(general["headers"], general["body"].encode(), expectations(secret))
    assert (inbound.source, inbound.variables, asked) == ("webhook", {"abc": "456"}, [])
    sample = delivery("source-github-push.json")
    inbound = read_inbound(sample.headers, sample.body, expectations(secret))
    assert (inbound.body_error, asked) == (None, ["secret"])


def test_a_wrongly_signed_event_is_refused_and_not_read() -> None:
    sample = delivery("source-github-push.json")
    inbound = read_inbound(sample.headers, sample.body, expectations(lambda: "another-secret-entirely"))
    assert inbound.body_error is not None and inbound.body_error.code == "INVALID_SIGNATURE"
    assert (inbound.key, inbound.decision, inbound.built_ins) == (GITHUB_DELIVERY, None, {})


def test_a_push_without_a_delivery_id_is_keyed_by_what_it_pushed() -> None:
    sample = delivery("source-gitee-push.json")
    inbound = read_inbound(sample.headers, sample.body, expectations())
    assert inbound.key == derived_idempotency_key(sample.parse())


def test_idempotency_key_is_read_case_insensitively() -> None:
    assert idempotency_key({"idempotency-KEY": " order-42 "}) == "order-42"


def test_missing_idempotency_key_is_none() -> None:
    assert idempotency_key({"Content-Type": "application/json"}) is None


@pytest.mark.parametrize("value", ["k" * 201, "\u00fcber", "tab\there"])
def test_invalid_idempotency_key_is_a_bad_request(value: str) -> None:
    with pytest.raises(InvalidSourceEvent) as caught:
        idempotency_key({"Idempotency-Key": value})
    assert caught.value.code == "INVALID_IDEMPOTENCY_KEY"


# --- GitHub -----------------------------------------------------------------------------------------------------


def test_github_ping_is_read_as_a_ping_of_its_repository() -> None:
    parsed = delivery("source-github-ping.json").parse()
    assert (parsed.kind, parsed.repository, parsed.ref) == (EventKind.PING, "Octocoders/Hello-World", "")


def test_github_ping_is_skipped_with_reason_ping() -> None:
    decision = decide(SourceSettings(), delivery("source-github-ping.json").parse())
    assert (decision.outcome, decision.reason) == ("skip", SkipReason.PING)


def test_github_ping_signature_verifies() -> None:
    assert delivery("source-github-ping.json").verify() is True


def test_github_form_encoded_push_reads_like_the_json_push() -> None:
    form = delivery("source-github-push-form.json").parse()
    as_json = delivery("source-github-push.json").parse()
    assert form.model_dump(exclude={"delivery_id"}) == as_json.model_dump(exclude={"delivery_id"})


def test_github_form_encoded_signature_covers_the_form_body() -> None:
    assert delivery("source-github-push-form.json").verify() is True


def test_github_signature_fails_when_the_body_changes() -> None:
    original = delivery("source-github-push.json")
    assert Delivery(original.headers, original.body.replace(b"Initial", b"Altered")).verify() is False


@pytest.mark.parametrize("event_name", ["create", "delete", "pull_request", "release"])
def test_other_github_events_are_ignored(event_name: str) -> None:
    parsed = delivery("source-github-push.json", **{"X-GitHub-Event": event_name}).parse()
    decision = decide(SourceSettings(), parsed)
    assert (parsed.kind, decision.reason) == (EventKind.OTHER, SkipReason.IGNORED_EVENT)


def test_github_branch_deletion_is_detected() -> None:
    parsed = delivery("source-github-branch-delete.json").parse()
    assert (parsed.kind, parsed.branch, parsed.deleted) == (EventKind.PUSH, "simple-branch", True)


def test_github_branch_deletion_is_skipped_with_reason_branch_deleted() -> None:
    decision = decide(SourceSettings(), delivery("source-github-branch-delete.json").parse())
    assert (decision.outcome, decision.reason) == ("skip", SkipReason.BRANCH_DELETED)


def test_github_tag_deletion_is_skipped_with_reason_tag_deleted() -> None:
    decision = decide(SourceSettings(), delivery("source-github-tag-delete.json").parse())
    assert (decision.outcome, decision.reason) == ("skip", SkipReason.TAG_DELETED)


def test_deletion_without_a_head_commit_names_the_pusher_as_author() -> None:
    assert delivery("source-github-branch-delete.json").parse().commit_author == "Codertocat"


def test_zero_after_sha_is_a_deletion_even_without_the_deleted_flag() -> None:
    def drop_flag(payload: dict[str, Any]) -> None:
        del payload["deleted"]

    assert changed("source-github-branch-delete.json", drop_flag).parse().deleted is True


def test_commit_message_keeps_only_its_first_line() -> None:
    def multi_line(payload: dict[str, Any]) -> None:
        payload["head_commit"]["message"] = "Fix the build\r\n\r\nThe long explanation."

    assert changed("source-github-push.json", multi_line).parse().commit_message == "Fix the build"


def test_commit_message_is_cut_to_1000_characters() -> None:
    def long_message(payload: dict[str, Any]) -> None:
        payload["head_commit"]["message"] = "x" * 5000

    assert changed("source-github-push.json", long_message).parse().commit_message == "x" * 1000


def test_without_head_commit_the_pushed_commit_named_by_after_is_the_head() -> None:
    def newest_listed_first(payload: dict[str, Any]) -> None:
        older = dict(payload["commits"][0], id="a" * 40, message="older", author={"name": "Ada"})
        payload["commits"] = [dict(payload["commits"][0], message="newer", author={"name": "Grace"}), older]
        payload["head_commit"] = None

    parsed = changed("source-github-push.json", newest_listed_first).parse()
    assert (parsed.commit_message, parsed.commit_author) == ("newer", "Grace")


def test_without_a_matching_commit_the_last_listed_commit_is_the_head() -> None:
    def unmatched_commits(payload: dict[str, Any]) -> None:
        commit = payload["commits"][0]
        payload["commits"] = [dict(commit, id="a" * 40, message="older"), dict(commit, id="b" * 40, message="newer")]
        payload["head_commit"] = None

    assert changed("source-github-push.json", unmatched_commits).parse().commit_message == "newer"


def test_annotated_tag_commit_sha_is_the_tagged_commit_not_the_tag_object() -> None:
    def annotated(payload: dict[str, Any]) -> None:
        payload["after"] = "f" * 40

    assert changed("source-github-tag.json", annotated).parse().commit_sha == GITHUB_SHA


def test_gitea_bare_signature_header_verifies() -> None:
    body = b'{"ref": "refs/heads/main"}'
    digest = hmac.new(EXAMPLE_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Gitea-Event": "push", "X-Gitea-Signature": digest}
    assert verify_signature(Provider.GITHUB, headers, body, EXAMPLE_SECRET, NOW_MS) is True


def test_non_ascii_signature_header_is_false_not_an_error() -> None:
    assert delivery("source-github-push.json", **{"X-Hub-Signature-256": "sha256=\u00e9"}).verify() is False


def test_empty_secret_never_verifies() -> None:
    assert delivery("source-gitlab-push.json", **{"X-Gitlab-Token": ""}).verify(secret="") is False


# --- GitLab and Codeup ------------------------------------------------------------------------------------------


def test_gitlab_head_commit_is_the_checkout_sha_commit_not_the_last_listed() -> None:
    def reverse_commits(payload: dict[str, Any]) -> None:
        payload["commits"].reverse()

    parsed = changed("source-gitlab-push.json", reverse_commits).parse()
    assert (parsed.commit_message, parsed.commit_author) == ("fixed readme", "GitLab dev user")


def test_gitlab_null_checkout_sha_is_a_deletion() -> None:
    def deleted_branch(payload: dict[str, Any]) -> None:
        payload["checkout_sha"] = None

    assert changed("source-gitlab-push.json", deleted_branch).parse().deleted is True


def test_codeup_zero_after_sha_is_a_tag_deletion() -> None:
    def deleted_tag(payload: dict[str, Any]) -> None:
        payload["after"] = "0" * 40

    decision = decide(SourceSettings(), changed("source-codeup-tag.json", deleted_tag).parse())
    assert decision.reason is SkipReason.TAG_DELETED


@pytest.mark.parametrize(("name", "kind"), [("source-gitlab-push.json", "push"), ("source-gitlab-tag.json", "tag")])
def test_gitlab_system_hook_push_and_tag_push_are_read(name: str, kind: str) -> None:
    assert delivery(name, **{"X-Gitlab-Event": "System Hook"}).parse().kind.value == kind


def test_gitlab_system_hook_of_another_kind_is_other() -> None:
    def repository_update(payload: dict[str, Any]) -> None:
        payload["object_kind"] = "repository_update"

    parsed = changed("source-gitlab-push.json", repository_update, **{"X-Gitlab-Event": "System Hook"}).parse()
    assert parsed.kind is EventKind.OTHER


@pytest.mark.parametrize("name", ["source-gitlab-push.json", "source-codeup-push.json", "source-gitee-push.json"])
def test_merge_request_hooks_are_ignored(name: str) -> None:
    original = delivery(name)
    event_header = next(k for k in original.headers if k.lower().endswith("-event"))
    parsed = delivery(name, **{event_header: "Merge Request Hook"}).parse()
    assert decide(SourceSettings(), parsed).reason is SkipReason.IGNORED_EVENT


def test_kind_follows_the_ref_when_the_header_disagrees() -> None:
    # GitLab's "Test" button for tag events has been seen to send a branch ref.
    parsed = delivery("source-gitlab-push.json", **{"X-Gitlab-Event": "Tag Push Hook"}).parse()
    assert (parsed.kind, parsed.branch) == (EventKind.PUSH, "master")


def test_ref_outside_branches_and_tags_is_other() -> None:
    def merge_request_ref(payload: dict[str, Any]) -> None:
        payload["ref"] = "refs/merge-requests/1/head"

    assert changed("source-gitlab-push.json", merge_request_ref).parse().kind is EventKind.OTHER


# --- Gitee signatures -------------------------------------------------------------------------------------------


def gitee_sign(timestamp: int) -> str:
    mac = hmac.new(EXAMPLE_SECRET.encode(), f"{timestamp}\n{EXAMPLE_SECRET}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def test_gitee_sample_push_carries_the_signature_form() -> None:
    assert delivery("source-gitee-push.json").headers["X-Gitee-Token"] == gitee_sign(NOW_MS)


def test_gitee_url_encoded_signature_is_accepted_as_documented() -> None:
    encoded = quote_plus(gitee_sign(NOW_MS))
    assert encoded != gitee_sign(NOW_MS)
    assert delivery("source-gitee-push.json", **{"X-Gitee-Token": encoded}).verify() is True


def test_gitee_signature_within_an_hour_is_accepted() -> None:
    assert delivery("source-gitee-push.json").verify(now_ms=NOW_MS + HOUR_MS) is True


@pytest.mark.parametrize("now_ms", [NOW_MS + HOUR_MS + 1, NOW_MS - HOUR_MS - 1])
def test_gitee_signature_with_a_stale_timestamp_is_rejected(now_ms: int) -> None:
    assert delivery("source-gitee-push.json").verify(now_ms=now_ms) is False


def test_gitee_signature_for_another_timestamp_is_rejected() -> None:
    assert delivery("source-gitee-push.json", **{"X-Gitee-Timestamp": str(NOW_MS + 1)}).verify() is False


def test_gitee_plain_password_is_accepted_without_a_timestamp() -> None:
    assert without("source-gitee-tag.json", "X-Gitee-Timestamp").verify() is True


def test_gitee_signature_without_its_timestamp_is_rejected() -> None:
    assert without("source-gitee-push.json", "X-Gitee-Timestamp").verify() is False


# --- bad bodies -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "content_type"),
    [
        (Provider.GITHUB, "text/plain"),
        (Provider.GITLAB, "application/x-www-form-urlencoded"),
        (Provider.GITEE, "application/x-www-form-urlencoded"),
        (Provider.CODEUP, None),
    ],
)
def test_wrong_content_type_is_unsupported_media_type(provider: Provider, content_type: str | None) -> None:
    assert rejection(provider, b"{}", content_type) == "UNSUPPORTED_MEDIA_TYPE"


def test_json_content_type_with_charset_is_accepted() -> None:
    original = delivery("source-gitlab-push.json")
    parsed = parse_source_event(Provider.GITLAB, "Push Hook", original.body, "application/json; charset=utf-8")
    assert parsed.kind is EventKind.PUSH


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"push"', b"\xff\xfe", b""])
def test_body_that_is_not_a_json_object_is_invalid_json(body: bytes) -> None:
    assert rejection(Provider.GITLAB, body, "application/json", **{"X-Gitlab-Event": "Push Hook"}) == "INVALID_JSON"


@pytest.mark.parametrize(
    "body", [b"payload", b"other=1", b"payload=1&payload=2", b"payload=%7Bbroken", b"payload=%FF", b""]
)
def test_form_without_one_json_payload_field_is_invalid_json(body: bytes) -> None:
    content_type = "application/x-www-form-urlencoded"
    assert rejection(Provider.GITHUB, body, content_type, **{"X-GitHub-Event": "push"}) == "INVALID_JSON"


@pytest.mark.parametrize("missing", ["ref", "after", "repository"])
def test_push_without_what_a_push_needs_is_an_invalid_source_event(missing: str) -> None:
    def drop(payload: dict[str, Any]) -> None:
        del payload[missing]

    with pytest.raises(InvalidSourceEvent) as caught:
        changed("source-codeup-push.json", drop).parse()
    assert caught.value.code == "INVALID_SOURCE_EVENT"


def test_push_whose_commit_is_not_a_sha_is_an_invalid_source_event() -> None:
    def not_a_sha(payload: dict[str, Any]) -> None:
        payload["after"] = "eb63d0277e64684236ebf8394b919230c4b8a286\n"

    with pytest.raises(InvalidSourceEvent) as caught:
        changed("source-codeup-push.json", not_a_sha).parse()
    assert caught.value.code == "INVALID_SOURCE_EVENT"


def test_error_messages_never_echo_the_body() -> None:
    marker = "hookrun-marker-7f3a"
    for body in [f'{{"ref": "{marker}"'.encode(), f'{{"ref": "{marker}"}}'.encode()]:
        with pytest.raises(InvalidSourceEvent) as caught:
            parse_source_event(Provider.GITLAB, "Push Hook", body, "application/json")
        assert marker not in caught.value.message


# --- filters ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("main", "main", True),
        ("main", "mainline", False),
        ("*", "feature", True),
        ("*", "feature/x", False),
        ("**", "feature/x/y", True),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/hotfix", False),
        ("release/**", "release/1.0/hotfix", True),
        ("release/**", "release", False),
        ("**/main", "main", True),
        ("**/main", "team/a/main", True),
        ("**/**/main", "team/a/main", True),
        ("v?.0", "v1.0", True),
        ("v?.0", "v10.0", False),
        ("v1.0", "v1x0", False),
        ("v[0-9]*", "v2.1", True),
        ("v[!0-9]*", "v2.1", False),
        ("v[!0-9]*", "vnext", True),
        ("feat+fix", "feat+fix", True),
    ],
)
def test_glob_patterns_match_as_documented(pattern: str, name: str, matches: bool) -> None:
    assert (glob_to_regex(pattern).fullmatch(name) is not None) is matches


def push_to(branch: str) -> SourceEvent:
    return event(ref=f"refs/heads/{branch}", branch=branch, commit_sha=GITHUB_SHA, repository="octo/hello")


def test_release_star_runs_one_level_below_release() -> None:
    assert decide(SourceSettings(branches=("release/*",)), push_to("release/1.0")).outcome == "run"


def test_release_star_skips_deeper_branches_with_reason_branch_filtered() -> None:
    decision = decide(SourceSettings(branches=("release/*",)), push_to("release/1.0/hotfix"))
    assert (decision.outcome, decision.reason) == ("skip", SkipReason.BRANCH_FILTERED)


def test_release_double_star_runs_deeper_branches() -> None:
    assert decide(SourceSettings(branches=("release/**",)), push_to("release/1.0/hotfix")).outcome == "run"


def test_any_matching_branch_pattern_runs() -> None:
    assert decide(SourceSettings(branches=("main", "release/*")), push_to("main")).outcome == "run"


@pytest.mark.parametrize(
    ("settings", "event_file", "outcome", "reason"),
    [
        (SourceSettings(tags=("v*",)), "source-gitlab-tag.json", "run", None),
        (SourceSettings(tags=("release-*",)), "source-gitlab-tag.json", "skip", SkipReason.TAG_FILTERED),
        (SourceSettings(branches=("main",)), "source-gitlab-tag.json", "run", None),
        (SourceSettings(events=("push",)), "source-gitee-tag.json", "skip", SkipReason.EVENT_FILTERED),
        (SourceSettings(events=("tag",)), "source-gitee-push.json", "skip", SkipReason.EVENT_FILTERED),
    ],
    ids=[
        "tag filter runs matching tags",
        "tag filter skips other tags",
        "branch patterns do not filter tags",
        "event filter skips tags when only pushes run",
        "event filter skips pushes when only tags run",
    ],
)
def test_tag_and_event_filters_decide_with_their_reason(
    settings: SourceSettings, event_file: str, outcome: str, reason: SkipReason | None
) -> None:
    decision = decide(settings, delivery(event_file).parse())
    assert (decision.outcome, decision.reason) == (outcome, reason)


def test_skip_message_names_the_branch_and_the_patterns() -> None:
    decision = decide(SourceSettings(branches=("main", "release/*")), push_to("feature/login"))
    assert "'feature/login'" in decision.message
    assert "main, release/*" in decision.message


def test_skip_message_strips_control_characters_from_names() -> None:
    decision = decide(SourceSettings(branches=("main",)), push_to("evil\x1b[31m"))
    assert "\x1b" not in decision.message


def test_settings_read_from_the_pipeline_file_shape() -> None:
    settings = SourceSettings.model_validate({"branches": ["main"], "tags": ["v*"], "events": ["tag"]})
    assert (settings.branches, settings.tags, settings.events) == (("main",), ("v*",), ("tag",))


@pytest.mark.parametrize(
    "data", [{"branches": ["[z-a]"]}, {"tags": [""]}, {"events": ["pull_request"]}, {"branch": ["main"]}]
)
def test_settings_reject_what_cannot_filter(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SourceSettings.model_validate(data)


# --- built-in variables -----------------------------------------------------------------------------------------


def test_built_in_values_lose_nul_characters() -> None:
    variables = built_in_variables(event(commit_message="a\x00b"))
    assert variables["HOOKRUN_COMMIT_MESSAGE"] == "ab"


def test_built_in_values_are_cut_to_4096_characters() -> None:
    variables = built_in_variables(event(commit_author="x" * 5000))
    assert variables["HOOKRUN_COMMIT_AUTHOR"] == "x" * 4096


def test_built_in_values_replace_lone_surrogates() -> None:
    variables = built_in_variables(event(commit_author="a\ud800b"))
    assert variables["HOOKRUN_COMMIT_AUTHOR"] == "a?b"


def test_built_in_values_with_escaped_surrogates_in_the_payload_are_environment_safe() -> None:
    def escaped_surrogate(payload: dict[str, Any]) -> None:
        payload["head_commit"]["author"]["name"] = "\ud800"

    parsed = changed("source-gitee-push.json", escaped_surrogate).parse()
    assert built_in_variables(parsed)["HOOKRUN_COMMIT_AUTHOR"] == "?"


# --- the body reader they share with variable bodies --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"ref": "refs/heads/main", "ref": "refs/heads/evil"}',  # which ref moved? no reader may guess
        b'{"ref": "refs/heads/main", "x": ' + b"[" * 33 + b"]" * 33 + b"}",
        b'{"ref": "refs/heads/main", "x": NaN}',
    ],
    ids=["duplicate-key", "nested-33-deep", "nan"],
)
def test_source_events_are_read_as_strictly_as_variable_bodies(body: bytes) -> None:
    assert rejection(Provider.GITHUB, body, "application/json", **{"X-GitHub-Event": "push"}) == "INVALID_JSON"


def test_a_form_payload_with_a_duplicate_key_is_invalid_json() -> None:
    form = b"payload=" + quote_plus('{"ref": "a", "ref": "b"}').encode()
    assert rejection(Provider.GITHUB, form, "application/x-www-form-urlencoded") == "INVALID_JSON"


# --- GitLab System Hooks, Gitea forms, derived keys, 401 messages ------------------------------------------------


def test_gitlab_system_hook_push_without_object_kind_is_read_by_its_event_name() -> None:
    def documented_system_hook(payload: dict[str, Any]) -> None:
        del payload["object_kind"]
        payload["event_name"] = "push"

    parsed = changed("source-gitlab-push.json", documented_system_hook, **{"X-Gitlab-Event": "System Hook"}).parse()
    assert (parsed.kind, parsed.branch) == (EventKind.PUSH, "master")


def test_gitea_form_delivery_is_verified_against_the_json_payload_it_signed() -> None:
    payload = b'{"ref": "refs/heads/main"}'
    form = b"payload=" + quote_plus(payload.decode()).encode()
    digest = hmac.new(EXAMPLE_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    headers = {"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}
    form_type = "application/x-www-form-urlencoded"
    assert verify_signature(Provider.GITHUB, headers, form, EXAMPLE_SECRET, NOW_MS, content_type=form_type)
    github_headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}
    # GitHub signs the form body itself, so the same header does not prove a GitHub form
    assert not verify_signature(Provider.GITHUB, github_headers, form, EXAMPLE_SECRET, NOW_MS, content_type=form_type)


@pytest.mark.parametrize(
    ("headers", "content_type", "named"),
    [
        ({"X-GitHub-Event": "push"}, "application/json", ["X-Hub-Signature-256", "application/json", "lacks"]),
        ({"X-Gitea-Event": "push", "X-Gitea-Signature": "00"}, "application/x-www-form-urlencoded",
         ["X-Gitea-Signature", "application/x-www-form-urlencoded", "'payload' field"]),
        ({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "x"}, None, ["X-Gitlab-Token", "no Content-Type"]),
        ({"X-Gitee-Event": "Push Hook", "X-Gitee-Token": "x", "X-Gitee-Timestamp": "1"}, "application/json",
         ["X-Gitee-Token", "X-Gitee-Timestamp", "application/json"]),
        ({"Codeup-Event": "Push Hook"}, "text/plain", ["X-Codeup-Token", "text/plain", "lacks"]),
    ],
)  # fmt: skip
def test_what_was_checked_names_the_header_and_the_content_type(
    headers: dict[str, str], content_type: str | None, named: list[str]
) -> None:
    provider = detect_source(headers)
    assert provider is not None
    checked = signature_checked(provider, headers, content_type)
    assert all(part in checked for part in named), checked


def test_a_push_derives_the_same_key_each_time_and_another_push_another() -> None:
    first = delivery("source-gitee-push.json").parse()
    assert derived_idempotency_key(first) == derived_idempotency_key(delivery("source-gitee-push.json").parse())
    moved = changed("source-gitee-push.json", lambda payload: payload.update(after="e" * 40)).parse()
    key = derived_idempotency_key(first)
    assert key is not None and key.startswith("derived-") and len(key) <= 200
    assert derived_idempotency_key(moved) != key


def test_events_other_than_push_and_tag_derive_no_key() -> None:
    assert derived_idempotency_key(delivery("source-github-ping.json").parse()) is None
