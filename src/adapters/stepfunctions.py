"""Starting the run workflow on Step Functions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from domain.errors import RunAlreadyStarted
from domain.models import ExecutionInput, RunRequest

from .aws_errors import error_code, unavailable_on_outage

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from domain.ports import RunRequests


def execution_input(run: RunRequest, *, inline: bool = False) -> str:
    """The execution input: the run's id, with its request `inline` or kept apart (`RunSecrets.put_run_request`)."""
    return ExecutionInput.of(run, inline=inline).model_dump_json(by_alias=True, exclude=None if inline else {"request"})


class StepFunctionsRunStarter:
    def __init__(self, client: SFNClient, state_machine_arn: str, requests: RunRequests) -> None:
        self._client = client
        self._arn = state_machine_arn
        self._requests = requests

    def start_run(self, run: RunRequest, *, inline: bool = False) -> None:
        """One execution per run, named after the run id, so a repeated start cannot make a second run."""
        started = execution_input(run, inline=inline)
        try:
            with unavailable_on_outage():
                self._client.start_execution(stateMachineArn=self._arn, name=run.run_id, input=started)
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                raise RunAlreadyStarted(run.run_id) from exc
            raise

    def get_started_run(self, run_id: str) -> RunRequest | None:
        """The run as its first request started it: the request kept for it, else (its first state has not kept it
        yet) the one its execution carries inline."""
        kept = self._requests.get_run_request(run_id)
        if kept is not None:
            return kept
        carried = json.loads(_execution_input(self._client, self._arn, run_id) or "{}").get("request")
        return RunRequest.model_validate(carried) if carried else None


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"


class StepFunctionsExecutions:
    """ExecutionControl: stops a run's execution (Step Functions stops the CodeBuild builds it waits for)."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def stop_execution(self, run_id: str, cause: str) -> None:
        try:
            with unavailable_on_outage():
                self._client.stop_execution(executionArn=execution_arn(self._arn, run_id), cause=cause[:32768])
        except ClientError as exc:
            if error_code(exc) not in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise


def _execution_input(client: SFNClient, state_machine_arn: str, run_id: str) -> str | None:
    """The input of the execution named `run_id`, or None if there is no such execution."""
    arn = execution_arn(state_machine_arn, run_id)
    try:
        with unavailable_on_outage():
            execution: Any = client.describe_execution(executionArn=arn)
    except ClientError as exc:
        if error_code(exc) in {"ExecutionDoesNotExist", "InvalidArn"}:
            return None
        raise
    return str(execution.get("input") or "{}")


def execution_pipeline(client: SFNClient, state_machine_arn: str, run_id: str) -> str | None:
    """The pipeline id in the input of the execution named `run_id`, or None if there is no such execution."""
    found = _execution_input(client, state_machine_arn, run_id)
    pipeline_id = json.loads(found or "{}").get("pipelineId")
    return str(pipeline_id) if pipeline_id else None


class StepFunctionsAcceptedRuns:
    """Runs the workflow accepted, found by execution name (the run id) before their record is written."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn

    def accepted_pipeline(self, run_id: str) -> str | None:
        return execution_pipeline(self._client, self._state_machine_arn, run_id)
