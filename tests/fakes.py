"""In-memory fakes of the domain's ports, for unit tests of the domain and the handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from domain.deliveries import Delivery
from domain.errors import Conflict, ErrorCode, InvalidCursor, RunAlreadyStarted
from domain.models import AuditEntry, Grant, Pipeline, Role, RunRequest, Trigger, User, UserStatus
from domain.ports import Access, StoredPipeline
from domain.tokens import hash_token, token_hint
from domain.trigger_pipeline import TriggerPorts
from tests.support import local_user

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

    def get_user(self, user_id: str) -> User | None:
        self.reads += 1
        return self.users.get(user_id)

    def put_run_secrets(self, run_id: str, values: Mapping[str, str]) -> bool:
        if run_id in self.run_secrets:
            return False
        self.run_secrets[run_id] = dict(values)
        return True

    def delete_run_secrets(self, run_id: str) -> None:
        self.run_secrets.pop(run_id, None)

    def add_pipeline(self, pipeline: Pipeline) -> None:
        self.pipelines[pipeline.id] = pipeline

    def add_user(self, user_id: str, role: Role | None, pipeline_id: str = "demo") -> None:
        self.users[user_id] = User(id=user_id, status=UserStatus.ACTIVE)
        if role is not None:
            self.grants[(pipeline_id, user_id)] = Grant(pipeline_id=pipeline_id, user_id=user_id, role=role)

    def enable(
        self, token: str, pipeline_id: str, run_as: str, enabled: bool = True, signing_secret: str | None = None
    ) -> None:
        self.triggers[hash_token(token)] = Trigger(
            token_hash=hash_token(token),
            pipeline_id=pipeline_id,
            enabled=enabled,
            run_as=run_as,
            enabled_at=NOW,
            token_hint=token_hint(token),
            signing_secret=signing_secret,
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

    def get_started_run(self, run_id: str) -> RunRequest | None:
        return next((r for r in self.started if r.run_id == run_id), None)


@dataclass
class FakeDeliveryLog:
    """DeliveryLog and DeliveryReader in memory; a cursor is the position of the next page's first delivery."""

    deliveries: list[Delivery] = field(default_factory=list)

    def record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def list_deliveries(
        self, pipeline_id: str, limit: int = 20, cursor: str | None = None, incarnation: str = ""
    ) -> tuple[list[Delivery], str | None]:
        mine = [d for d in reversed(self.deliveries) if (d.pipeline_id, d.incarnation) == (pipeline_id, incarnation)]
        newest_first = mine
        if cursor is not None and not (cursor.isdigit() and 0 < int(cursor) < len(newest_first)):
            raise InvalidCursor()
        start = int(cursor or 0)
        end = start + limit
        return newest_first[start:end], str(end) if end < len(newest_first) else None


@dataclass
class FakeSigningSecrets:
    """SigningSecrets and SigningSecretStore in memory, named as the Secrets Manager store names them."""

    values: dict[str, str] = field(default_factory=dict)
    made: int = 0

    def get_signing_secret(self, name: str) -> str | None:
        return self.values.get(name)

    def put_signing_secret(self, pipeline_id: str, value: str) -> str:
        self.made += 1
        name = f"hookrun/test/pipelines/{pipeline_id}/webhook-signing-secret-{self.made}"
        self.values[name] = value
        return name

    def delete_signing_secret(self, name: str) -> None:
        self.values.pop(name, None)


def fake_ports(
    store: FakeStore,
    runs: FakeRunStarter,
    deliveries: FakeDeliveryLog | None = None,
    signing_secrets: FakeSigningSecrets | None = None,
) -> TriggerPorts:
    ids = iter(f"run-{n:029x}" for n in range(1, 10_000))
    return TriggerPorts(
        triggers=store,
        access=store,
        secrets=store,
        runs=runs,
        deliveries=deliveries if deliveries is not None else FakeDeliveryLog(),
        signing_secrets=signing_secrets if signing_secrets is not None else FakeSigningSecrets(),
        now=lambda: NOW,
        epoch_ms=lambda: 1_795_791_600_000,
        new_run_id=lambda: next(ids),
    )


