"""A Task whose Lambda invocation is throttled (429) retries as its Retry says, as Step Functions does in AWS."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hookrun import lambda_bridge
from hookrun.sandbox import Throttled
from tests.conftest import REGION
from tests.workflow.conftest import Workflow, pipeline


def throttle_first(function_name: str, throttled: list[str]) -> lambda_bridge.Invoker:
    """An invoker that throttles the first invocation of `function_name` and runs every other in-process."""

    def invoke(function: Any, body: Any, response_headers: dict[str, str]) -> bytes:
        if function.function_name == function_name and not throttled:
            throttled.append(function_name)
            raise Throttled(function_name, 20)
        return lambda_bridge.invoke_in_process(function, body, response_headers)

    return invoke


def test_a_throttled_invoke_answers_429_too_many_requests(workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    throttled: list[str] = []
    monkeypatch.setattr(lambda_bridge, "_invoker", throttle_first("hookrun-RunStatusFunction", throttled))
    once = Config(retries={"total_max_attempts": 1})  # as the interpreter's client: the state's Retry retries
    with pytest.raises(ClientError) as raised:
        boto3.client("lambda", region_name=REGION, config=once).invoke(
            FunctionName="hookrun-RunStatusFunction", Payload=b"{}"
        )
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_a_run_whose_first_task_invoke_is_throttled_retries_and_succeeds(
    workflow: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttled: list[str] = []
    monkeypatch.setattr(lambda_bridge, "_invoker", throttle_first("hookrun-RunStatusFunction", throttled))
    run_id = workflow.start(pipeline([{"name": "build", "jobs": [{"name": "print", "script": ["echo hi"]}]}]))
    assert workflow.wait(run_id)["status"] == "SUCCEEDED"
    failures = [e["taskFailedEventDetails"]["error"] for e in workflow.history(run_id) if e["type"] == "TaskFailed"]
    assert throttled == ["hookrun-RunStatusFunction"]
    assert failures == ["Lambda.TooManyRequestsException"]
