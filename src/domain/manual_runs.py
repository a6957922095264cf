"""Starting a run by hand (`POST /api/pipelines/{pipelineId}/runs`): as the caller, by the webhook's variable rules."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress

from .errors import ErrorCode, Forbidden, NotFound, Unavailable
from .management import Caller
from .models import AcceptedRun, RunRequest, TriggerKind, UserStatus
from .policy import can_run
from .trigger_pipeline import TriggerPorts
from .variables import merge_variables


def start_manual_run(
    ports: TriggerPorts, caller: Caller, pipeline_id: str, overrides: Mapping[str, object]
) -> AcceptedRun:
    """Start a run of the pipeline as the caller, who must be an active owner or runner (admins too need a role).

    `overrides` are merged over the pipeline's defaults exactly as a variable webhook's body is. Raises
    NotFound (PIPELINE_NOT_FOUND), Forbidden, InvalidVariables or Unavailable.
    """
    access = ports.access.get_access(pipeline_id, caller.user_id)
    pipeline = access.pipeline
    if pipeline is None or (access.grant is None and not caller.is_admin):
        # no oracle: a pipeline you hold no role on does not exist for you
        raise NotFound(ErrorCode.PIPELINE_NOT_FOUND)
    if not can_run(access.user, access.grant):
        held = f"is {access.grant.role}" if access.grant is not None else "holds no role"
        if access.user is None or access.user.status is not UserStatus.ACTIVE:
            held = "is not an active hookrun user"
        raise Forbidden(
            f"User '{caller.user_id}' may not run pipeline '{pipeline.id}': it takes the runner or owner role, and "
            f"the user {held}. Act as a user who holds it, or ask a pipeline owner for the runner role."
        )
    merged = merge_variables(
        pipeline.variables, overrides, allow_undeclared=pipeline.webhook.allow_undeclared_variables
    )
    run_id = ports.new_run_id()
    secrets = merged.secrets()
    kept_secrets = bool(secrets) and ports.secrets.put_run_secrets(run_id, secrets)
    run = RunRequest(
        run_id=run_id,
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        stages=pipeline.stages,
        variables=merged.public(),
        secret_names=tuple(sorted(merged.secret_names)),
        trigger_kind=TriggerKind.MANUAL,
        run_as=caller.user_id,
        created_at=ports.now(),
    )
    try:
        ports.runs.start_run(run)
    except Unavailable:
        if kept_secrets:
            with suppress(Unavailable):  # a run that never started keeps no secrets
                ports.secrets.delete_run_secrets(run_id)
        raise
    return AcceptedRun(run_id=run_id, pipeline_id=pipeline.id, variables=merged.masked())
