"""The ports: what the domain needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .models import Grant, Pipeline, RunRequest, Trigger, User


@dataclass(frozen=True)
class Access:
    """A pipeline with what decides whether a user may run it, read together."""

    pipeline: Pipeline | None
    grant: Grant | None
    user: User | None


class TriggerReader(Protocol):
    def get_trigger(self, token_hash: str) -> Trigger | None:
        """The trigger stored under this token hash, read strongly consistent."""
        ...


class AccessReader(Protocol):
    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        """The pipeline, the user's grant on it and the user, in one strongly consistent read."""
        ...


class RunSecrets(Protocol):
    def put_run_secrets(self, run_id: str, values: Mapping[str, str]) -> None:
        """Keep a run's secret values where only its job runner reads them."""
        ...


class RunStarter(Protocol):
    def start_run(self, run: RunRequest) -> None:
        """Start the workflow for `run`; raises RunAlreadyStarted if the run id was used before."""
        ...
