"""POST /api/pipelines/{pipelineId}/webhook/test on fakes: a sample delivery answered as the webhook's dry run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from domain.management import ManagementPorts
from domain.ports import Access
from domain.webhook_trigger import enable_webhook
from handlers import api, composition
from handlers.composition import Container, Settings
from tests.fakes import FakeDeliveryLog, FakeManagementStore, FakeRunStarter, FakeSigningSecrets, FakeStore, fake_ports
from tests.support import FakeLambdaContext, api_request, load_event
from tests.unit.test_management import ALICE, seeded

TEST_ROUTE = "/api/pipelines/{pipelineId}/webhook/test"
pytestmark = pytest.mark.usefixtures("api_on_local_stack")


class StoreAccess:
    """The webhook's access reader over the management fake: the same pipelines, grants and users."""

    def __init__(self, store: FakeManagementStore) -> None:
        self.store = store

    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        stored = self.store.pipelines.get(pipeline_id)
        return Access(
            pipeline=stored.pipeline if stored else None,
            grant=self.store.grants.get((pipeline_id, user_id)),
            user=self.store.users.get(user_id),
            incarnation=stored.incarnation if stored else "",
        )


class TestContainer(Container):
    __test__ = False  # a container, not a test class

    def __init__(self, ports: ManagementPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        store = ports.store
        assert isinstance(store, FakeManagementStore)
        webhook_ports = fake_ports(FakeStore(), runs, deliveries, FakeSigningSecrets())
        self.__dict__.update(
            management=store,
            management_ports=ports,
            trigger_ports=replace(webhook_ports, triggers=store, access=StoreAccess(store)),
        )


@pytest.fixture
def ports() -> ManagementPorts:
    ports = seeded(FakeManagementStore())
    enable_webhook(ports, ALICE, "demo")
    return ports


@pytest.fixture(autouse=True)
def wiring(ports: ManagementPorts, runs: FakeRunStarter, deliveries: FakeDeliveryLog) -> Iterator[None]:
    composition.use_container(TestContainer(ports, runs, deliveries))
    yield
    composition.use_container(None)


def try_sample(body: Any, as_user: str = "alice", pipeline: str = "demo") -> tuple[int, dict[str, Any]]:
    event = api_request("POST", TEST_ROUTE, {"pipelineId": pipeline}, json.dumps(body), user=as_user)
    response = api.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("as_user", ["alice", "owen", "admin"])
def test_runners_owners_and_admins_get_the_dry_run_answer(
    as_user: str, runs: FakeRunStarter, deliveries: FakeDeliveryLog
) -> None:
    status, body = try_sample({"body": {"abc": "456"}}, as_user=as_user)
    assert status == 200, body
    assert (body["triggered"], body["dryRun"], body["decision"], body["variables"]["abc"]) == (
        False,
        True,
        "WOULD_RUN",
        "456",
    )
    assert runs.started == []
    assert [(d.outcome, d.reason, d.run_as) for d in deliveries.deliveries] == [("DRY_RUN", "WOULD_RUN", "alice")]


def test_a_viewer_is_403_and_nothing_is_recorded(deliveries: FakeDeliveryLog) -> None:
    status, body = try_sample({}, as_user="bob")
    assert (status, body["code"]) == (403, "FORBIDDEN")
    assert deliveries.deliveries == []


def test_a_caller_without_a_role_is_told_no_such_pipeline() -> None:
    assert try_sample({}, as_user="carol")[1]["code"] == "PIPELINE_NOT_FOUND"


def test_a_provider_sample_gets_its_event_header_and_reads_as_a_push() -> None:
    push = json.loads(load_event("source-gitlab-push.json")["body"])
    status, body = try_sample({"provider": "gitlab", "body": push})
    assert (status, body["decision"], body["sourceVariables"]["HOOKRUN_SOURCE"]) == (200, "WOULD_RUN", "gitlab")
    assert body["filters"] == {"events": "push", "branches": "*"}


def test_an_undeclared_variable_is_422_as_on_the_webhook(deliveries: FakeDeliveryLog) -> None:
    status, body = try_sample({"body": {"nope": 1}})
    assert (status, body["code"], body["errors"][0]["name"]) == (422, "INVALID_VARIABLES", "nope")
    assert [(d.outcome, d.reason) for d in deliveries.deliveries] == [("DRY_RUN", "INVALID_VARIABLES")]


def test_a_sample_body_that_is_not_json_is_400_as_on_the_webhook() -> None:
    status, body = try_sample({"body": "{broken"})
    assert (status, body["code"]) == (400, "INVALID_JSON")


def test_an_unknown_provider_is_422_naming_the_field() -> None:
    status, body = try_sample({"provider": "bitbucket"})
    assert (status, body["code"], body["errors"][0]["name"]) == (422, "INVALID_REQUEST", "provider")
