"""Shared test material: the example pipeline, the events/ fixtures, and event variants."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from domain.models import Pipeline
from handlers import api, composition, webhook
from hookrun.local_iam import principal_of

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
# each push and tag event of events/ with built-in variables the run it starts must have (some of them)
SOURCE_EVENT_VARIABLES = [
    ("source-github-push.json", {"HOOKRUN_SOURCE": "github", "HOOKRUN_EVENT": "push", "HOOKRUN_BRANCH": "master"}),
    ("source-github-push-form.json", {"HOOKRUN_SOURCE": "github", "HOOKRUN_EVENT": "push"}),
    ("source-github-tag.json", {"HOOKRUN_SOURCE": "github", "HOOKRUN_EVENT": "tag", "HOOKRUN_TAG": "simple-tag"}),
    ("source-gitlab-push.json", {"HOOKRUN_SOURCE": "gitlab", "HOOKRUN_EVENT": "push", "HOOKRUN_BRANCH": "master"}),
    ("source-gitlab-tag.json", {"HOOKRUN_SOURCE": "gitlab", "HOOKRUN_EVENT": "tag"}),
    ("source-codeup-push.json", {"HOOKRUN_SOURCE": "codeup", "HOOKRUN_EVENT": "push"}),
    ("source-codeup-tag.json", {"HOOKRUN_SOURCE": "codeup", "HOOKRUN_EVENT": "tag"}),
    ("source-gitee-push.json", {"HOOKRUN_SOURCE": "gitee", "HOOKRUN_EVENT": "push"}),
    ("source-gitee-tag.json", {"HOOKRUN_SOURCE": "gitee", "HOOKRUN_EVENT": "tag"}),
]


@cache
def _load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>, the same file `sam local invoke -e` takes."""
    return copy.deepcopy(_load_event(name))


DEMO_TOKEN: str = load_event("webhook-general.json")["pathParameters"]["token"]


def webhook_event(
    body: str | None = "{}",
    token: str = DEMO_TOKEN,
    headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """The general webhook event with another body, token or headers."""
    event = load_event("webhook-general.json")
    event["body"] = body
    event["path"] = f"/pipeline/webhook/{token}"
    event["pathParameters"] = {"token": token}
    event["requestContext"]["path"] = f"/v1/pipeline/webhook/{token}"
    event["headers"].pop("Content-Type", None)
    if content_type is not None:
        event["headers"]["Content-Type"] = content_type
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def demo_pipeline(**changes: Any) -> Pipeline:
    """The example pipeline from examples/, optionally changed."""
    data = yaml.safe_load((ROOT / "examples" / "demo.pipeline.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    return Pipeline.model_validate(data)


class FakeLambdaContext:
    function_name = "hookrun-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:hookrun-test"
    memory_limit_in_mb = 512
    aws_request_id = "test-request-id"
    log_group_name = "/aws/lambda/hookrun-test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body ({} when empty), last value of each header


def _answer(response: dict[str, Any]) -> Answer:
    headers = {name: values[-1] for name, values in response.get("multiValueHeaders", {}).items()}
    return response["statusCode"], json.loads(response["body"]) if response["body"] else {}, headers


def call_api(event: dict[str, Any]) -> Answer:
    """The API function's answer to `event`, with the wiring in place."""
    return _answer(api.handler(event, FakeLambdaContext()))  # type: ignore[arg-type]


def call_webhook(event: dict[str, Any]) -> Answer:
    """The webhook function's answer to `event`, with the wiring in place."""
    return _answer(webhook.handler(event, FakeLambdaContext()))  # type: ignore[arg-type]


@contextmanager
def using_container(container: composition.Container) -> Iterator[composition.Container]:
    """The handlers use `container` until the block ends, then build their wiring again on next use."""
    composition.use_container(container)
    try:
        yield container
    finally:
        composition.use_container(None)


AS_THE_LOCAL_GATEWAY_SIGNS = "<the local principal of the X-Hookrun-User header>"


def _signer(user: str | None, user_arn: str | None) -> str | None:
    if user_arn == AS_THE_LOCAL_GATEWAY_SIGNS:
        return principal_of(user) if user is not None else None
    return user_arn


def local_user(principal_arn: str) -> str | None:
    """The user a local principal is mapped to, as the local API Gateway maps it in the table (hookrun.local_iam)."""
    user_id = principal_arn.removeprefix(principal_of(""))
    return user_id if user_id != principal_arn else None


def admins(*principal_arns: str) -> None:
    """Make these the AdminPrincipals of every container, as the stack parameter would (until the test ends)."""
    composition.Container.admin_principals = frozenset(principal_arns)  # type: ignore[assignment]


def api_event(
    name: str,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    user: str | None = "alice",
    user_arn: str | None = AS_THE_LOCAL_GATEWAY_SIGNS,
) -> dict[str, Any]:
    """events/api-*.json with other path parameters, query, `X-Hookrun-User` header (None: left out) and the
    IAM principal that signed it (by default the user's, as the local API Gateway names it; None: unsigned)."""
    event = load_event(name)
    event["pathParameters"].update(path_parameters or {})
    path = event["resource"]
    for key, value in event["pathParameters"].items():
        path = path.replace("{" + key + "}", value)
    event["path"] = path
    event["requestContext"]["path"] = f"/v1{path}"
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    event["headers"].pop("X-Hookrun-User")
    if user is not None:
        event["headers"]["X-Hookrun-User"] = user
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"]["identity"]["userArn"] = _signer(user, user_arn)
    return event


def api_request(
    method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    body: str | None = None,
    user: str | None = "alice",
    user_arn: str | None = AS_THE_LOCAL_GATEWAY_SIGNS,
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """An event for any API route (`resource` as in template.yaml), shaped like events/api-get-run.json."""
    event = load_event("api-get-run.json")
    path = resource
    for key, value in (path_parameters or {}).items():
        path = path.replace("{" + key + "}", value)
    event.update(resource=resource, path=path, httpMethod=method, pathParameters=path_parameters or None, body=body)
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/v1{path}")
    event["requestContext"]["identity"]["userArn"] = _signer(user, user_arn)
    event["headers"].pop("X-Hookrun-User")
    if user is not None:
        event["headers"]["X-Hookrun-User"] = user
    if content_type is not None and body is not None:
        event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def processes_running(token: str) -> list[int]:
    """Pids of this machine's processes whose command line holds `token` (a job's processes, seen from outside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command_line = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile, or not ours to read
                continue
            if token.encode() in command_line:
                found.append(int(entry.name))
    return found