@dataclass
class FakeManagementStore:
    """ManagementStore in memory, with the same conflict rules as the DynamoDB adapter (versions included)."""

    pipelines: dict[str, StoredPipeline] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    principals: dict[str, str] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    audit_incarnations: list[str] = field(default_factory=list)

    def get_pipeline(self, pipeline_id: str) -> StoredPipeline | None:
        return self.pipelines.get(pipeline_id)

    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        stored = self.pipelines.get(pipeline_id)
        return Access(
            pipeline=stored.pipeline if stored else None,
            grant=self.grants.get((pipeline_id, user_id)),
            user=self.users.get(user_id),
        )

    def list_pipelines(self, user_id: str | None) -> list[StoredPipeline]:
        return [p for i, p in sorted(self.pipelines.items()) if user_id is None or (i, user_id) in self.grants]

    def add_audit(self, audit: AuditEntry, incarnation: str = "") -> None:
        self.audit.append(audit)
        self.audit_incarnations.append(incarnation)

    def _change(self, stored: StoredPipeline, audit: AuditEntry, **changes: object) -> None:
        """Raise Conflict unless the pipeline is still at the version read; then write one version more."""
        current = self.pipelines.get(stored.pipeline.id)
        if current is None or current.version != stored.version:
            raise Conflict(ErrorCode.CONFLICT, "changed meanwhile")
        self.pipelines[stored.pipeline.id] = replace(current, version=current.version + 1, **changes)  # type: ignore[arg-type]
        self.add_audit(audit, stored.incarnation)

    def create_pipeline(self, pipeline: Pipeline, owner: Grant, audit: AuditEntry, incarnation: str) -> bool:
        if pipeline.id in self.pipelines:
            return False
        self.pipelines[pipeline.id] = StoredPipeline(pipeline, None, audit.at, audit.at, incarnation, 1)
        self.grants[(owner.pipeline_id, owner.user_id)] = owner
        self.add_audit(audit, incarnation)
        return True

    def update_pipeline(self, stored: StoredPipeline, pipeline: Pipeline, audit: AuditEntry) -> None:
        self._change(stored, audit, pipeline=pipeline, updated_at=audit.at)

    def delete_pipeline(self, stored: StoredPipeline, grants: Sequence[Grant], audit: AuditEntry) -> None:
        self._change(stored, audit)
        del self.pipelines[stored.pipeline.id]
        for grant in grants:
            self.grants.pop((grant.pipeline_id, grant.user_id), None)
        if stored.token_hash:
            self.triggers.pop(stored.token_hash, None)

    def get_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def user_id_for_principal(self, principal_arn: str) -> str | None:
        """The mapped user; a local principal maps to its user, as the local API Gateway keeps it mapped."""
        return self.principals.get(principal_arn) or local_user(principal_arn)

    def put_user(self, user: User, previous: User | None, audit: AuditEntry) -> None:
        if any(self.principals.get(p, user.id) != user.id for p in user.principals):
            raise Conflict(ErrorCode.PRINCIPAL_TAKEN)
        for p in previous.principals if previous else ():
            self.principals.pop(p, None)
        self.principals.update({p: user.id for p in user.principals})
        self.users[user.id] = user
        self.add_audit(audit)

    def list_grants(self, pipeline_id: str) -> list[Grant]:
        return [g for (p, _), g in self.grants.items() if p == pipeline_id]

    def put_grant(self, stored: StoredPipeline, grant: Grant, audit: AuditEntry) -> None:
        self._change(stored, audit)
        self.grants[(grant.pipeline_id, grant.user_id)] = grant

    def delete_grant(self, stored: StoredPipeline, grant: Grant, audit: AuditEntry) -> None:
        self._change(stored, audit)
        del self.grants[(grant.pipeline_id, grant.user_id)]

    def get_trigger(self, token_hash: str) -> Trigger | None:
        return self.triggers.get(token_hash)

    def create_trigger(self, stored: StoredPipeline, trigger: Trigger, audit: AuditEntry) -> None:
        self._change(stored, audit, token_hash=trigger.token_hash)
        self.triggers[trigger.token_hash] = trigger

    def update_trigger(self, stored: StoredPipeline, trigger: Trigger, audit: AuditEntry) -> None:
        self._change(stored, audit)
        self.triggers[trigger.token_hash] = trigger

    def replace_trigger(self, stored: StoredPipeline, old_token_hash: str, trigger: Trigger, audit: AuditEntry) -> None:
        self._change(stored, audit, token_hash=trigger.token_hash)
        del self.triggers[old_token_hash]
        self.triggers[trigger.token_hash] = trigger

    def list_audit(self, subject: str, limit: int = 50, incarnation: str = "") -> list[AuditEntry]:
        entries = zip(reversed(self.audit), reversed(self.audit_incarnations), strict=True)
        scope = incarnation if subject.startswith("pipeline/") else ""
        return [a for a, inc in entries if a.target == subject and inc == scope][:limit]
