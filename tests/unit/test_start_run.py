"""Starting a run by hand: POST /api/pipelines/{pipelineId}/runs, as the caller, with the webhook's variable rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from domain.errors import Forbidden, InvalidVariables, NotFound, Unavailable
from domain.management import Caller
from domain.manual_runs import start_manual_run
from domain.models import Role, TriggerKind, User, UserStatus
from handlers import api, composition
from handlers.api_run_schemas import RunAccepted
from handlers.composition import Container, Settings
from tests.fakes import FakeManagementStore, FakeRunStarter, FakeStore, fake_ports
from tests.support import FakeLambdaContext, api_request, demo_pipeline

ROUTE = "/api/pipelines/{pipelineId}/runs"


@pytest.fixture
def people(store: FakeStore) -> FakeStore:
    """The unit fixture's store (alice a runner) with bob a viewer, owen an owner and carol without a role."""
    store.add_user("bob", Role.VIEWER)
    store.add_user("owen", Role.OWNER)
    store.add_user("carol", None)
    return store


def start(store: FakeStore, runs: FakeRunStarter, user: str, variables: dict[str, object] | None = None) -> Any:
    return start_manual_run(fake_ports(store, runs), Caller(user), "demo", variables or {})


@pytest.mark.parametrize("user", ["alice", "owen"])
def test_owners_and_runners_start_a_manual_run_as_themselves(
    people: FakeStore, runs: FakeRunStarter, user: str
) -> None:
    accepted = start(people, runs, user, {"abc": "456"})
    (run,) = runs.started
    assert (run.run_id, run.trigger_kind, run.run_as) == (accepted.run_id, TriggerKind.MANUAL, user)
    assert run.variables["abc"] == accepted.variables["abc"] == "456"
    assert run.delivery is None  # not a delivery: nothing goes to the webhook's delivery log


def test_a_viewer_is_refused_with_the_role_it_takes(people: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(Forbidden) as caught:
        start(people, runs, "bob")
    assert "runner or owner role" in caught.value.message and "is viewer" in caught.value.message
    assert runs.started == []


def test_a_suspended_runner_is_refused(people: FakeStore, runs: FakeRunStarter) -> None:
    people.users["alice"] = User(id="alice", status=UserStatus.SUSPENDED)
    with pytest.raises(Forbidden):
        start(people, runs, "alice")


def test_a_user_without_a_role_is_told_the_pipeline_is_not_found(people: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(NotFound) as caught:
        start(people, runs, "carol")
    assert caught.value.code == "PIPELINE_NOT_FOUND"


def test_an_admin_without_a_role_may_not_run_it(people: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(Forbidden):
        start_manual_run(fake_ports(people, runs), Caller("root", is_admin=True), "demo", {})


def test_variables_follow_the_webhooks_rules(people: FakeStore, runs: FakeRunStarter) -> None:
    with pytest.raises(InvalidVariables) as caught:
        start(people, runs, "alice", {"nope": "1", "RETRIES": "many"})
    assert {p.name for p in caught.value.problems} == {"nope", "RETRIES"} and runs.started == []


def test_secret_values_go_to_the_secret_record_and_are_masked(people: FakeStore, runs: FakeRunStarter) -> None:
    accepted = start(people, runs, "alice", {"API_KEY": "s3cr3t"})
    assert accepted.variables["API_KEY"] == "***"
    assert people.run_secrets == {accepted.run_id: {"API_KEY": "s3cr3t"}}
    assert "s3cr3t" not in runs.started[0].model_dump_json()


def test_a_run_that_could_not_start_keeps_no_secret_values(people: FakeStore) -> None:
    runs = FakeRunStarter(fail_with=Unavailable())
    with pytest.raises(Unavailable):
        start(people, runs, "alice", {"API_KEY": "s3cr3t"})
    assert people.run_secrets == {}


# --- the route ----------------------------------------------------------------------------------------------------


class FakeContainer(Container):
    def __init__(self, store: FakeStore, runs: FakeRunStarter) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        # management answers identity's one lookup (principal -> user); the route itself reads the store
        self.__dict__.update(access=store, management=FakeManagementStore(), trigger_ports=fake_ports(store, runs))


@pytest.fixture
def wired(people: FakeStore, runs: FakeRunStarter, api_on_local_stack: None) -> Iterator[None]:
    composition.use_container(FakeContainer(people, runs))
    yield
    composition.use_container(None)


def post(body: str | None, user: str = "alice", pipeline_id: str = "demo") -> tuple[int, dict[str, Any]]:
    event = api_request("POST", ROUTE, {"pipelineId": pipeline_id}, body=body, user=user)
    response = api.handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.usefixtures("wired")
def test_the_route_answers_202_as_the_webhook_does(runs: FakeRunStarter) -> None:
    status, body = post('{"variables": {"abc": "456"}}')
    assert status == 202
    RunAccepted.model_validate(body)
    assert body["statusUrl"].endswith(f"/api/runs/{body['runId']}") and body["variables"]["abc"] == "456"
    assert [run.run_id for run in runs.started] == [body["runId"]]


@pytest.mark.usefixtures("wired")
def test_an_empty_body_runs_with_the_defaults(runs: FakeRunStarter) -> None:
    status, body = post(None)
    assert (status, body["variables"]["abc"]) == (202, "123")


@pytest.mark.usefixtures("wired")
@pytest.mark.parametrize(
    ("body", "user", "expected"),
    [
        ('{"variables": {"nope": "1"}}', "alice", (422, "INVALID_VARIABLES")),
        ('{"variables": "abc=456"}', "alice", (422, "INVALID_REQUEST")),
        ('{"abc": "456"}', "alice", (422, "INVALID_REQUEST")),
        ("[]", "alice", (400, "INVALID_JSON")),
        ("{}", "bob", (403, "FORBIDDEN")),
        ("{}", "carol", (404, "PIPELINE_NOT_FOUND")),
    ],
)
def test_the_route_refuses_as_documented(runs: FakeRunStarter, body: str, user: str, expected: tuple[int, str]) -> None:
    status, answer = post(body, user)
    assert (status, answer["code"]) == expected and answer["message"]
    assert runs.started == []


@pytest.mark.usefixtures("wired")
def test_a_body_over_64_kib_is_413_as_the_webhooks(runs: FakeRunStarter) -> None:
    status, answer = post(json.dumps({"variables": {"abc": "x" * 64 * 1024}}))
    assert (status, answer["code"]) == (413, "PAYLOAD_TOO_LARGE") and runs.started == []


@pytest.mark.usefixtures("wired")
def test_the_route_refuses_an_unknown_pipeline() -> None:
    assert post("{}", pipeline_id="nope")[0] == 404


def test_an_undeclared_variable_passes_when_the_pipeline_allows_them(store: FakeStore, runs: FakeRunStarter) -> None:
    store.add_pipeline(demo_pipeline(webhook={"allowUndeclaredVariables": True}))
    assert start(store, runs, "alice", {"EXTRA": "x"}).variables["EXTRA"] == "x"


def test_a_manual_run_belongs_to_the_pipelines_incarnation(people: FakeStore, runs: FakeRunStarter) -> None:
    read = people.get_access
    people.get_access = lambda pipeline_id, user_id: replace(read(pipeline_id, user_id), incarnation="life-2")  # type: ignore[method-assign]
    start(people, runs, "alice")
    assert runs.started[0].incarnation == "life-2"
