"""The management API with its real adapters on moto (table from template.yaml), and the webhook it hands out."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from adapters.management import DynamoManagement
from domain.management import ManagementPorts, put_user
from domain.models import UserStatus
from domain.policy import Caller
from handlers import api, composition, webhook
from handlers.composition import Container, Settings
from hookrun.local_iam import principal_of
from tests.conftest import REGION, TABLE
from tests.directory import map_local_principals
from tests.support import FakeLambdaContext, admins, api_request, demo_pipeline, load_event, webhook_event
from tests.unit.test_management import SECRET, seeded

ADMIN_ARN = "arn:aws:iam::123456789012:role/hookrun-admin"
CAROL_ARN = "arn:aws:iam::123456789012:user/carol"
PIPELINE = "/api/pipelines/{pipelineId}"
MEMBER = "/api/pipelines/{pipelineId}/members/{userId}"
WEBHOOK = "/api/pipelines/{pipelineId}/webhook"
SECRET_PREFIX = "hookrun/test/"


@pytest.fixture
def ports(dynamodb: Any) -> ManagementPorts:
    """Users owen (owner of demo), alice (runner), bob (viewer), carol (no role) and admin, in the table."""
    return seeded(DynamoManagement(dynamodb, TABLE))


@pytest.fixture(autouse=True)
def wired(state_machine_arn: str, ports: ManagementPorts) -> Iterator[Container]:
    wiring = Container(
        Settings(TABLE, state_machine_arn, SECRET_PREFIX, admin_principals=frozenset({principal_of("admin")}))
    )
    composition.use_container(wiring)
    yield wiring
    composition.use_container(None)


@pytest.fixture(autouse=True)
def local_stack(dynamodb: Any) -> None:
    map_local_principals(dynamodb, TABLE)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"]) if response["body"] else {}


def request(
    method: str, resource: str, as_user: str, body: Any = None, **parameters: str
) -> tuple[int, dict[str, Any]]:
    text = None if body is None else json.dumps(body)
    return call(api_request(method, resource, parameters, text, user=as_user))


def post_webhook(url: str) -> tuple[int, dict[str, Any]]:
    response = webhook.handler(webhook_event(token=url.rsplit("/", 1)[1]), FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"])


def post_github_push(url: str, secret: str) -> tuple[int, dict[str, Any]]:
    """events/source-github-push.json to `url`, signed with `secret` as GitHub signs it."""
    event = load_event("source-github-push.json")
    token = url.rsplit("/", 1)[1]
    event["pathParameters"]["token"] = token
    event["path"] = event["requestContext"]["path"] = f"/pipeline/webhook/{token}"
    digest = hmac.new(secret.encode(), event["body"].encode(), hashlib.sha256).hexdigest()
    event["headers"]["X-Hub-Signature-256"] = f"sha256={digest}"
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    response = webhook.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"])


def test_an_enabled_webhook_url_starts_runs() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    status, accepted = post_webhook(enabled["url"])
    assert (status, accepted["pipelineId"]) == (202, "demo")


def test_removing_the_run_as_users_role_stops_the_webhook_and_flags_it() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    assert request("DELETE", MEMBER, "owen", pipelineId="demo", userId="alice")[0] == 204
    _, state = request("GET", WEBHOOK, "owen", pipelineId="demo")
    status, rejected = post_webhook(enabled["url"])
    assert state["problem"] == "RUN_AS_LOST_PERMISSION"
    assert (status, rejected["code"], rejected["runAs"]) == (403, "INSUFFICIENT_PERMISSIONS", "alice")


def test_rotation_kills_the_old_url_and_the_new_one_runs() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    _, rotated = request("POST", f"{WEBHOOK}/rotate", "owen", pipelineId="demo")
    assert post_webhook(enabled["url"])[0] == 404
    assert post_webhook(rotated["url"])[0] == 202


def test_a_created_pipeline_is_owned_and_listed() -> None:
    pipeline = demo_pipeline(id="new").model_dump(by_alias=True, mode="json")
    assert request("PUT", PIPELINE, "carol", pipeline, pipelineId="new")[0] == 201
    _, details = request("GET", PIPELINE, "carol", pipelineId="new")
    _, listed = request("GET", "/api/pipelines", "carol")
    assert details["members"] == [{"userId": "carol", "role": "owner"}]
    assert [p["id"] for p in listed["pipelines"]] == ["new"]


def test_deleting_a_pipeline_kills_its_webhook() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    assert request("DELETE", PIPELINE, "owen", pipelineId="demo")[0] == 204
    assert post_webhook(enabled["url"])[0] == 404


def test_the_last_owner_stays() -> None:
    status, body = request("DELETE", MEMBER, "owen", pipelineId="demo", userId="owen")
    assert (status, body["code"]) == (409, "LAST_OWNER")


def test_a_principal_mapped_by_an_admin_acts_as_its_user(monkeypatch: pytest.MonkeyPatch) -> None:
    admins(ADMIN_ARN)
    change = json.dumps({"principals": [CAROL_ARN]})
    put = api_request("PUT", "/api/users/{userId}", {"userId": "carol"}, change, user=None, user_arn=ADMIN_ARN)
    assert call(put)[0] == 200
    status, body = call(api_request("GET", "/api/users/{userId}", {"userId": "carol"}, user=None, user_arn=CAROL_ARN))
    assert (status, body["principals"]) == (200, [CAROL_ARN])


def test_a_suspended_run_as_user_stops_the_webhook(ports: ManagementPorts) -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    put_user(ports, Caller("admin", is_admin=True), "alice", UserStatus.SUSPENDED, None)
    status, rejected = post_webhook(enabled["url"])
    assert (status, rejected["code"]) == (403, "INSUFFICIENT_PERMISSIONS")


def test_a_signing_secret_set_through_the_api_is_written_to_secrets_manager() -> None:
    request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    status, state = request("PUT", f"{WEBHOOK}/secret", "owen", {"secret": SECRET}, pipelineId="demo")
    secrets = boto3.client("secretsmanager", region_name=REGION)
    (listed,) = secrets.list_secrets(Filters=[{"Key": "name", "Values": [f"{SECRET_PREFIX}pipelines/demo/"]}])[
        "SecretList"
    ]
    assert (status, state["signed"]) == (200, True)
    assert secrets.get_secret_value(SecretId=listed["Name"])["SecretString"] == SECRET


def test_the_webhook_accepts_an_event_signed_with_the_secret_set_through_the_api() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    request("PUT", f"{WEBHOOK}/secret", "owen", {"secret": SECRET}, pipelineId="demo")
    status, accepted = post_github_push(enabled["url"], SECRET)
    assert (status, accepted["triggered"]) == (202, True)


def test_the_webhook_refuses_an_event_signed_with_another_secret_with_401() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    request("PUT", f"{WEBHOOK}/secret", "owen", {"secret": SECRET}, pipelineId="demo")
    status, rejected = post_github_push(enabled["url"], "not-the-secret-at-all")
    assert (status, rejected["code"]) == (401, "INVALID_SIGNATURE")


def test_removing_the_secret_deletes_it_from_secrets_manager_and_the_webhook_takes_unsigned_events() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    request("PUT", f"{WEBHOOK}/secret", "owen", {"secret": SECRET}, pipelineId="demo")
    assert request("DELETE", f"{WEBHOOK}/secret", "owen", pipelineId="demo")[0] == 204
    listed = boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    assert [s["Name"] for s in listed] == []
    assert post_github_push(enabled["url"], "any-secret-will-do-now")[0] == 202


def test_the_delivery_log_lists_a_rejected_delivery_with_its_reason() -> None:
    _, enabled = request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo")
    request("PUT", f"{WEBHOOK}/secret", "owen", {"secret": SECRET}, pipelineId="demo")
    post_github_push(enabled["url"], "not-the-secret-at-all")
    status, page = request("GET", "/api/pipelines/{pipelineId}/deliveries", "bob", pipelineId="demo")
    assert status == 200
    assert [(d["source"], d["outcome"], d["reason"]) for d in page["deliveries"]] == [
        ("github", "REJECTED", "INVALID_SIGNATURE")
    ]
    assert SECRET not in json.dumps(page)
