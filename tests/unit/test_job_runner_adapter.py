"""The job status function's call of the job runner: a runner that failed once its run ended is not an error."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from adapters.job_runner import JobRunnerFailed, LambdaScriptExecutor
from domain.runs import JobScript


class KilledRunner:
    """A Lambda client whose job runner answers as a sandbox killed under it does."""

    def invoke(self, **_: Any) -> dict[str, Any]:
        error = {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited (exit code -9)"}
        return {"FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(error).encode())}


def test_a_runner_that_failed_after_its_run_ended_is_a_cancelled_job() -> None:
    result = LambdaScriptExecutor(KilledRunner(), "runner").execute(
        JobScript(["sleep 60"], {}, 60), should_stop=lambda: True
    )

    assert result.cancelled and result.exit_code is None


def test_a_runner_that_failed_while_its_run_goes_on_fails_the_job() -> None:
    with pytest.raises(JobRunnerFailed, match=r"Runtime\.ExitError"):
        LambdaScriptExecutor(KilledRunner(), "runner").execute(
            JobScript(["sleep 60"], {}, 60), should_stop=lambda: False
        )
