"""The run workflow: statemachine/pipeline.asl.json run by moto's interpreter with the real job runner."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import boto3
import pytest

from adapters.deliveries import DynamoDeliveryLog
from adapters.dynamodb import DynamoRunSecrets
from adapters.runs import DynamoRuns
from domain.models import DeliveryInfo
from domain.run_slots import INLINE_REQUEST_BYTES
from domain.runs import RunView
from tests.conftest import REGION, TABLE
from tests.workflow.conftest import SECRET_PREFIX, Workflow, pipeline, state_transitions


def recorded(dynamodb: Any, run_id: str) -> RunView:
    view = DynamoRuns(dynamodb, TABLE).get_run(run_id)
    assert view is not None
    return view


def job(view: RunView, stage: int, name: str) -> Any:
    return next(j for j in view.stages[stage].jobs if j.name == name)


def test_a_run_prints_its_variables_and_succeeds(workflow: Workflow, dynamodb: Any) -> None:
    run_id = workflow.start(
        pipeline([{"name": "build", "jobs": [{"name": "print", "script": ['echo "abc is $abc"']}]}]), {"abc": "456"}
    )
    assert workflow.wait(run_id)["status"] == "SUCCEEDED"
    view = recorded(dynamodb, run_id)
    assert view.status == "SUCCEEDED"
    assert view.stages[0].status == "SUCCEEDED"
    printed = job(view, 0, "print")
    assert (printed.status, printed.exit_code) == ("SUCCEEDED", 0)
    assert printed.output == "abc is 456\n"
    assert printed.started_at and printed.finished_at and printed.duration_ms is not None


def test_jobs_see_hookrun_variables(workflow: Workflow, dynamodb: Any) -> None:
    run_id = workflow.start(
        pipeline(
            [
                {
                    "name": "s1",
                    "jobs": [
                        {
                            "name": "env",
                            "script": ["echo $HOOKRUN_RUN_ID $HOOKRUN_PIPELINE_ID $HOOKRUN_STAGE $HOOKRUN_JOB"],
                        }
                    ],
                }
            ]
        )
    )
    workflow.wait(run_id)
    assert job(recorded(dynamodb, run_id), 0, "env").output == f"{run_id} wf s1 env\n"


def test_first_failed_stage_fails_the_run_and_skips_later_stages(workflow: Workflow, dynamodb: Any) -> None:
    run_id = workflow.start(
        pipeline(
            [
                {
                    "name": "test",
                    "jobs": [
                        {"name": "ok", "script": ["echo fine"]},
                        {"name": "broken", "script": ["echo about to fail", "exit 3", "echo never"]},
                    ],
                },
                {"name": "deploy", "jobs": [{"name": "ship", "script": ["echo shipped"]}]},
            ]
        )
    )
    execution = workflow.wait(run_id)
    assert execution["status"] == "FAILED"
    view = recorded(dynamodb, run_id)
    assert view.status == "FAILED"
    assert "broken" in (view.reason or "")
    assert [s.status for s in view.stages] == ["FAILED", "SKIPPED"]
    broken = job(view, 0, "broken")
    assert (broken.status, broken.exit_code, broken.output) == ("FAILED", 3, "about to fail\n")
    assert job(view, 0, "ok").status == "SUCCEEDED"
    ship = job(view, 1, "ship")
    assert ship.status == "SKIPPED" and ship.output == "" and ship.started_at is None


def test_job_over_its_timeout_fails_with_a_timeout_reason(workflow: Workflow, dynamodb: Any) -> None:
    run_id = workflow.start(
        pipeline([{"name": "s", "jobs": [{"name": "slow", "script": ["echo start", "sleep 30"], "timeoutSeconds": 1}]}])
    )
    assert workflow.wait(run_id)["status"] == "FAILED"
    slow = job(recorded(dynamodb, run_id), 0, "slow")
    assert slow.status == "FAILED"
    assert slow.reason == "timed out after 1 s"
    assert slow.output == "start\n"
    assert slow.duration_ms is not None and slow.duration_ms < 10_000


def test_jobs_of_a_stage_run_in_parallel(workflow: Workflow, dynamodb: Any) -> None:
    jobs = [{"name": f"j{i}", "script": ["date +%s.%N", "sleep 2", "date +%s.%N"]} for i in range(2)]
    started = time.monotonic()
    run_id = workflow.start(pipeline([{"name": "s", "jobs": jobs}]))
    assert workflow.wait(run_id)["status"] == "SUCCEEDED"
    view = recorded(dynamodb, run_id)
    spans = [tuple(float(x) for x in job(view, 0, f"j{i}").output.split()) for i in range(2)]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans  # the two sleeps overlap
    assert time.monotonic() - started < 20


def test_a_pipeline_over_the_old_whole_bound_runs_with_a_small_input_and_every_state_under_256_kib(
    workflow: Workflow, dynamodb: Any
) -> None:
    line = ": " + "x" * 998  # a no-op line of the shell
    script = [line] * 30
    stages = [
        {"name": f"s{s}", "jobs": [{"name": f"j{j}", "script": [*script, f'echo "{s}{j} $abc"']} for j in range(2)]}
        for s in range(3)
    ]
    big = pipeline(stages)
    assert sum(len(stage.model_dump_json().encode()) for stage in big.stages) > 96 * 1024  # main's old bound

    run_id = workflow.start(big, {"abc": "y" * 30_000})

    assert workflow.wait(run_id, timeout=120)["status"] == "SUCCEEDED"
    assert job(recorded(dynamodb, run_id), 2, "j1").output.startswith("21 yyy")
    execution = workflow.stepfunctions.describe_execution(executionArn=workflow.execution_arn(run_id))
    assert len(execution["input"].encode()) < 2048
    assert max(len(json.dumps(event, default=str).encode()) for event in workflow.history(run_id)) < 256 * 1024


def test_a_small_run_carries_its_request_inline_its_first_state_keeps_it_and_it_succeeds(
    workflow: Workflow, dynamodb: Any
) -> None:
    run_id = workflow.start(
        pipeline([{"name": "s", "jobs": [{"name": "print", "script": ['echo "$abc"']}]}]), {"abc": "7"}
    )

    assert workflow.wait(run_id)["status"] == "SUCCEEDED"
    assert job(recorded(dynamodb, run_id), 0, "print").output == "7\n"
    execution = workflow.stepfunctions.describe_execution(executionArn=workflow.execution_arn(run_id))
    carried = json.loads(execution["input"])["request"]
    assert carried["runId"] == run_id and carried["variables"] == {"abc": "7"}
    assert len(execution["input"].encode()) < INLINE_REQUEST_BYTES + 512
    kept = workflow.kept.get_run_request(run_id)
    assert kept is not None and kept.model_dump(mode="json", by_alias=True) == carried


def test_a_large_run_is_started_with_its_request_kept_apart_and_a_small_input(
    workflow: Workflow, dynamodb: Any
) -> None:
    stages = [{"name": "s", "jobs": [{"name": "print", "script": [": " + "x" * 998] * 10 + ['echo "$abc"']}]}]

    run_id = workflow.start(pipeline(stages), {"abc": "8"})

    assert workflow.wait(run_id)["status"] == "SUCCEEDED"
    assert job(recorded(dynamodb, run_id), 0, "print").output == "8\n"
    execution = workflow.stepfunctions.describe_execution(executionArn=workflow.execution_arn(run_id))
    assert "request" not in json.loads(execution["input"]) and len(execution["input"].encode()) < 1024
    kept = workflow.kept.get_run_request(run_id)
    assert kept is not None and len(kept.model_dump_json(by_alias=True)) > INLINE_REQUEST_BYTES


def run_with_secret(workflow: Workflow, dynamodb: Any, secret: str, runner: str) -> tuple[str, DynamoRunSecrets]:
    """A job on `runner` that prints API_KEY and checks it is `secret`, run to success with the secret written as
    the webhook writes it; the run's id and the run secrets store."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    script = ['echo "key=$API_KEY"', f'test "$(printf %s "$API_KEY" | sha256sum | cut -d" " -f1)" = {digest}']
    p = pipeline(
        [{"name": "s", "jobs": [{"name": "leak", "runner": runner, "script": script}]}],
        variables={"API_KEY": {"secret": True}},
    )
    run_id = workflow.start(p, secret_names=("API_KEY",), secrets={"API_KEY": secret})
    assert workflow.wait(run_id)["status"] == "SUCCEEDED"  # the job saw the real value
    return run_id, workflow.kept


