"""The webhook handler under arbitrary requests: never an exception, never a 5xx, always a documented answer.

Requests vary in everything a caller controls: token, method, body (text or base64, valid or not), content type,
source-provider headers, delivery ids, Idempotency-Key, signatures; and in the trigger's state (enabled, disabled,
run-as user without a role, signing secret set). The ports are in-memory fakes, as in the handler's unit tests.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.models import Role
from handlers import composition, webhook
from handlers.composition import Container, Settings
from tests.contract import DOCUMENTED
from tests.fakes import FakeRunStarter, FakeSigningSecrets, FakeStore, fake_ports
from tests.support import DEMO_TOKEN, FakeLambdaContext, demo_pipeline, webhook_event

UNKNOWN_TOKEN = "hr_" + "A" * 43
SECRET = "s3cr3t-never-echoed"
SIGNING_SECRET_NAME = "hookrun/test/demo"
DOCUMENTED_STATUSES = {200, 202} | {status for status, _ in DOCUMENTED}
STATES = ("enabled", "disabled", "revoked", "signed")


class FakeContainer(Container):
    """The composition root with in-memory ports: the handler's only way to the outside."""

    def __init__(self, state: str, allow_undeclared: bool) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        store = FakeStore()
        store.add_pipeline(demo_pipeline(webhook={"allowUndeclaredVariables": allow_undeclared}))
        store.add_user("alice", None if state == "revoked" else Role.RUNNER)
        store.enable(
            DEMO_TOKEN,
            "demo",
            "alice",
            enabled=state != "disabled",
            signing_secret=SIGNING_SECRET_NAME if state == "signed" else None,
        )
        secrets = FakeSigningSecrets({SIGNING_SECRET_NAME: "signing-secret"})
        self.__dict__["trigger_ports"] = fake_ports(store, FakeRunStarter(), signing_secrets=secrets)


