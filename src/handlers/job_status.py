"""The job status Lambda: starts and records jobs for the workflow. It runs no job's script.

`run` runs a lambda job: it reads the run's secrets, invokes the job runner function with the job's environment
and records the outcome. `prepare` and `record` bracket a codebuild job's build: the first records the job
RUNNING and puts its secrets where only that build reads them, the second reads how the build ended.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.workflow import JobTask, prepare_build, record_build, run_job

from .composition import container
from .observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"action": "run"|"prepare"|"record", "task": <job task>}`; `record` reads `task.build` (result or error)."""
    action = event["action"]
    fields = dict(event["task"])
    build = fields.pop("build", None) or {}
    task = JobTask.model_validate(fields)
    logger.thread_safe_append_keys(runId=task.run_id, stage=task.stage_name, job=task.job.name, action=action)
    ports = container().workflow_ports
    if action == "run":
        status = run_job(ports, task)
        logger.info("job finished", extra={"status": status})
        return {"status": status}
    if action == "prepare":
        prepared = prepare_build(ports, task)
        logger.info("build prepared")
        return prepared.model_dump(by_alias=True, exclude_none=True)
    if action == "record":
        build_id, error = _build_id_or_error(build)
        status = record_build(ports, task, build_id, error)
        logger.info("build recorded", extra={"status": status})
        return {"status": status}
    raise ValueError(f"unknown action {action!r}")


def _build_id_or_error(build: dict[str, Any]) -> tuple[str | None, str | None]:
    """The build's id from the StartBuild state's result, or from the error it raised (its Cause is the build)."""
    result = build.get("result") or {}
    if result.get("buildId"):
        return str(result["buildId"]), None
    error = build.get("error") or {}
    try:
        cause = json.loads(error.get("Cause") or "{}")
    except ValueError:
        cause = {}
    described = cause.get("Build") or cause.get("build") or {} if isinstance(cause, dict) else {}
    build_id = described.get("Id") or described.get("id") if isinstance(described, dict) else None
    if build_id:
        return str(build_id), None
    return None, f"{error.get('Error', 'Error')}: {str(error.get('Cause', ''))[:500]}"
