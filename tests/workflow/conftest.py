"""The real state machine definition, executed by moto's interpreter, calling our real handlers in-process."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from adapters.dynamodb import DynamoRunSecrets
from adapters.stepfunctions import execution_input
from domain.models import DeliveryInfo, Pipeline, RunRequest
from domain.run_slots import travels_inline
from handlers import composition
from hookrun import lambda_bridge, local_codebuild
from hookrun.local_stack import stop_executions_at_once
from hookrun.template import load_template, state_machine_definition
from tests.conftest import REGION, TABLE
from tests.directory import DynamoDirectory

ROLE = "arn:aws:iam::123456789012:role/hookrun-test"
SECRET_PREFIX = "hookrun/test/"
FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "served in-process by hookrun.lambda_bridge")
    return buffer.getvalue()


@pytest.fixture
def workflow(dynamodb: Any, stepfunctions: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workflow]:
    lambda_bridge.install()
    local_codebuild.install()
    stop_executions_at_once()  # as the local stack runs moto
    template = load_template()
    lambda_client = boto3.client("lambda", region_name=REGION)
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="hookrun-test",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    arns = {
        "BuildProjectName": boto3.client("codebuild", region_name=REGION).create_project(
            name="hookrun-build",
            source={"type": "NO_SOURCE", "location": "-"},  # moto asks a location even of NO_SOURCE
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"type": "LINUX_CONTAINER", "image": "test", "computeType": "BUILD_GENERAL1_SMALL"},
            serviceRole=role,
        )["project"]["name"]
    }
    for logical_id in ("JobRunnerFunction", "JobStatusFunction", "RunStatusFunction"):
        props = template["Resources"][logical_id]["Properties"]
        arns[f"{logical_id}Arn"] = lambda_client.create_function(
            FunctionName=f"hookrun-{logical_id}",
            Runtime="python3.12",
            Role=role,
            Handler=props["Handler"],
            Timeout=props.get("Timeout", 10),
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
    arn = stepfunctions.create_state_machine(
        name="hookrun-pipeline", definition=state_machine_definition(arns), roleArn=ROLE
    )["stateMachineArn"]
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("JOB_RUNNER_FUNCTION", "hookrun-JobRunnerFunction")
    monkeypatch.setenv("SECRET_PREFIX", SECRET_PREFIX)
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    composition.use_container(None)
    yield Workflow(stepfunctions, arn, DynamoDirectory(dynamodb, TABLE), DynamoRunSecrets(dynamodb, TABLE, time.time))
    composition.use_container(None)


class Workflow:
    def __init__(self, stepfunctions: Any, arn: str, directory: DynamoDirectory, kept: DynamoRunSecrets) -> None:
        self.stepfunctions = stepfunctions
        self.arn = arn
        self.directory = directory
        self.kept = kept  # run requests and secrets, as a run's start keeps them
        self._count = 0

    def start(
        self,
        pipeline: Pipeline,
        variables: dict[str, str] | None = None,
        secret_names: tuple[str, ...] = (),
        delivery: DeliveryInfo | None = None,
        secrets: dict[str, str] | None = None,
    ) -> str:
        """Start a run as the webhook does: its request (and secret values) kept, its execution given its id; or,
        small and with no secret value, its request carried in the execution input."""
        self._count += 1
        run_id = f"run-{time.time_ns():029x}"
        run = RunRequest(
            run_id=run_id,
            pipeline_id=pipeline.id,
            pipeline_name=pipeline.name,
            stages=pipeline.stages,
            variables=variables or {},
            secret_names=secret_names,
            run_as="alice",
            created_at=f"2026-11-27T12:00:{self._count:02d}.000Z",
            delivery=delivery,
        )
        inline = travels_inline(run, secrets or {})  # as the webhook chooses: small and no secret value
        assert inline or self.kept.put_run_request(run, secrets or {})
        started = execution_input(run, inline=inline)
        self.stepfunctions.start_execution(stateMachineArn=self.arn, name=run_id, input=started)
        return run_id

    def execution_arn(self, run_id: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:") + f":{run_id}"

    def wait(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = self.stepfunctions.describe_execution(executionArn=self.execution_arn(run_id))
            if execution["status"] in FINAL:
                return dict(execution)
            time.sleep(0.1)
        raise AssertionError(f"execution {run_id} did not end within {timeout} s")

    def history(self, run_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.execution_arn(run_id), "maxResults": 1000}
        while True:
            page = self.stepfunctions.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]


def state_transitions(history: list[dict[str, Any]]) -> int:
    """States entered, as Step Functions bills them."""
    return sum(1 for event in history if event["type"].endswith("StateEntered"))


@pytest.fixture
def crashed_job_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job runner function itself fails mid-job (not the script): the way a killed Lambda does."""
    from adapters.shell import ShellExecutor

    def crash(*_: Any, **__: Any) -> Any:
        raise RuntimeError("runner died mid-job")

    monkeypatch.setattr(ShellExecutor, "execute", crash)


def pipeline(stages: list[dict[str, Any]], **extra: Any) -> Pipeline:
    return Pipeline.model_validate({"id": "wf", "name": "Workflow test", "stages": stages, **extra})


__all__ = ["Workflow", "json", "pipeline", "state_transitions"]