def mostly(usual: st.SearchStrategy[Any], others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draws from `usual` four times in five, else from `others`: keeps most calls on the interesting path."""
    return st.integers(0, 4).flatmap(lambda n: others if n == 4 else usual)


json_leaves = st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=50)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
variable_names = mostly(st.sampled_from(["abc", "DEPLOY_ENV", "RETRIES", "DRY_RUN", "API_KEY"]), st.text(max_size=20))
variables = st.dictionaries(variable_names, mostly(json_leaves, json_values), max_size=5) | st.just(
    {"API_KEY": SECRET, "RETRIES": "x"}
)
push_payloads = st.fixed_dictionaries(
    {},
    optional={
        "ref": st.sampled_from(["refs/heads/main", "refs/tags/v1", "main"]) | st.text(max_size=20),
        "after": st.sampled_from(["a" * 40, "0" * 40]) | st.text(max_size=64),
        "repository": st.fixed_dictionaries({"full_name": st.text(max_size=20)}) | json_values,
        "head_commit": json_values,
        "commits": json_values,
        "deleted": json_values,
    },
)


@st.composite
def body_texts(draw: st.DrawFn) -> str:
    """A body as text: JSON of variables, of a push event, of anything, or not JSON at all."""
    kind = draw(mostly(st.just("variables"), st.sampled_from(["push", "json", "text", "deep"])))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "deep":
        return draw(st.sampled_from(["[", "{", '{"a":'])) * draw(st.integers(1, 5000))
    value = draw({"variables": variables, "push": push_payloads, "json": json_values}[kind])
    return json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bool]:
    """The event's `body` and `isBase64Encoded`: none, text, base64 of text or bytes, or broken base64."""
    kind = draw(mostly(st.just("text"), st.sampled_from(["none", "base64-text", "base64-bytes", "broken-base64"])))
    if kind == "none":
        return None, draw(st.booleans())
    if kind == "text":
        return draw(body_texts()), False
    if kind == "broken-base64":
        return draw(st.text(max_size=40)), True
    raw = (
        draw(st.binary(max_size=200)) if kind == "base64-bytes" else draw(body_texts()).encode("utf-8", "surrogatepass")
    )
    return base64.b64encode(raw).decode("ascii"), True


content_types = mostly(st.just("application/json"), st.none() | st.text(max_size=30)) | st.sampled_from(
    [
        "application/json; charset=utf-8",
        "application/vnd.hookrun+json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)
source_headers = mostly(
    st.just({}),
    st.dictionaries(
        st.sampled_from(["X-GitHub-Event", "X-Gitea-Event", "X-Gitlab-Event", "X-Gitee-Event", "Codeup-Event"]),
        st.sampled_from(["push", "Push Hook", "Tag Push Hook", "ping", "System Hook", "issues"]) | st.text(max_size=20),
        max_size=1,
    ),
)
other_headers = st.dictionaries(
    st.sampled_from(
        [
            "Idempotency-Key",
            "X-GitHub-Delivery",
            "X-Gitlab-Event-UUID",
            "X-Hub-Signature-256",
            "X-Gitlab-Token",
            "X-Gitee-Token",
            "X-Gitee-Timestamp",
        ]
    ),
    st.text(max_size=60) | st.sampled_from(["k" * 201, "signing-secret", "1795791600000"]),
    max_size=3,
)


@dataclass(frozen=True)
class Call:
    """One invocation: the trigger's state and the API Gateway event."""

    state: str
    allow_undeclared: bool
    event: dict[str, Any]


@st.composite
def calls(draw: st.DrawFn) -> Call:
    token = draw(mostly(st.just(DEMO_TOKEN), st.just(UNKNOWN_TOKEN) | st.text(max_size=60)))
    body, is_base64 = draw(bodies())
    headers = {**draw(source_headers), **draw(other_headers)}
    event = webhook_event(body=body, token=token, headers=headers, content_type=draw(content_types))
    event["isBase64Encoded"] = is_base64
    event["queryStringParameters"] = draw(
        mostly(
            st.none(), st.dictionaries(st.sampled_from(["dryRun", "abc", "token"]), st.text(max_size=10), max_size=2)
        )
    )
    event["httpMethod"] = draw(mostly(st.just("POST"), st.sampled_from(["GET", "PUT", "DELETE", "PATCH"])))
    return Call(draw(mostly(st.just("enabled"), st.sampled_from(STATES))), draw(st.booleans()), event)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def invoke(call: Call) -> Answer:
    """Run the handler on the call's event with a fresh fake container."""
    composition.use_container(FakeContainer(call.state, call.allow_undeclared))
    try:
        response = webhook.handler(call.event, FakeLambdaContext())  # type: ignore[arg-type]
    finally:
        composition.use_container(None)
    return Answer(response["statusCode"], response["body"])


@given(calls())
def test_every_answer_has_a_documented_status_and_none_is_a_5xx(call: Call) -> None:
    answer = invoke(call)
    assert answer.status < 500, answer.text
    assert answer.status in DOCUMENTED_STATUSES, answer.text


@given(calls())
def test_every_refusal_is_a_json_object_with_a_documented_code_and_a_message(call: Call) -> None:
    answer = invoke(call)
    if answer.status >= 300:
        body = answer.json()
        assert (answer.status, body["code"]) in DOCUMENTED, answer.text
        assert isinstance(body["message"], str) and body["message"]


@given(calls())
def test_every_acceptance_says_whether_a_run_started(call: Call) -> None:
    answer = invoke(call)
    if answer.status < 300:
        body = answer.json()
        assert body["triggered"] is (answer.status == 202)
        assert ("runId" in body) is (answer.status == 202)


@given(calls())
def test_secret_values_are_never_echoed(call: Call) -> None:
    answer = invoke(call)
    assert SECRET not in answer.text
    assert "signing-secret" not in answer.text


def test_an_integer_beyond_float_range_is_answered_422() -> None:
    call = Call("enabled", False, webhook_event(body='{"RETRIES": 1' + "0" * 400 + "}"))
    assert invoke(call).status == 422
