"""The job runner Lambda: runs one job of a run (called by the workflow's Map state)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.workflow import JobTask, run_job

from .composition import container
from .observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    task = JobTask.model_validate(event)
    # parallel jobs share this process on the local stack: keep each thread's keys its own
    logger.thread_safe_append_keys(runId=task.run_id, stage=task.stage_name, job=task.job.name)
    status = run_job(container().workflow_ports, task)
    logger.info("job finished", extra={"status": status})
    return {"status": status}
