"""The management API with its real adapters on moto (table from template.yaml), and the webhook it hands out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.management import DynamoManagement
from domain.management import Caller, ManagementPorts, put_user
from domain.models import UserStatus
from handlers import api, composition, webhook
from handlers.composition import Container, Settings
from tests.conftest import TABLE
from tests.support import FakeLambdaContext, api_request, demo_pipeline, webhook_event
from tests.unit.test_management import seeded

ADMIN_ARN = "arn:aws:iam::123456789012:role/hookrun-admin"
CAROL_ARN = "arn:aws:iam::123456789012:user/carol"
PIPELINE = "/api/pipelines/{pipelineId}"
MEMBER = "/api/pipelines/{pipelineId}/members/{userId}"
WEBHOOK = "/api/pipelines/{pipelineId}/webhook"


@pytest.fixture
def ports(dynamodb: Any) -> ManagementPorts:
    """Users owen (owner of demo), alice (runner), bob (viewer), carol (no role) and admin, in the table."""
    return seeded(DynamoManagement(dynamodb, TABLE))


@pytest.fixture(autouse=True)
def wired(state_machine_arn: str, ports: ManagementPorts) -> Iterator[Container]:
    wiring = Container(Settings(table_name=TABLE, state_machine_arn=state_machine_arn))
    composition.use_container(wiring)
    yield wiring
    composition.use_container(None)


@pytest.fixture(autouse=True)
def local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKRUN_LOCAL_STACK", "1")
    monkeypatch.delenv("ADMIN_PRINCIPALS", raising=False)


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
    monkeypatch.delenv("HOOKRUN_LOCAL_STACK")
    monkeypatch.setenv("ADMIN_PRINCIPALS", ADMIN_ARN)
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
