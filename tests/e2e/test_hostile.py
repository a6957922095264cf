"""Hostile input against the webhook over real HTTP on the local stack.

Every case is refused with a status and code from README's error table, never a 5xx; none starts a run, and
none writes anything but its own delivery record. Each case is checked on its own: the state machine's
executions and the whole table are read from moto before and after the request, so a case that slips through
is named, not averaged away. Requests go out through http.client, byte for byte: no client re-encodes a path,
adds a header or normalizes `..`.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
import requests

from tests.contract import DOCUMENTED
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
TOKEN = "{token}"  # stands for the demo webhook's real token in a case's path segment
TAIL = "{tail}"  # the real token without its `hr_` prefix
BAD_TOKEN = "hr_" + "A" * 43  # well formed, and no trigger has it
SECRET = "s3cr3t-value-never-echoed"


@dataclass(frozen=True)
class Case:
    """One hostile request and the answer it must get.

    `token` is the raw (already percent-encoded) last path segment; `{token}` in it is the demo's real token,
    `{tail}` the real token without its prefix.
    `echo_free` lists text the answer must never contain, besides the real token.
    """

    id: str
    body: bytes | None
    expected: tuple[int, str]
    headers: dict[str, str | bytes] = field(default_factory=lambda: dict(JSON))
    method: str = "POST"
    token: str = TOKEN
    echo_free: tuple[str, ...] = ()

    @property
    def reaches_trigger(self) -> bool:
        """True if the request reaches the demo's trigger, which must then record its rejection, with the code."""
        return self.token.partition("?")[0] == TOKEN and self.expected not in {
            (405, "METHOD_NOT_ALLOWED"),
            (404, "NOT_FOUND"),
        }


def invalid_json(name: str, body: bytes, **kwargs: Any) -> Case:
    return Case(name, body, (400, "INVALID_JSON"), **kwargs)


def invalid_variables(name: str, variables: dict[str, Any] | bytes, **kwargs: Any) -> Case:
    body = variables if isinstance(variables, bytes) else json.dumps(variables).encode()
    return Case(name, body, (422, "INVALID_VARIABLES"), **kwargs)


def unsupported(name: str, content_type: str | None) -> Case:
    headers: dict[str, str | bytes] = {} if content_type is None else {"Content-Type": content_type}
    return Case(name, b'{"abc":"456"}', (415, "UNSUPPORTED_MEDIA_TYPE"), headers=headers)


def not_found(name: str, token: str, body: bytes = b"{}", **kwargs: Any) -> Case:
    return Case(name, body, (404, "WEBHOOK_NOT_FOUND"), token=token, **kwargs)


def source(name: str, provider_headers: dict[str, str | bytes], body: bytes, expected: tuple[int, str]) -> Case:
    return Case(name, body, expected, headers={**JSON, **provider_headers})


GITHUB_PUSH: dict[str, str | bytes] = {"X-GitHub-Event": "push"}
GITLAB_PUSH: dict[str, str | bytes] = {"X-Gitlab-Event": "Push Hook"}
PUSH_WITHOUT_REPOSITORY = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()
PUSH_WITH_BAD_SHA = json.dumps({"ref": "refs/heads/main", "after": "z" * 40, "repository": {"full_name": "o/r"}})
TOO_MANY = {f"v{i}": "x" for i in range(101)}
MANY_KEYS_UNDER_64_KIB = {f"k{i}": 0 for i in range(5000)}

