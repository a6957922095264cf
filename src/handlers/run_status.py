"""The run status Lambda: records a run's start, end and failure for the workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.models import RunRequest
from domain.workflow import finish_run, record_run_failure, record_run_started

from .composition import container
from .observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """`{"action": "start"|"finish"|"fail", "run": <execution input>, "error": {"Error","Cause"}}`."""
    action = event["action"]
    run = RunRequest.model_validate(event["run"])
    logger.append_keys(runId=run.run_id, action=action)
    ports = container().workflow_ports
    if action == "start":
        status = record_run_started(ports, run)
    elif action == "finish":
        status = finish_run(ports, run.run_id)
    elif action == "fail":
        error = event.get("error") or {}
        status = record_run_failure(ports, run, str(error.get("Error", "Error")), str(error.get("Cause", "")))
    else:
        raise ValueError(f"unknown action {action!r}")
    logger.info("run recorded", extra={"status": status})
    return {"status": status}
