"""Running a lambda job's script in the job runner function, which holds no credentials worth stealing."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from domain.runs import ExecutionResult, JobScript, StopCheck

from .aws_errors import unavailable_on_outage

STOP_CHECK_SECONDS = 1.0  # how often a running job asks whether its run was cancelled
_calls = ThreadPoolExecutor(max_workers=16, thread_name_prefix="job-runner-call")
_CANCELLED = ExecutionResult(exit_code=None, output="", duration_ms=0, cancelled=True)


class JobRunnerFailed(Exception):
    """The job runner function itself failed (not the script): the run ends FAILED with its error (a workflow
    error, never an API answer)."""


class LambdaScriptExecutor:
    """ScriptExecutor: invokes the job runner function with the script and its environment.

    The environment (secret values included) travels in this invocation's payload, function to function, so it
    never enters the workflow's execution history.
    """

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def execute(self, script: JobScript, should_stop: StopCheck | None = None) -> ExecutionResult:
        payload = {
            "script": list(script.lines),
            "environment": dict(script.environment),
            "timeoutSeconds": script.timeout_seconds,
        }
        call: Future[Any] = _calls.submit(
            lambda: self._client.invoke(FunctionName=self._function, Payload=json.dumps(payload).encode())
        )
        while should_stop is not None:
            try:
                call.result(timeout=STOP_CHECK_SECONDS)
                break
            except FutureTimeout:
                if should_stop():  # a running Lambda cannot be stopped from outside: its result is discarded
                    return _CANCELLED
        with unavailable_on_outage():
            response = call.result()
        answer = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") and should_stop is not None and should_stop():
            return _CANCELLED  # the runner ended with its run (the local stack kills it then): nothing to record
        if response.get("FunctionError") or not isinstance(answer, dict):
            error = answer if isinstance(answer, dict) else {}
            raise JobRunnerFailed(f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"[:1000])
        return ExecutionResult(
            exit_code=answer.get("exitCode"),
            output=str(answer.get("output", "")),
            duration_ms=int(answer.get("durationMs", 0)),
            timed_out=bool(answer.get("timedOut")),
            dropped_bytes=int(answer.get("droppedBytes", 0)),
        )