CASES = [
    # malformed and truncated JSON
    invalid_json("truncated-object", b'{"abc":'),
    invalid_json("truncated-string", b'{"abc":"45'),
    invalid_json("lone-open-brace", b"{"),
    invalid_json("lone-close-brace", b"}"),
    invalid_json("missing-colon", b'{"abc" "1"}'),
    invalid_json("single-quotes", b"{'abc':'1'}"),
    invalid_json("trailing-comma", b'{"abc":"1",}'),
    invalid_json("unquoted-name", b"{abc:1}"),
    invalid_json("comment", b"/* hi */ {}"),
    invalid_json("two-objects", b"{}{}"),
    invalid_json("trailing-garbage", b'{"abc":"1"} x'),
    invalid_json("utf8-bom", b"\xef\xbb\xbf{}"),
    invalid_json("python-none", b'{"abc": None}'),
    invalid_json("hex-number", b'{"RETRIES": 0x10}'),
    invalid_json("leading-zero", b'{"RETRIES": 007}'),
    invalid_json("plus-sign", b'{"RETRIES": +1}'),
    # JSON that is not an object
    invalid_json("array", b"[]"),
    invalid_json("array-of-object", b'[{"abc":"1"}]'),
    invalid_json("string", b'"abc"'),
    invalid_json("number", b"42"),
    invalid_json("float", b"1.5e3"),
    invalid_json("null", b"null"),
    invalid_json("true", b"true"),
    invalid_json("false", b"false"),
    # nesting
    invalid_json("10k-open-brackets", b"[" * 10_000),
    invalid_json("10k-nested-objects", b'{"a":' * 10_000),
    invalid_json("33-levels", b"[" * 33 + b"]" * 33),
    invalid_variables("nested-value-31-deep", b'{"abc":' + b"[" * 31 + b"]" * 31 + b"}"),
    invalid_variables("brackets-inside-a-string", b'{"abc":"\\"' + b"[" * 5000 + b'"}'),
    # size
    invalid_variables("value-4097-chars", {"abc": "x" * 4097}),
    invalid_variables("value-60000-chars", {"abc": "x" * 60_000}),
    Case("body-70-kib", json.dumps({"abc": "x" * 70 * 1024}).encode(), (413, "PAYLOAD_TOO_LARGE")),
    Case("10k-keys", json.dumps({f"k{i}": "x" for i in range(10_000)}).encode(), (413, "PAYLOAD_TOO_LARGE")),
    invalid_variables("5000-keys-under-64-kib", MANY_KEYS_UNDER_64_KIB),
    invalid_variables("101-variables", TOO_MANY),
    invalid_variables("name-129-chars", {"a" * 129: "x"}),
    # NUL bytes and invalid UTF-8
    invalid_json("raw-nul-in-string", b'{"abc":"a\x00b"}'),
    invalid_json("raw-nul-after-object", b"{}\x00"),
    invalid_variables("escaped-nul-in-value", b'{"abc":"a\\u0000b"}'),
    invalid_variables("escaped-nul-in-name", b'{"a\\u0000b":"x"}'),
    invalid_json("invalid-byte-ff", b'{"abc":"\xff\xfe"}'),
    invalid_json("overlong-encoding", b'{"abc":"\xc0\xaf"}'),
    invalid_json("encoded-surrogate", b'{"abc":"\xed\xa0\x80"}'),
    invalid_json("truncated-multibyte", b'{"abc":"\xe2\x82"}'),
    invalid_json("latin-1-body", '{"abc":"é"}'.encode("latin-1")),
    invalid_json(
        "utf-16-body",
        '{"abc":"1"}'.encode("utf-16"),
        headers={"Content-Type": "application/json; charset=utf-16"},
    ),
    # lone surrogates
    invalid_variables("lone-high-surrogate", b'{"abc":"\\ud800"}'),
    invalid_variables("lone-low-surrogate", b'{"abc":"\\udfff"}'),
    invalid_variables("reversed-surrogate-pair", b'{"abc":"\\udc00\\ud800"}'),
    invalid_variables("surrogate-in-name", b'{"\\ud800":"x"}'),
    invalid_variables("surrogate-in-choice", b'{"DEPLOY_ENV":"\\ud800"}'),
    # content types
    unsupported("text-plain", "text/plain"),
    unsupported("form", "application/x-www-form-urlencoded"),
    unsupported("application-xml", "application/xml"),
    unsupported("text-xml", "text/xml"),
    unsupported("multipart", "multipart/form-data; boundary=x"),
    unsupported("missing-content-type", None),
    unsupported("empty-content-type", ""),
    unsupported("text-json", "text/json"),
    unsupported("json-seq", "application/json-seq"),
    unsupported("any", "*/*"),
    invalid_json("problem-json-broken", b"{", headers={"Content-Type": "application/problem+json"}),
    # duplicated keys
    invalid_json("duplicate-key", b'{"abc":"1","abc":"2"}'),
    invalid_json("duplicate-after-unescaping", b'{"abc":"1","\\u0061bc":"2"}'),
    invalid_json("duplicate-in-nested-object", b'{"abc":{"x":1,"x":2}}'),
    # numbers out of range
    invalid_variables("retries-1e400", b'{"RETRIES":1e400}'),
    invalid_variables("retries-minus-1e400", b'{"RETRIES":-1e400}'),
    invalid_variables("retries-10-pow-30", b'{"RETRIES":1000000000000000000000000000000}'),
    invalid_variables("retries-2-pow-53-plus-1", {"RETRIES": 2**53 + 1}),
    invalid_variables("retries-string-1e400", {"RETRIES": "1e400"}),
    invalid_variables("retries-string-nan", {"RETRIES": "NaN"}),
    invalid_variables("retries-boolean", {"RETRIES": True}),
    invalid_variables("string-variable-1e400", b'{"abc":1e400}'),
    invalid_variables("retries-10-pow-400", b'{"RETRIES":1' + b"0" * 400 + b"}"),
    invalid_variables("string-variable-minus-10-pow-400", b'{"abc":-1' + b"0" * 400 + b"}"),
    invalid_json("retries-5000-digits", b'{"RETRIES":' + b"1" * 5000 + b"}"),
    invalid_json("nan-literal", b'{"RETRIES":NaN}'),
    invalid_json("infinity-literal", b'{"RETRIES":Infinity}'),
    invalid_json("minus-infinity-literal", b'{"RETRIES":-Infinity}'),
    # injection in names
    invalid_variables("name-command-substitution", {"$(rm -rf /)": "x"}),
    invalid_variables("name-backticks", {"`id`": "x"}),
    invalid_variables("name-semicolon-echo", {"a; echo pwned": "x"}),
    invalid_variables("name-sql", {"abc' OR '1'='1": "x"}),
    invalid_variables("name-path-traversal", {"../../etc/passwd": "x"}),
    invalid_variables("name-crlf-header", {"a\r\nX-Injected: 1": "x"}),
    invalid_variables("name-with-dot", {"a.b": "x"}),
    invalid_variables("name-with-dash", {"a-b": "x"}),
    invalid_variables("name-unicode", {"ünïcödé": "x"}),
    invalid_variables("name-leading-digit", {"1abc": "x"}),
    invalid_variables("name-empty", {"": "x"}),
    invalid_variables("name-leading-space", {" abc": "x"}),
    invalid_variables("name-trailing-newline", {"abc\n": "x"}),
    # injection in values where the declared type refuses it, and names that would shadow the environment
    invalid_variables("choice-command-substitution", {"DEPLOY_ENV": "$(rm -rf /)"}),
    invalid_variables("choice-sql", {"DEPLOY_ENV": "prod' OR '1'='1"}),
    invalid_variables("choice-path-traversal", {"DEPLOY_ENV": "../../etc/passwd"}),
    invalid_variables("number-backticks", {"RETRIES": "`id`"}),
    invalid_variables("boolean-semicolon-echo", {"DRY_RUN": "true; echo pwned"}),
    invalid_variables("undeclared-path", {"PATH": "/tmp/evil"}),
    invalid_variables("undeclared-ld-preload", {"LD_PRELOAD": "/tmp/evil.so"}),
    invalid_variables("spoofed-built-in", {"HOOKRUN_BRANCH": "main"}),
    # null and nested values
    invalid_variables("null-value", {"abc": None}),
    invalid_variables("object-value", {"abc": {}}),
    invalid_variables("array-value", {"abc": []}),
    invalid_variables("number-in-array", {"RETRIES": [3]}),
    # secrets are never echoed, even when the request fails for another reason
    invalid_variables("secret-with-bad-sibling", {"API_KEY": SECRET, "RETRIES": "x"}, echo_free=(SECRET,)),
    invalid_variables("secret-nested", {"API_KEY": {"v": SECRET}}, echo_free=(SECRET,)),
    invalid_variables("secret-too-long", {"API_KEY": SECRET * 200}, echo_free=(SECRET,)),
    # bad tokens of every shape
    not_found("token-one-char", "x"),
    not_found("token-prefix-only", "hr_"),
    not_found("token-one-short", "hr_" + "A" * 42),
    not_found("token-one-long", "hr_" + "A" * 44),
    not_found("token-2000-chars", "hr_" + "A" * 2000),
    not_found("token-wrong-prefix", "xx_" + "A" * 43),
    not_found("token-real-upper-prefix", "HR_" + TAIL),
    not_found("token-real-without-prefix", TAIL),
    not_found("token-well-formed-unknown", BAD_TOKEN),
    not_found("token-non-ascii", "hr_" + quote("é") * 43),
    not_found("token-dot-dot", "%2E%2E"),
    not_found("token-sql", quote("hr_' OR '1'='1' --", safe="")),
    not_found("token-space", "%20"),
    not_found("token-real-plus-space", TOKEN + "%20"),
    not_found("token-real-plus-newline", TOKEN + "%0A"),
    Case("token-encoded-slashes", b"{}", (404, "NOT_FOUND"), token="hr_%2F..%2F..%2Fetc%2Fpasswd"),
    Case("token-nul", b"{}", (404, "NOT_FOUND"), token="%00"),
    Case("token-empty", b"{}", (404, "NOT_FOUND"), token=""),
    # hostile bodies to an unknown token: the token is checked first
    not_found("bad-token-deep-nesting", BAD_TOKEN, b"[" * 10_000),
    not_found("bad-token-70-kib", BAD_TOKEN, b'{"abc":"' + b"x" * 70 * 1024 + b'"}'),
    not_found("bad-token-invalid-utf8", BAD_TOKEN, b'{"abc":"\xff"}'),
    not_found("bad-token-text-plain", BAD_TOKEN, b"hello", headers={"Content-Type": "text/plain"}),
    not_found("bad-token-broken-github-push", BAD_TOKEN, b"{nope", headers={**JSON, **GITHUB_PUSH}),
    # other methods on the webhook path
    Case("method-get", None, (405, "METHOD_NOT_ALLOWED"), headers={}, method="GET"),
    Case("method-put", b"{}", (405, "METHOD_NOT_ALLOWED"), method="PUT"),
    Case("method-delete", None, (405, "METHOD_NOT_ALLOWED"), headers={}, method="DELETE"),
    Case("method-patch", b"{}", (405, "METHOD_NOT_ALLOWED"), method="PATCH"),
    Case("method-options", None, (405, "METHOD_NOT_ALLOWED"), headers={}, method="OPTIONS"),
    # bad Idempotency-Keys
    Case("idempotency-key-201-chars", b"{}", (400, "INVALID_IDEMPOTENCY_KEY"), {**JSON, "Idempotency-Key": "k" * 201}),
    Case("idempotency-key-non-ascii", b"{}", (400, "INVALID_IDEMPOTENCY_KEY"), {**JSON, "Idempotency-Key": "é"}),
    Case("idempotency-key-tab", b"{}", (400, "INVALID_IDEMPOTENCY_KEY"), {**JSON, "Idempotency-Key": "a\tb"}),
    Case("idempotency-key-del", b"{}", (400, "INVALID_IDEMPOTENCY_KEY"), {**JSON, "Idempotency-Key": "a\x7fb"}),
    Case("idempotency-key-empty", b"{}", (400, "INVALID_IDEMPOTENCY_KEY"), {**JSON, "Idempotency-Key": ""}),
    # variables in the query string are refused by name, never dropped
    Case("query-variable", b"{}", (400, "UNSUPPORTED_QUERY"), token=TOKEN + "?abc=456"),
    Case("query-variable-beside-dry-run", b"{}", (400, "UNSUPPORTED_QUERY"), token=TOKEN + "?dryRun=true&x=1"),
    # source headers with broken payloads
    source("github-broken-json", GITHUB_PUSH, b"{nope", (400, "INVALID_JSON")),
    source("github-array", GITHUB_PUSH, b"[]", (400, "INVALID_JSON")),
    source("github-deep-nesting", GITHUB_PUSH, b"[" * 10_000, (400, "INVALID_JSON")),
    source("github-invalid-utf8", GITHUB_PUSH, b'{"ref":"\xff"}', (400, "INVALID_JSON")),
    source("github-empty-object", GITHUB_PUSH, b"{}", (400, "INVALID_SOURCE_EVENT")),
    source("github-sha-not-hex", GITHUB_PUSH, PUSH_WITH_BAD_SHA.encode(), (400, "INVALID_SOURCE_EVENT")),
    source("github-6-mib", GITHUB_PUSH, b'{"a":"' + b"x" * 6 * 1024 * 1024 + b'"}', (413, "PAYLOAD_TOO_LARGE")),
    Case("github-text-plain", b"{}", (415, "UNSUPPORTED_MEDIA_TYPE"), {**GITHUB_PUSH, "Content-Type": "text/plain"}),
    Case(
        "github-form-two-payloads",
        b"payload=%7B%7D&payload=%7B%7D",
        (400, "INVALID_JSON"),
        {**GITHUB_PUSH, "Content-Type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "github-form-without-payload",
        b"other=1",
        (400, "INVALID_JSON"),
        {**GITHUB_PUSH, "Content-Type": "application/x-www-form-urlencoded"},
    ),
    source("github-delivery-non-ascii", {**GITHUB_PUSH, "X-GitHub-Delivery": "é"}, b"{}", (400, "INVALID_DELIVERY_ID")),
    source("gitlab-broken-json", GITLAB_PUSH, b'{"ref":', (400, "INVALID_JSON")),
    source(
        "gitlab-delivery-300-chars",
        {**GITLAB_PUSH, "X-Gitlab-Event-UUID": "u" * 300},
        b"{}",
        (400, "INVALID_DELIVERY_ID"),
    ),
    source(
        "gitee-push-without-repository",
        {"X-Gitee-Event": "Push Hook"},
        PUSH_WITHOUT_REPOSITORY,
        (400, "INVALID_SOURCE_EVENT"),
    ),
    source("codeup-null", {"X-Codeup-Event": "Push Hook"}, b"null", (400, "INVALID_JSON")),
]


@dataclass(frozen=True)
class Snapshot:
    """What the local stack holds: executions by name with their status, and every item by (pk, sk)."""

    executions: dict[str, str]
    items: dict[tuple[str, str], dict[str, Any]]


class MotoView:
    """Reads the local stack's state machine and table straight from its moto server."""

    def __init__(self, stack: RunningStack) -> None:
        info = requests.get(f"{stack.endpoint}/_hookrun/local", timeout=10).json()
        options = {
            "endpoint_url": info["motoEndpoint"],
            "region_name": info["region"],
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self._sfn = boto3.client("stepfunctions", **options)
        self._dynamodb = boto3.client("dynamodb", **options)
        self._state_machine = info["stateMachineArn"]
        self._table = info["tableName"]

    def snapshot(self) -> Snapshot:
        pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=self._state_machine)
        executions = {e["name"]: e["status"] for page in pages for e in page["executions"]}
        scan = self._dynamodb.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True)
        items = {(i["pk"]["S"], i["sk"]["S"]): i for page in scan for i in page["Items"]}
        return Snapshot(executions, items)


