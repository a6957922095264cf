"""One view policy: every route that names a pipeline or a run (from template.yaml) gives one caller one answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from domain.management import ManagementPorts, put_user
from domain.models import RunRequest, RunStatus, UserStatus
from domain.policy import suspended
from domain.run_control import RunControlPorts
from domain.run_reads import RunReadPorts
from domain.webhook_trigger import enable_webhook
from handlers import api, composition
from handlers.composition import Container, Settings
from hookrun.template import ApiRoute, api_routes
from tests.fakes import FakeManagementStore, FakeRunRecorder, FakeRunSlots, FakeRunStarter, FakeStore
from tests.support import FakeLambdaContext, api_request, demo_pipeline
from tests.unit.test_api_handler import RUN_ID, FakeAcceptedRuns, FakeRuns, a_run
from tests.unit.test_management import ADMIN, ALICE, seeded

pytestmark = pytest.mark.usefixtures("api_on_local_stack")

ROUTES = [route for route in api_routes() if "{pipelineId}" in route.path or "{runId}" in route.path]
CREATE = ApiRoute("ApiFunction", "/api/pipelines/{pipelineId}", "PUT")  # a taken id is PIPELINE_EXISTS, by design
NO_RUN = "run-" + "e" * 29
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/api/pipelines/{pipelineId}/members/{userId}"): {"role": "viewer"},
    ("PUT", "/api/pipelines/{pipelineId}/webhook/secret"): {"secret": "a-long-enough-signing-secret"},
    ("PUT", "/api/pipelines/{pipelineId}/credentials/{name}"): {"token": "a-token"},
}


class FakeContainer(Container):
    def __init__(self, ports: ManagementPorts, store: FakeManagementStore) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        runs = FakeRuns(runs={RUN_ID: a_run()})
        read_ports = RunReadPorts(runs=runs, access=store, users=store, accepted=FakeAcceptedRuns(set()))
        recorder = FakeRunRecorder()
        recorder.create_run(running_demo_run(), RunStatus.RUNNING, "2026-11-27T12:00:00.000Z")
        control_ports = RunControlPorts(
            runs=recorder,
            access=store,
            executions=FakeExecutions(),
            starter=FakeRunStarter(),
            secrets=FakeStore(),
            users=store,
            now=lambda: "2026-11-27T12:00:01.000Z",
            new_run_id=lambda: "run-" + "f" * 29,
            slots=FakeRunSlots(),
            stack_run_limit=1000,
        )
        self.__dict__.update(
            management=store,
            management_ports=ports,
            access=store,
            run_read_ports=read_ports,
            run_control_ports=control_ports,
        )


class FakeExecutions:
    def stop_execution(self, run_id: str, cause: str) -> None:
        pass


def running_demo_run() -> RunRequest:
    """The run the routes are called on, recorded and running, so cancel and re-run get past their rules."""
    return RunRequest(
        run_id=RUN_ID,
        pipeline_id="demo",
        pipeline_name="Demo pipeline",
        stages=demo_pipeline().stages,
        variables={"abc": "456"},
        run_as="alice",
        created_at="2026-11-27T12:00:00.000Z",
    )


@pytest.fixture(autouse=True)
def ports() -> Iterator[ManagementPorts]:
    """demo with an enabled webhook and a run; owen owns it, alice runs it, bob views it, carol has no role."""
    store = FakeManagementStore()
    ports = seeded(store)
    enable_webhook(ports, ALICE, "demo")
    composition.use_container(FakeContainer(ports, store))
    yield ports
    composition.use_container(None)


def answer(route: ApiRoute, as_user: str, *, existing: bool) -> tuple[int, dict[str, Any]]:
    """`route` called as `as_user` on demo and its run, or on a pipeline and a run that do not exist."""
    names = {
        "pipelineId": "demo" if existing else "nothing",
        "runId": RUN_ID if existing else NO_RUN,
        "userId": "bob",
        "name": "gh",
    }
    parameters = {name: value for name, value in names.items() if "{" + name + "}" in route.path}
    body = BODIES.get((route.method, route.path), demo_pipeline(id=names["pipelineId"]) if route == CREATE else {})
    text = None if route.method in ("GET", "DELETE") else json.dumps(body, default=lambda model: model.model_dump())
    response = api.handler(api_request(route.method, route.path, parameters, text, user=as_user), FakeLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], json.loads(response["body"]) if response["body"] else {}


def test_every_route_that_names_a_pipeline_or_a_run_is_checked() -> None:
    assert {("GET", "/api/runs/{runId}"), ("GET", "/api/pipelines/{pipelineId}/runs")} <= {
        (route.method, route.path) for route in ROUTES
    }


@pytest.mark.parametrize("route", [r for r in ROUTES if r != CREATE], ids=lambda r: f"{r.method} {r.path}")
def test_a_caller_without_a_role_is_told_what_they_would_hear_of_nothing(route: ApiRoute) -> None:
    status, body = answer(route, "carol", existing=True)
    assert (status, body) == answer(route, "carol", existing=False)
    assert (status, body["code"]) in {(404, "PIPELINE_NOT_FOUND"), (404, "RUN_NOT_FOUND")}


def test_a_caller_without_a_role_cannot_take_a_pipelines_id() -> None:
    assert answer(CREATE, "carol", existing=True)[1]["code"] == "PIPELINE_EXISTS"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_a_suspended_user_gets_one_answer_on_every_route(route: ApiRoute, ports: ManagementPorts) -> None:
    put_user(ports, ADMIN, "bob", UserStatus.SUSPENDED, None)
    told = (403, {"code": "FORBIDDEN", "message": suspended("bob").message})
    assert answer(route, "bob", existing=True) == told
    assert answer(route, "bob", existing=False) == told


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_a_viewer_is_never_told_that_what_they_see_does_not_exist(route: ApiRoute) -> None:
    status, body = answer(route, "bob", existing=True)
    assert status < 300 or (status, body["code"]) == (403, "FORBIDDEN")
