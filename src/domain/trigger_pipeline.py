"""The use case behind the webhook: from a token and variables to a started run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass

from .errors import InsufficientPermissions, RunAlreadyStarted, WebhookDisabled, WebhookNotFound
from .models import AcceptedRun, RunRequest
from .policy import can_run
from .ports import AccessReader, RunSecrets, RunStarter, TriggerReader
from .tokens import hash_token, is_well_formed
from .variables import merge_variables


@dataclass(frozen=True)
class TriggerPorts:
    triggers: TriggerReader
    access: AccessReader
    secrets: RunSecrets
    runs: RunStarter
    now: Callable[[], str]
    new_run_id: Callable[[], str]


def trigger_pipeline(ports: TriggerPorts, token: str, overrides: Mapping[str, object]) -> AcceptedRun:
    """Start a run of the pipeline behind `token`, as the user who last enabled its trigger.

    Raises WebhookNotFound, WebhookDisabled, InsufficientPermissions or InvalidVariables.
    """
    if not is_well_formed(token):
        raise WebhookNotFound()
    trigger = ports.triggers.get_trigger(hash_token(token))
    if trigger is None:
        raise WebhookNotFound()
    if not trigger.enabled:
        raise WebhookDisabled()
    access = ports.access.get_access(trigger.pipeline_id, trigger.run_as)
    pipeline = access.pipeline
    if pipeline is None:
        raise WebhookNotFound()
    if not can_run(access.user, access.grant):
        raise InsufficientPermissions(run_as=trigger.run_as, pipeline_id=pipeline.id)
    merged = merge_variables(
        pipeline.variables, overrides, allow_undeclared=pipeline.webhook.allow_undeclared_variables
    )
    run_id = ports.new_run_id()
    secrets = merged.secrets()
    if secrets:
        ports.secrets.put_run_secrets(run_id, secrets)
    run = RunRequest(
        run_id=run_id,
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        stages=pipeline.stages,
        variables=merged.public(),
        secret_names=tuple(sorted(merged.secret_names)),
        run_as=trigger.run_as,
        created_at=ports.now(),
    )
    with suppress(RunAlreadyStarted):  # the same run id is the same run: a start that already went through
        ports.runs.start_run(run)
    return AcceptedRun(run_id=run_id, pipeline_id=pipeline.id, variables=merged.masked())
