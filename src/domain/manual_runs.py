"""Starting a run by hand (`POST /api/pipelines/{pipelineId}/runs`): as the caller, by the webhook's variable rules."""

from __future__ import annotations

from collections.abc import Mapping

from .models import AcceptedRun, RunRequest, TriggerKind
from .policy import Caller, authorize, can_run, must_run_as_caller, refusal
from .run_slots import start_in_a_slot
from .trigger_pipeline import TriggerPorts
from .variables import merge_variables


def start_manual_run(
    ports: TriggerPorts, caller: Caller, pipeline_id: str, overrides: Mapping[str, object]
) -> AcceptedRun:
    """Start a run of the pipeline as the caller, who must be an active owner or runner (admins too need a role).

    `overrides` are merged over the pipeline's defaults exactly as a variable webhook's body is. Raises
    NotFound (PIPELINE_NOT_FOUND), Forbidden, InvalidVariables, RunLimitReached or Unavailable.
    """
    access = ports.access.get_access(pipeline_id, caller.user_id)
    pipeline = access.pipeline
    if pipeline is None:
        raise refusal(caller, access.user)
    authorize(caller, access.user, access.grant, exists=True, needs=can_run)
    must_run_as_caller(caller, access.user, access.grant, pipeline.id)  # only an admin can fail it here
    merged = merge_variables(
        pipeline.variables, overrides, allow_undeclared=pipeline.webhook.allow_undeclared_variables
    )
    run_id = ports.new_run_id()
    run = RunRequest.of(
        pipeline,
        run_id=run_id,
        incarnation=access.incarnation,
        variables=merged.public(),
        secret_names=tuple(sorted(merged.secret_names)),
        trigger_kind=TriggerKind.MANUAL,
        run_as=caller.user_id,
        created_at=ports.now(),
    )
    start_in_a_slot(ports, run, merged.secrets(), pipeline.max_running_runs, run.created_at)
    return AcceptedRun(run_id=run_id, pipeline_id=pipeline.id, variables=merged.masked())
