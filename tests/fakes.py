"""In-memory fakes of the domain's ports, for unit tests of the domain and the handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.errors import RunAlreadyStarted, Unavailable
from domain.models import Grant, Pipeline, Role, RunRequest, Trigger, User, UserStatus
from domain.ports import Access
from domain.tokens import hash_token, token_hint
from domain.trigger_pipeline import TriggerPorts

NOW = "2026-11-27T12:00:00.000Z"


@dataclass
class FakeStore:
    triggers: dict[str, Trigger] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    run_secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    reads: int = 0

    def get_trigger(self, token_hash: str) -> Trigger | None:
        self.reads += 1
        return self.triggers.get(token_hash)

    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        self.reads += 1
        return Access(
            pipeline=self.pipelines.get(pipeline_id),
            grant=self.grants.get((pipeline_id, user_id)),
            user=self.users.get(user_id),
        )

    def put_run_secrets(self, run_id: str, values: Mapping[str, str]) -> None:
        self.run_secrets[run_id] = dict(values)

    def add_pipeline(self, pipeline: Pipeline) -> None:
        self.pipelines[pipeline.id] = pipeline

    def add_user(self, user_id: str, role: Role | None, pipeline_id: str = "demo") -> None:
        self.users[user_id] = User(id=user_id, status=UserStatus.ACTIVE)
        if role is not None:
            self.grants[(pipeline_id, user_id)] = Grant(pipeline_id=pipeline_id, user_id=user_id, role=role)

    def enable(self, token: str, pipeline_id: str, run_as: str, enabled: bool = True) -> None:
        self.triggers[hash_token(token)] = Trigger(
            token_hash=hash_token(token),
            pipeline_id=pipeline_id,
            enabled=enabled,
            run_as=run_as,
            enabled_at=NOW,
            token_hint=token_hint(token),
        )


@dataclass
class FakeRunStarter:
    started: list[RunRequest] = field(default_factory=list)
    fail_with: Exception | None = None

    def start_run(self, run: RunRequest) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if any(r.run_id == run.run_id for r in self.started):
            raise RunAlreadyStarted(run.run_id)
        self.started.append(run)


def fake_ports(store: FakeStore, runs: FakeRunStarter, run_ids: list[str] | None = None) -> TriggerPorts:
    ids = iter(run_ids or [f"run-{n:04d}" for n in range(1, 1000)])
    return TriggerPorts(
        triggers=store, access=store, secrets=store, runs=runs, now=lambda: NOW, new_run_id=lambda: next(ids)
    )


__all__ = ["FakeRunStarter", "FakeStore", "Unavailable", "fake_ports"]