def test_secret_values_reach_the_job_but_not_its_output_input_or_history(workflow: Workflow, dynamodb: Any) -> None:
    secret = "hunter22"
    run_id, secrets = run_with_secret(workflow, dynamodb, secret, "lambda")
    view = recorded(dynamodb, run_id)
    assert job(view, 0, "leak").output == "key=***\n"
    execution = workflow.stepfunctions.describe_execution(executionArn=workflow.execution_arn(run_id))
    assert secret not in execution["input"] + execution.get("output", "")
    assert secret not in json.dumps(workflow.history(run_id), default=str)
    assert secrets.get_run_secrets(run_id) == {}  # forgotten when the run ended, not kept until their TTL


def test_a_codebuild_job_sees_its_secret_masked_in_output_and_its_builds_secret_is_gone_after(
    workflow: Workflow, dynamodb: Any
) -> None:
    secret = "hunter22-build"
    run_id, _ = run_with_secret(workflow, dynamodb, secret, "codebuild")
    leak = job(recorded(dynamodb, run_id), 0, "leak")
    assert "key=***" in leak.output.splitlines() and secret not in leak.output
    assert secret not in json.dumps(workflow.history(run_id), default=str)
    listed = boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    assert [s["Name"] for s in listed if s["Name"].startswith(f"{SECRET_PREFIX}runs/")] == []


