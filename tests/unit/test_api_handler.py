"""The run read API on fakes: who may read, what a run and a page of runs look like, every rejection."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from domain.errors import InvalidCursor, Unavailable
from domain.models import Role, RunStatus, User, UserStatus
from domain.ports import Page
from domain.run_reads import RunReadPorts
from domain.runs import JobView, RunView, StageView
from handlers.api_run_schemas import RunBody, RunPage
from handlers.composition import Container, Settings
from tests.fakes import FakeStore
from tests.support import Answer, admins, api_event, call_api, demo_pipeline, local_user, using_container

RUN_ID = "run-0195f2a3b4c5d0123456789abcdef"
ALICE_ARN = "arn:aws:iam::123456789012:user/alice"
pytestmark = pytest.mark.usefixtures("api_on_local_stack")


def a_run(run_id: str = RUN_ID, created_at: str = "2026-11-27T12:00:00.000Z", **changes: Any) -> RunView:
    fields: dict[str, Any] = {
        "run_id": run_id,
        "pipeline_id": "demo",
        "pipeline_name": "Demo pipeline",
        "status": RunStatus.SUCCEEDED,
        "variables": {"abc": "456"},
        "secret_names": ("API_KEY",),
        "trigger_kind": "webhook",
        "run_as": "alice",
        "created_at": created_at,
        "started_at": created_at,
        "finished_at": "2026-11-27T12:00:03.000Z",
        "stages": (
            StageView(
                index=0,
                name="build",
                status=RunStatus.SUCCEEDED,
                jobs=(JobView(name="print", status=RunStatus.SUCCEEDED, exit_code=0, output="abc is 456\n"),),
            ),
        ),
    }
    return RunView(**(fields | changes))


@dataclass
class FakeRuns:
    """The run reads of DynamoRuns: pages are slices, cursors the next index as text."""

    runs: dict[str, RunView] = field(default_factory=dict)
    fail_with: Exception | None = None
    reads: int = 0

    def get_run(self, run_id: str) -> RunView | None:
        self.reads += 1
        if self.fail_with is not None:
            raise self.fail_with
        return self.runs.get(run_id)

    def list_runs(
        self, pipeline_id: str, limit: int = 20, cursor: str | None = None, incarnation: str = ""
    ) -> Page[RunView]:
        self.reads += 1
        if cursor is not None and not cursor.isdigit():
            raise InvalidCursor()
        start = int(cursor or 0)
        newest_first = sorted(
            (run for run in self.runs.values() if (run.pipeline_id, run.incarnation) == (pipeline_id, incarnation)),
            key=lambda run: run.created_at,
            reverse=True,
        )
        end = start + limit
        return newest_first[start:end], str(end) if end < len(newest_first) else None


@dataclass
class FakePrincipalTable:
    """The one lookup identity makes: the user an IAM principal is mapped to."""

    users_by_arn: dict[str, str] = field(default_factory=dict)

    def user_id_for_principal(self, principal_arn: str) -> str | None:
        return self.users_by_arn.get(principal_arn) or local_user(principal_arn)


@dataclass
class FakeAcceptedRuns:
    """Executions the workflow accepted (by run id), all of pipeline demo."""

    executions: set[str]

    def accepted_pipeline(self, run_id: str) -> str | None:
        return "demo" if run_id in self.executions else None


class FakeContainer(Container):
    def __init__(self, store: FakeStore, runs: FakeRuns, principals: FakePrincipalTable, executions: set[str]) -> None:
        super().__init__(Settings(table_name="unused", state_machine_arn="unused"))
        read_ports = RunReadPorts(runs=runs, access=store, users=store, accepted=FakeAcceptedRuns(executions))
        self.__dict__.update(access=store, runs=runs, management=principals, run_read_ports=read_ports)


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    store.add_pipeline(demo_pipeline())
    store.add_user("alice", Role.RUNNER)
    store.add_user("bob", Role.VIEWER)
    store.add_user("carol", None)
    return store


@pytest.fixture
def runs() -> FakeRuns:
    return FakeRuns(runs={RUN_ID: a_run()})


@pytest.fixture
def principals() -> FakePrincipalTable:
    return FakePrincipalTable()


@pytest.fixture
def executions() -> set[str]:
    return set()


@pytest.fixture(autouse=True)
def wiring(store: FakeStore, runs: FakeRuns, principals: FakePrincipalTable, executions: set[str]) -> Iterator[None]:
    with using_container(FakeContainer(store, runs, principals, executions)):
        yield


def get_run(run_id: str = RUN_ID, **changes: Any) -> Answer:
    return call_api(api_event("api-get-run.json", {"runId": run_id}, **changes))


def list_runs(query: dict[str, str] | None = None, **changes: Any) -> Answer:
    return call_api(api_event("api-list-runs.json", query=query or {}, **changes))


def test_run_shows_its_stages_and_jobs() -> None:
    status, body, _ = get_run()
    assert status == 200
    assert body["runId"] == RUN_ID and body["pipelineId"] == "demo" and body["pipelineName"] == "Demo pipeline"
    assert body["status"] == "SUCCEEDED"
    assert body["trigger"] == {"kind": "webhook", "runAs": "alice", "branch": None, "tag": None, "commitSha": None}
    assert body["stages"] == [
        {
            "name": "build",
            "status": "SUCCEEDED",
            "startedAt": None,
            "finishedAt": None,
            "reusedFrom": None,
            "jobs": [
                {
                    "name": "print",
                    "status": "SUCCEEDED",
                    "exitCode": 0,
                    "output": "abc is 456\n",
                    "reason": None,
                    "startedAt": None,
                    "finishedAt": None,
                    "durationMs": None,
                }
            ],
        }
    ]


def test_run_variables_show_secret_names_masked() -> None:
    _, body, _ = get_run()
    assert body["variables"] == {"abc": "456", "API_KEY": "***"}


def test_secret_value_that_reached_the_record_is_still_masked(runs: FakeRuns) -> None:
    runs.runs[RUN_ID] = a_run(variables={"abc": "456", "API_KEY": "s3cr3t-value"})
    _, body, _ = get_run()
    assert body["variables"]["API_KEY"] == "***"
    assert "s3cr3t-value" not in json.dumps(body)


def test_accepted_run_without_a_record_reads_as_queued(runs: FakeRuns, executions: set[str]) -> None:
    runs.runs.clear()
    executions.add(RUN_ID)
    status, body, _ = get_run()
    assert (status, body) == (200, {"runId": RUN_ID, "status": "QUEUED", "stages": []})


def test_unknown_run_is_404() -> None:
    status, body, _ = get_run("run-" + "f" * 29)
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")


@pytest.mark.parametrize("run_id", ["run-123", "run-" + "F" * 29, "RUN%23x", "run-" + "0" * 30, "secrets"])
def test_malformed_run_id_is_404_without_any_read(run_id: str, runs: FakeRuns, store: FakeStore) -> None:
    status, body, _ = get_run(run_id)
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")
    assert runs.reads == store.reads == 0


def test_viewer_may_read_a_run() -> None:
    status, body, _ = get_run(user="bob")
    assert (status, body["runId"]) == (200, RUN_ID)


@pytest.mark.parametrize(
    ("user", "refusal"),
    [("carol", (404, "RUN_NOT_FOUND")), ("mallory", (404, "RUN_NOT_FOUND")), (None, (401, "UNAUTHENTICATED"))],
    ids=["user without a role", "unknown user", "request without a user"],
)
def test_a_caller_who_may_not_see_a_run_is_refused(user: str | None, refusal: tuple[int, str]) -> None:
    status, body, _ = get_run(user=user)
    assert (status, body["code"]) == refusal


def test_local_admin_may_read_any_run() -> None:
    status, body, _ = get_run(user="admin")
    assert (status, body["runId"]) == (200, RUN_ID)


def test_header_is_ignored_outside_the_local_stack(on_aws: None) -> None:
    status, body, _ = get_run(user="alice", user_arn="arn:aws:iam::123456789012:user/unmapped")
    assert (status, body["code"]) == (401, "UNAUTHENTICATED")


def test_iam_principal_reads_as_its_mapped_user(on_aws: None, principals: FakePrincipalTable) -> None:
    principals.users_by_arn[ALICE_ARN] = "bob"
    status, _, _ = get_run(user=None, user_arn=ALICE_ARN)
    assert status == 200


def test_iam_principal_listed_in_admin_principals_may_read_any_run(
    on_aws: None,
) -> None:
    admins("arn:aws:iam::123456789012:role/other", ALICE_ARN)
    status, body, _ = get_run(user=None, user_arn=ALICE_ARN)
    assert (status, body["runId"]) == (200, RUN_ID)


def test_runs_are_listed_newest_first_a_page_at_a_time(runs: FakeRuns) -> None:
    for n in range(3):
        run_id = f"run-{n:029x}"
        runs.runs[run_id] = a_run(run_id, created_at=f"2026-11-28T12:00:0{n}.000Z")
    status, first, _ = list_runs({"limit": "2"})
    assert status == 200
    assert [run["runId"] for run in first["runs"]] == [f"run-{2:029x}", f"run-{1:029x}"]
    assert first["runs"][0]["trigger"] == {
        "kind": "webhook",
        "runAs": "alice",
        "branch": None,
        "tag": None,
        "commitSha": None,
    }
    _, second, _ = list_runs({"limit": "2", "cursor": first["nextCursor"]})
    assert [run["runId"] for run in second["runs"]] == [f"run-{0:029x}", RUN_ID]
    assert second["nextCursor"] is None


def test_a_run_and_a_page_of_runs_fit_their_documented_schemas() -> None:
    RunBody.model_validate(get_run()[1])
    RunPage.model_validate(list_runs()[1])


def test_a_source_run_names_its_branch_and_commit_in_its_trigger(runs: FakeRuns) -> None:
    variables = {"HOOKRUN_BRANCH": "main", "HOOKRUN_COMMIT_SHA": "a" * 40}
    runs.runs[RUN_ID] = a_run(trigger_kind="source", variables=variables)
    trigger = list_runs()[1]["runs"][0]["trigger"]
    assert (trigger["kind"], trigger["branch"], trigger["tag"], trigger["commitSha"]) == (
        "source",
        "main",
        None,
        "a" * 40,
    )


def test_listed_run_is_a_summary_without_variables_or_stages() -> None:
    _, body, _ = list_runs()
    assert set(body["runs"][0]) == {
        "runId",
        "status",
        "createdAt",
        "startedAt",
        "finishedAt",
        "trigger",
        "reason",
        "cancelledBy",
        "cancelledAt",
        "rerunOf",
        "supersededBy",
    }


def test_limit_defaults_to_20(runs: FakeRuns) -> None:
    for n in range(25):
        runs.runs[f"run-{n:029x}"] = a_run(f"run-{n:029x}")
    _, body, _ = list_runs()
    assert len(body["runs"]) == 20 and body["nextCursor"] is not None


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "", " 5"])
def test_limit_outside_1_to_100_is_400(limit: str) -> None:
    status, body, _ = list_runs({"limit": limit})
    assert (status, body["code"]) == (400, "INVALID_PARAMETER")


def test_bad_cursor_is_400() -> None:
    status, body, _ = list_runs({"cursor": "not-a-cursor"})
    assert (status, body["code"]) == (400, "INVALID_CURSOR")


def test_unknown_pipeline_is_404() -> None:
    status, body, _ = call_api(api_event("api-list-runs.json", {"pipelineId": "nope"}))
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


def test_malformed_pipeline_id_is_404_without_any_read(store: FakeStore) -> None:
    status, body, _ = call_api(api_event("api-list-runs.json", {"pipelineId": "Not_A_Pipeline"}))
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")
    assert store.reads == 0


def test_viewer_may_list_runs() -> None:
    status, body, _ = list_runs(user="bob")
    assert (status, [run["runId"] for run in body["runs"]]) == (200, [RUN_ID])


def test_user_without_a_role_gets_404_for_the_list_as_for_no_pipeline() -> None:
    status, body, _ = list_runs(user="carol")
    assert (status, body) == call_api(api_event("api-list-runs.json", {"pipelineId": "nothing"}, query={}))[:2]
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


@pytest.mark.parametrize(("read", "user"), [(get_run, "bob"), (list_runs, "alice")], ids=["a run", "the list"])
def test_suspended_member_gets_403(store: FakeStore, read: Callable[..., Answer], user: str) -> None:
    store.users[user] = User(id=user, status=UserStatus.SUSPENDED)
    status, body, _ = read(user=user)
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_local_admin_may_list_any_pipeline() -> None:
    status, _, _ = list_runs(user="admin")
    assert status == 200


def test_throttled_read_is_503_with_retry_after(runs: FakeRuns) -> None:
    runs.fail_with = Unavailable(retry_after_seconds=7)
    status, body, headers = get_run()
    assert (status, body["code"], headers["Retry-After"]) == (503, "UNAVAILABLE", "7")


def test_unknown_route_is_404_not_found() -> None:
    event = api_event("api-list-runs.json")
    event["path"] = "/api/nothing-here"
    status, body, _ = call_api(event)
    assert (status, body["code"]) == (404, "NOT_FOUND")


def test_every_error_body_has_code_and_message_only() -> None:
    _, body, _ = get_run(user=None)
    assert set(body) == {"code", "message"} and body["message"]
