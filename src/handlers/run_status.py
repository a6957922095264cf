"""The run status Lambda: records a run's start, end and failure for the workflow, takes its concurrency group,
and reconciles executions that ended outside the workflow (EventBridge's "Step Functions Execution Status Change").
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.groups import take_turn
from domain.models import ExecutionInput, RunStatus
from domain.reconcile import reconcile_execution
from domain.workflow import (
    RunNotRecorded,
    finish_run,
    keep_carried_request,
    record_run_failure,
    record_run_started,
    started_run,
)

from .composition import container
from .observability import logger

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"action": "start"|"take-group"|"finish"|"fail", "run": <execution input>, "error": {"Error","Cause"}}`,
    or an EventBridge execution status change."""
    if event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        return _reconcile(event["detail"])
    action = event["action"]
    run_id = ExecutionInput.model_validate(event["run"]).run_id
    logger.append_keys(runId=run_id, action=action)
    ports = container().workflow_ports
    if action == "start":
        status = record_run_started(ports, keep_carried_request(ports, event["run"]))
        logger.info("run recorded", extra={"status": status})
        return {"status": status, "waitsForGroup": status is not RunStatus.RUNNING}
    if action == "take-group":
        turn = take_turn(ports.runs, ports.groups, run_id, ports.now())
        return {"acquired": turn.acquired, "ended": turn.ended, "waitSeconds": turn.wait_seconds}
    if action == "finish":
        status = finish_run(ports, run_id)
    elif action == "fail":
        error = event.get("error") or {}
        run = started_run(ports, event["run"])
        status = record_run_failure(ports, run, str(error.get("Error", "Error")), str(error.get("Cause", "")))
    else:
        raise ValueError(f"unknown action {action!r}")
    logger.info("run recorded", extra={"status": status})
    return {"status": status}


def _reconcile(detail: dict[str, Any]) -> dict[str, Any]:
    """An execution ended without the workflow recording it: its run ends with the reason."""
    logger.append_keys(runId=detail.get("name"), action="reconcile", executionStatus=detail.get("status"))
    if not detail.get("input"):
        logger.warning("execution status change without input: nothing to reconcile")
        return {"status": None}
    ports = container().workflow_ports
    try:
        run = started_run(ports, json.loads(detail["input"]))
    except RunNotRecorded:
        logger.warning("execution status change of a run with no request kept: nothing to reconcile")
        return {"status": None}
    status = reconcile_execution(
        ports,
        run,
        str(detail.get("status", "")),
        str(detail.get("error") or ""),
        str(detail.get("cause") or ""),
    )
    logger.info("execution reconciled", extra={"status": status})
    return {"status": status}
