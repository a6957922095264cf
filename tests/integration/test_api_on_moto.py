"""The run read API with its real adapters on moto: table from template.yaml, runs recorded by DynamoRuns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.runs import DynamoRuns
from domain.models import Grant, Role, RunRequest, RunStatus, User, UserStatus
from handlers.composition import Container, Settings
from hookrun.local_iam import principal_of
from tests.conftest import TABLE
from tests.directory import DynamoDirectory, map_local_principals
from tests.support import Answer, admins, api_event, call_api, demo_pipeline, using_container

ALICE_ARN = "arn:aws:iam::123456789012:user/alice"
# The API only reads an execution's input, so a one-state machine stands in for the pipeline workflow.
ONE_STATE_DEFINITION = json.dumps({"StartAt": "Queued", "States": {"Queued": {"Type": "Pass", "End": True}}})


def run_id(n: int) -> str:
    return f"run-{n:029x}"


@pytest.fixture
def directory(dynamodb: Any) -> DynamoDirectory:
    directory = DynamoDirectory(dynamodb, TABLE)
    directory.save_pipeline(demo_pipeline())
    directory.save_pipeline(demo_pipeline(id="other", name="Other pipeline"))
    for user_id, role in [("alice", Role.RUNNER), ("bob", Role.VIEWER), ("carol", None)]:
        directory.save_user(User(id=user_id))
        if role is not None:
            directory.save_grant(Grant(pipeline_id="demo", user_id=user_id, role=role))
    return directory


@pytest.fixture
def runs(dynamodb: Any) -> DynamoRuns:
    return DynamoRuns(dynamodb, TABLE)


def record_run(runs: DynamoRuns, rid: str, created_at: str, pipeline_id: str = "demo") -> None:
    """A run recorded as the workflow would: created, its one job run to success, the run finished."""
    pipeline = demo_pipeline(id=pipeline_id)
    request = RunRequest(
        run_id=rid,
        pipeline_id=pipeline_id,
        pipeline_name=pipeline.name,
        stages=pipeline.stages,
        variables={"abc": "456", "DEPLOY_ENV": "staging"},
        secret_names=("API_KEY",),
        run_as="alice",
        created_at=created_at,
    )
    assert runs.create_run(request, RunStatus.RUNNING, created_at)
    assert runs.move_stage(rid, 0, RunStatus.RUNNING, {"startedAt": created_at})
    assert runs.move_job(rid, 0, "print", RunStatus.RUNNING, {"startedAt": created_at})
    finished = {"finishedAt": created_at, "exitCode": 0, "output": "abc is 456\n", "durationMs": 12}
    assert runs.move_job(rid, 0, "print", RunStatus.SUCCEEDED, finished)
    assert runs.move_stage(rid, 0, RunStatus.SUCCEEDED, {"finishedAt": created_at})
    assert runs.move_run(rid, RunStatus.SUCCEEDED, {"finishedAt": created_at})


@pytest.fixture
def recorded(runs: DynamoRuns) -> list[str]:
    ids = [run_id(n) for n in range(3)]
    for n, rid in enumerate(ids):
        record_run(runs, rid, f"2026-11-27T12:00:0{n}.000Z")
    record_run(runs, run_id(9), "2026-11-27T12:00:09.000Z", pipeline_id="other")
    return ids


@pytest.fixture
def one_state_machine_arn(stepfunctions: Any) -> str:
    response = stepfunctions.create_state_machine(
        name="hookrun-pipeline",
        definition=ONE_STATE_DEFINITION,
        roleArn="arn:aws:iam::123456789012:role/hookrun-sfn",
    )
    return str(response["stateMachineArn"])


@pytest.fixture
def wired(one_state_machine_arn: str, directory: DynamoDirectory, recorded: list[str]) -> Iterator[Container]:
    wiring = Container(Settings(TABLE, one_state_machine_arn, admin_principals=frozenset({principal_of("admin")})))
    with using_container(wiring):
        yield wiring


@pytest.fixture(autouse=True)
def local_stack(dynamodb: Any) -> None:
    map_local_principals(dynamodb, TABLE)


def get_run(rid: str, **changes: Any) -> Answer:
    return call_api(api_event("api-get-run.json", {"runId": rid}, **changes))


def list_runs(pipeline_id: str = "demo", **changes: Any) -> Answer:
    return call_api(api_event("api-list-runs.json", {"pipelineId": pipeline_id}, **changes))


def start_unrecorded(stepfunctions: Any, state_machine_arn: str, accepted: str, pipeline_id: str) -> str:
    """An execution the webhook started whose workflow has not recorded the run yet: its run id."""
    stepfunctions.start_execution(
        stateMachineArn=state_machine_arn, name=accepted, input=json.dumps({"pipelineId": pipeline_id})
    )
    return accepted


def count_calls(client: Any, calls: list[str]) -> None:
    client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))


def test_recorded_run_shows_stages_jobs_and_masked_secret_names(wired: Container, recorded: list[str]) -> None:
    status, body, _ = get_run(recorded[0])
    assert status == 200
    assert (body["runId"], body["pipelineId"], body["pipelineName"]) == (recorded[0], "demo", "Demo pipeline")
    assert body["status"] == "SUCCEEDED"
    assert body["variables"] == {"abc": "456", "DEPLOY_ENV": "staging", "API_KEY": "***"}
    assert body["trigger"] == {"kind": "webhook", "runAs": "alice", "branch": None, "tag": None, "commitSha": None}
    (stage,) = body["stages"]
    assert (stage["name"], stage["status"]) == ("build", "SUCCEEDED")
    (job,) = stage["jobs"]
    assert job["name"] == "print" and job["status"] == "SUCCEEDED"
    assert (job["exitCode"], job["output"], job["durationMs"]) == (0, "abc is 456\n", 12)


def test_accepted_run_without_a_record_reads_as_queued(
    wired: Container, stepfunctions: Any, one_state_machine_arn: str
) -> None:
    accepted = start_unrecorded(stepfunctions, one_state_machine_arn, run_id(42), "demo")
    status, body, _ = get_run(accepted)
    assert (status, body) == (200, {"runId": accepted, "status": "QUEUED", "stages": []})


def test_accepted_run_of_a_pipeline_the_caller_cannot_see_is_404(
    wired: Container, stepfunctions: Any, one_state_machine_arn: str
) -> None:
    accepted = start_unrecorded(stepfunctions, one_state_machine_arn, run_id(43), "other")
    status, body, _ = get_run(accepted)
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")


def test_unknown_run_is_404(wired: Container) -> None:
    status, body, _ = get_run(run_id(77))
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")


def test_malformed_run_id_is_404_without_any_aws_call(wired: Container) -> None:
    calls: list[str] = []
    count_calls(wired._dynamodb, calls)
    count_calls(wired._stepfunctions, calls)
    status, body, _ = get_run("run-not-hex")
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")
    assert calls == []


def test_runs_are_listed_newest_first_across_two_pages(wired: Container, recorded: list[str]) -> None:
    status, first, _ = list_runs(query={"limit": "2"})
    assert status == 200
    assert [run["runId"] for run in first["runs"]] == [recorded[2], recorded[1]]
    assert first["nextCursor"]
    status, second, _ = list_runs(query={"limit": "2", "cursor": first["nextCursor"]})
    assert status == 200
    assert [run["runId"] for run in second["runs"]] == [recorded[0]]
    assert second["nextCursor"] is None


def test_bad_cursor_is_400(wired: Container) -> None:
    status, body, _ = list_runs(query={"cursor": "%%%not-a-cursor"})
    assert (status, body["code"]) == (400, "INVALID_CURSOR")


def test_bad_limit_is_400(wired: Container) -> None:
    status, body, _ = list_runs(query={"limit": "500"})
    assert (status, body["code"]) == (400, "INVALID_PARAMETER")


def test_unknown_pipeline_is_404(wired: Container) -> None:
    status, body, _ = list_runs("nope")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


def test_viewer_may_read_a_run(wired: Container, recorded: list[str]) -> None:
    status, body, _ = get_run(recorded[0], user="bob")
    assert (status, body["runId"]) == (200, recorded[0])


def test_user_without_a_grant_gets_404_for_a_run(wired: Container, recorded: list[str]) -> None:
    status, body, _ = get_run(recorded[0], user="carol")
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")


def test_user_without_a_grant_gets_404_for_the_list(wired: Container) -> None:
    status, body, _ = list_runs(user="carol")
    assert (status, body["code"]) == (404, "PIPELINE_NOT_FOUND")


def test_run_of_another_pipeline_is_404_for_its_non_member(wired: Container) -> None:
    status, body, _ = get_run(run_id(9), user="bob")
    assert (status, body["code"]) == (404, "RUN_NOT_FOUND")


def test_suspended_user_gets_403(wired: Container, directory: DynamoDirectory, recorded: list[str]) -> None:
    directory.save_user(User(id="bob", status=UserStatus.SUSPENDED))
    status, body, _ = get_run(recorded[0], user="bob")
    assert (status, body["code"]) == (403, "FORBIDDEN")


def test_request_without_identity_is_401(wired: Container, recorded: list[str]) -> None:
    status, body, _ = get_run(recorded[0], user=None)
    assert (status, body["code"]) == (401, "UNAUTHENTICATED")


def test_the_user_header_is_never_read(wired: Container, recorded: list[str]) -> None:
    admins()
    status, body, _ = get_run(recorded[0], user="alice", user_arn=ALICE_ARN)
    assert (status, body["code"]) == (401, "UNAUTHENTICATED")


def test_iam_principal_mapped_to_a_user_may_read(wired: Container, dynamodb: Any, recorded: list[str]) -> None:
    admins()
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"PRINCIPAL#{ALICE_ARN}"}, "sk": {"S": "PRINCIPAL"}, "userId": {"S": "bob"}},
    )
    status, body, _ = get_run(recorded[0], user=None, user_arn=ALICE_ARN)
    assert (status, body["runId"]) == (200, recorded[0])


def test_local_admin_may_read_any_run(wired: Container) -> None:
    status, body, _ = get_run(run_id(9), user="admin")
    assert (status, body["pipelineId"]) == (200, "other")


def test_admin_principal_may_list_any_pipeline(wired: Container) -> None:
    admins(ALICE_ARN)
    status, body, _ = list_runs("other", user=None, user_arn=ALICE_ARN)
    assert (status, [run["runId"] for run in body["runs"]]) == (200, [run_id(9)])
