"""The job status Lambda: plans stages and starts and records jobs for the workflow. It runs no job's script.

`stage` records how the builds of the stage just run ended and plans the next stage: its codebuild jobs are
recorded RUNNING and their secrets put where only their builds read them. `run` runs a lambda job: it reads the
run's secrets, invokes the job runner function with the job's environment and records the outcome.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from domain.stages import BuildResult, StageRun, next_stage
from domain.workflow import JobTask, run_job, started_run

from .composition import container
from .observability import logger

# what the workflow adds beside a job's task: its build (codebuild jobs of a mixed stage), the builds' environment
_NOT_TASK = ("build", "environment")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"action": "run", "task": <job task>}` or `{"action": "stage", "run": <execution input>, "state": <the
    workflow's state: the stage just run as `stage`, its jobs' outcomes in order as `next`>}`."""
    action = event["action"]
    ports = container().workflow_ports
    if action == "stage":
        return _next_stage(event)
    if action == "run":
        task = JobTask.model_validate({k: v for k, v in event["task"].items() if k not in _NOT_TASK})
        logger.thread_safe_append_keys(runId=task.run_id, stage=task.stage_name, job=task.job.name, action=action)
        status = run_job(ports, task)
        logger.info("job finished", extra={"status": status})
        return {"status": status}
    raise ValueError(f"unknown action {action!r}")


def _next_stage(event: dict[str, Any]) -> dict[str, Any]:
    """The workflow's next state: the run's identity and the plan of its next stage (`next`)."""
    ports = container().workflow_ports
    run = started_run(ports, event["run"])
    logger.append_keys(runId=run.run_id, action="stage")
    state = event.get("state") or {}
    done = StageRun.model_validate(state["stage"]) if state.get("stage") else None
    ran = state.get("next")
    ran = ran if isinstance(ran, list) else []  # the stage's Map put its jobs' results in place of its plan
    results = [_build_id_or_error(result) if isinstance(result, dict) else None for result in ran]
    plan = next_stage(ports, run, done, results)
    logger.info("stage planned", extra={"kind": plan.kind, "stage": plan.index})
    return {
        "runId": run.run_id,
        "pipelineId": run.pipeline_id,
        "secretNames": list(run.secret_names),
        "stage": StageRun.of(plan).model_dump(mode="json", by_alias=True),
        "next": plan.model_dump(mode="json", by_alias=True),
    }


def _build_id_or_error(result: dict[str, Any]) -> BuildResult:
    """The build's id from the StartBuild state's result, or from the error it raised (its Cause is the build)."""
    if result.get("buildId"):
        return str(result["buildId"]), None
    error = result
    try:
        cause = json.loads(error.get("Cause") or "{}")
    except ValueError:
        cause = {}
    described = cause.get("Build") or cause.get("build") or {} if isinstance(cause, dict) else {}
    build_id = described.get("Id") or described.get("id") if isinstance(described, dict) else None
    if build_id:
        return str(build_id), None
    return None, f"{error.get('Error', 'Error')}: {str(error.get('Cause', ''))[:500]}"