def test_a_codebuild_job_after_a_failed_stage_is_skipped_and_starts_no_build(workflow: Workflow, dynamodb: Any) -> None:
    stages = [
        {"name": "test", "jobs": [{"name": "broken", "script": ["exit 3"]}]},
        {"name": "deploy", "jobs": [{"name": "ship", "runner": "codebuild", "script": ["echo shipped"]}]},
    ]
    run_id = workflow.start(pipeline(stages))
    assert workflow.wait(run_id)["status"] == "FAILED"
    view = recorded(dynamodb, run_id)
    assert (job(view, 1, "ship").status, view.stages[1].status) == ("SKIPPED", "SKIPPED")
    assert boto3.client("codebuild", region_name=REGION).list_builds()["ids"] == []


@pytest.mark.parametrize("runner", ["lambda", "codebuild"])
def test_state_transitions_for_three_stages_of_two_jobs(workflow: Workflow, dynamodb: Any, runner: str) -> None:
    stages = [
        {"name": f"s{s}", "jobs": [{"name": f"j{j}", "script": ["true"], "runner": runner} for j in range(2)]}
        for s in range(3)
    ]
    run_id = workflow.start(pipeline(stages))
    assert workflow.wait(run_id)["status"] == "SUCCEEDED"
    transitions = state_transitions(workflow.history(run_id))
    print(f"state transitions for 3 stages x 2 {runner} jobs: {transitions}")
    # RecordRun, NextStage and Route before each stage and once after the last, each stage's Map, one state per job
    assert transitions <= 1 + 2 * 4 + 3 + 6 + 1


