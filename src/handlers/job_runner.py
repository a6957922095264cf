"""The job runner Lambda: runs one job's script in a shell and answers how it went. It records nothing.

A script can read this function's credentials (same OS user), so its role holds nothing but its logs: the job
status function, which runs no script, invokes it with the job's environment (secrets included, never through
the workflow's history) and records the outcome.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from adapters.shell import ShellExecutor
from domain.runs import JobScript

from .observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"script": [...], "environment": {...}, "timeoutSeconds": N}` -> exit code, output tail, duration."""
    result = ShellExecutor().execute(JobScript(event["script"], event["environment"], int(event["timeoutSeconds"])))
    logger.info("script finished", extra={"exitCode": result.exit_code, "timedOut": result.timed_out})
    return {
        "exitCode": result.exit_code,
        "output": result.output,
        "durationMs": result.duration_ms,
        "timedOut": result.timed_out,
        "droppedBytes": result.dropped_bytes,
    }