def changed_keys(before: Snapshot, after: Snapshot) -> set[tuple[str, str]]:
    """Keys of the items that were added, changed or deleted between the two snapshots."""
    keys = before.items.keys() | after.items.keys()
    return {key for key in keys if before.items.get(key) != after.items.get(key)}


def unexpected_writes(before: Snapshot, after: Snapshot) -> list[str]:
    """Changed items other than delivery records and the items of runs that were already running."""
    running = {f"RUN#{name}" for name, status in before.executions.items() if status == "RUNNING"}
    return sorted(
        f"{pk} / {sk}" for pk, sk in changed_keys(before, after) if not pk.endswith("#DELIVERIES") and pk not in running
    )


def new_rejections(before: Snapshot, after: Snapshot) -> list[str]:
    """The reasons of the delivery records of rejected requests written in between (runs record other outcomes)."""
    new = [after.items[key] for key in after.items.keys() - before.items.keys() if key[0].endswith("#DELIVERIES")]
    records = [json.loads(item["delivery"]["S"]) for item in new if "delivery" in item]
    return [record.get("reason", "") for record in records if record.get("outcome") == "REJECTED"]


@dataclass(frozen=True)
class Answer:
    status: int
    text: str

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.text)
        return body


def send(stack: RunningStack, case: Case) -> Answer:
    """Send the case's request byte for byte: the path segment as given, only the case's headers."""
    endpoint = urlsplit(stack.endpoint)
    segment = case.token.replace(TOKEN, stack.token).replace(TAIL, stack.token.removeprefix("hr_"))
    connection = http.client.HTTPConnection(endpoint.hostname or "127.0.0.1", endpoint.port, timeout=60)
    try:
        connection.request(case.method, f"/pipeline/webhook/{segment}", body=case.body, headers=case.headers)
        response = connection.getresponse()
        return Answer(response.status, response.read().decode("utf-8", errors="replace"))
    finally:
        connection.close()


@pytest.fixture(scope="module")
def moto(local_stack: RunningStack) -> MotoView:
    return MotoView(local_stack)


def test_the_battery_has_at_least_60_distinct_cases() -> None:
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids) >= 60


def test_every_expected_answer_is_documented() -> None:
    assert [case.id for case in CASES if case.expected not in DOCUMENTED] == []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_hostile_request_is_refused_and_leaves_only_its_delivery_record(
    local_stack: RunningStack, moto: MotoView, case: Case
) -> None:
    before = moto.snapshot()
    answer = send(local_stack, case)
    after = moto.snapshot()

    assert answer.status < 500, answer.text
    body = answer.json()
    assert (answer.status, body.get("code")) == case.expected, answer.text
    assert isinstance(body.get("message"), str) and body["message"]
    assert "runId" not in body
    assert local_stack.token not in answer.text
    assert not [text for text in case.echo_free if text in answer.text]
    assert after.executions.keys() == before.executions.keys()
    assert unexpected_writes(before, after) == []
    assert new_rejections(before, after) == ([case.expected[1]] if case.reaches_trigger else [])