def test_a_stage_of_lambda_and_codebuild_jobs_runs_both_and_records_each(workflow: Workflow, dynamodb: Any) -> None:
    jobs = [
        {"name": "unit", "script": ['echo "unit $HOOKRUN_JOB $abc"']},
        {"name": "image", "runner": "codebuild", "script": ['echo "image $HOOKRUN_JOB $HOOKRUN_STAGE $abc"']},
        {"name": "lint", "runner": "codebuild", "script": ["exit 5"]},
    ]
    stages = [{"name": "check", "jobs": jobs}, {"name": "ship", "jobs": [{"name": "never", "script": ["true"]}]}]
    run_id = workflow.start(pipeline(stages), {"abc": "456"})
    assert workflow.wait(run_id)["status"] == "FAILED"
    view = recorded(dynamodb, run_id)
    assert (job(view, 0, "unit").status, job(view, 0, "unit").output) == ("SUCCEEDED", "unit unit 456\n")
    image = job(view, 0, "image")
    assert image.status == "SUCCEEDED" and "image image check 456" in image.output.splitlines()
    assert (job(view, 0, "lint").status, job(view, 0, "lint").exit_code) == ("FAILED", 5)
    assert [stage.status for stage in view.stages] == ["FAILED", "SKIPPED"]
    entered = {
        e["stateEnteredEventDetails"]["name"] for e in workflow.history(run_id) if e["type"] == "MapStateEntered"
    }
    assert entered == {"Jobs"}  # the stage after the failed one was never started


@pytest.mark.usefixtures("crashed_job_runner")
def test_a_crashed_job_runner_ends_the_run_failed_with_the_reason(workflow: Workflow, dynamodb: Any) -> None:
    run_id = workflow.start(
        pipeline(
            [
                {"name": "s", "jobs": [{"name": "j", "script": ["true"]}]},
                {"name": "t", "jobs": [{"name": "k", "script": ["true"]}]},
            ]
        )
    )
    assert workflow.wait(run_id)["status"] == "FAILED"
    view = recorded(dynamodb, run_id)
    assert view.status == "FAILED"
    assert "runner died mid-job" in (view.reason or "")
    assert "stackTrace" not in (view.reason or "") and 'File "' not in (view.reason or "")
    assert [s.status for s in view.stages] == ["FAILED", "CANCELLED"]
    assert job(view, 0, "j").status == "FAILED"
    assert job(view, 1, "k").status == "CANCELLED"


def deliveries(dynamodb: Any, pipeline_id: str) -> list[tuple[str, str | None]]:
    found, _ = DynamoDeliveryLog(dynamodb, TABLE, time.time).list_deliveries(pipeline_id)
    return [(delivery.outcome, delivery.run_id) for delivery in found]


def test_an_accepted_run_whose_first_state_fails_for_good_still_leaves_its_delivery(
    workflow: Workflow, dynamodb: Any, monkeypatch: Any
) -> None:
    from handlers import run_status

    def broken(*_: Any) -> Any:
        raise RuntimeError("the first state broke")

    monkeypatch.setattr(run_status, "record_run_started", broken)
    github = DeliveryInfo(source="github", event="push", delivery_id="d-1")
    run_id = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}]), delivery=github)
    assert workflow.wait(run_id)["status"] == "FAILED"
    assert recorded(dynamodb, run_id).status == "FAILED"
    assert deliveries(dynamodb, "wf") == [("RUN_STARTED", run_id)]


def test_a_run_whose_first_state_broke_before_keeping_its_inline_request_is_recorded_from_its_input(
    workflow: Workflow, dynamodb: Any, monkeypatch: Any
) -> None:
    from handlers import run_status

    def broken(*_: Any) -> Any:
        raise RuntimeError("the first state broke")

    monkeypatch.setattr(run_status, "keep_carried_request", broken)
    github = DeliveryInfo(source="github", event="push", delivery_id="d-3")
    run_id = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}]), delivery=github)
    assert workflow.wait(run_id)["status"] == "FAILED"
    assert workflow.kept.get_run_request(run_id) is None  # never kept: the failure path read the execution input
    assert recorded(dynamodb, run_id).status == "FAILED"
    assert deliveries(dynamodb, "wf") == [("RUN_STARTED", run_id)]


@pytest.mark.usefixtures("crashed_job_runner")
def test_a_run_whose_job_runner_crashes_keeps_one_delivery(workflow: Workflow, dynamodb: Any) -> None:
    github = DeliveryInfo(source="github", event="push", delivery_id="d-2")
    run_id = workflow.start(pipeline([{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}]), delivery=github)
    assert workflow.wait(run_id)["status"] == "FAILED"
    assert deliveries(dynamodb, "wf") == [("RUN_STARTED", run_id)]
