"""In-memory fakes of the domain's ports, for unit tests of the domain and the handlers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from domain.deliveries import Delivery
from domain.errors import Conflict, ErrorCode, InvalidCursor, RunAlreadyStarted, Unavailable
from domain.models import (
    MAX_RUNNING_RUNS,
    AuditEntry,
    Grant,
    Pipeline,
    Role,
    RunRequest,
    RunStatus,
    Trigger,
    User,
    UserStatus,
)
from domain.ports import Access, GroupLock, Page, SlotTake, StoredPipeline
from domain.runs import JobView, RunView, StageView, statuses_that_may_move_to
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
    run_requests: dict[str, RunRequest] = field(default_factory=dict)
    reads: int = 0

    def get_trigger(self, token_hash: str) -> Trigger | None:
        self.reads += 1
        return self.triggers.get(token_hash)

    def get_access(self, pipeline_id: str, user_id: str) -> Access:
        self.reads += 1
        pipeline = self.pipelines.get(pipeline_id)
        return Access(
            pipeline=pipeline,
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

    def put_run_request(self, run: RunRequest, secrets: Mapping[str, str]) -> bool:
        if run.run_id in self.run_requests or run.run_id in self.run_secrets:
            return False
        self.run_requests[run.run_id] = run
        if secrets:
            self.run_secrets[run.run_id] = dict(secrets)
        return True

    def delete_run_request(self, run_id: str) -> None:
        self.run_requests.pop(run_id, None)
        self.run_secrets.pop(run_id, None)

    def get_run_request(self, run_id: str) -> RunRequest | None:
        return self.run_requests.get(run_id)

    def keep_run_request(self, run: RunRequest) -> bool:
        return self.put_run_request(run, {})

    def get_run_secrets(self, run_id: str) -> dict[str, str]:
        return dict(self.run_secrets.get(run_id, {}))

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
    inline: list[str] = field(default_factory=list)  # the runs started with their request in the execution input

    def start_run(self, run: RunRequest, *, inline: bool = False) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if any(r.run_id == run.run_id for r in self.started):
            raise RunAlreadyStarted(run.run_id)
        self.started.append(run)
        if inline:
            self.inline.append(run.run_id)

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
    ) -> Page[Delivery]:
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


@dataclass
class FakeRunSlots:
    """RunSlots in memory, with the adapter's conditional take: never more than the limit."""

    held: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    limits: dict[tuple[str, str], int] = field(default_factory=dict)  # the limit kept with each pipeline's slots
    fail_frees: bool = False
    early_takes: list[str] = field(default_factory=list)

    def take_slot(self, pipeline_id: str, incarnation: str, slot: str, limit: int) -> SlotTake:
        took = self._take(pipeline_id, incarnation, slot, limit)
        if took.taken:
            self.limits[pipeline_id, incarnation] = limit
        return took

    def begin_take(self, pipeline_id: str, incarnation: str, slot: str, ceiling: int) -> Callable[[], SlotTake]:
        self.early_takes.append(slot)
        kept = self.limits.get((pipeline_id, incarnation))
        took = self._take(pipeline_id, incarnation, slot, 0 if kept is None else min(kept, ceiling))
        return lambda: took

    def _take(self, pipeline_id: str, incarnation: str, slot: str, limit: int) -> SlotTake:
        held = self.held.setdefault((pipeline_id, incarnation), set())
        kept = self.limits.get((pipeline_id, incarnation))
        if len(held) >= limit and slot not in held:
            return SlotTake(taken=False, held=tuple(sorted(held)), limit=kept)
        already = slot in held
        held.add(slot)
        return SlotTake(taken=True, held_already=already, limit=kept)

    def free_slots(self, pipeline_id: str, incarnation: str, slots: Sequence[str]) -> None:
        if self.fail_frees:
            raise Unavailable()
        self.held.get((pipeline_id, incarnation), set()).difference_update(slots)

    def of(self, pipeline_id: str = "demo", incarnation: str = "") -> set[str]:
        return set(self.held.get((pipeline_id, incarnation), set()))


def fake_ports(
    store: FakeStore,
    runs: FakeRunStarter,
    deliveries: FakeDeliveryLog | None = None,
    signing_secrets: FakeSigningSecrets | None = None,
    slots: FakeRunSlots | None = None,
    recorder: FakeRunRecorder | None = None,
    stack_run_limit: int = MAX_RUNNING_RUNS,
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
        slots=slots if slots is not None else FakeRunSlots(),
        run_statuses=recorder if recorder is not None else FakeRunRecorder(),
        stack_run_limit=stack_run_limit,
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


@dataclass
class FakeRunRecorder:
    """RunRecorder in memory, with the adapter's guarded moves (never backwards)."""

    runs: dict[str, dict[str, object]] = field(default_factory=dict)
    stages: dict[tuple[str, int], dict[str, object]] = field(default_factory=dict)
    jobs: dict[tuple[str, int, str], dict[str, object]] = field(default_factory=dict)

    def create_run(self, run: RunRequest, status: RunStatus, at: str, group: str | None = None) -> bool:
        if run.run_id in self.runs:
            return False
        self.runs[run.run_id] = {"request": run, "status": status, "startedAt": at, "group": group}
        for index, stage in enumerate(run.stages):
            self.stages[(run.run_id, index)] = {"name": stage.name, "status": RunStatus.PENDING}
            for job in stage.jobs:
                self.jobs[(run.run_id, index, job.name)] = {"status": RunStatus.PENDING}
        return True

    def get_run(self, run_id: str) -> RunView | None:
        run = self.runs.get(run_id)
        if run is None:
            return None
        request = run["request"]
        assert isinstance(request, RunRequest)
        stages = tuple(
            StageView(
                index=index,
                name=str(stage["name"]),
                status=RunStatus(str(stage["status"])),
                reused_from=stage.get("reusedFrom"),  # type: ignore[arg-type]
                jobs=tuple(
                    JobView(
                        name=name,
                        status=RunStatus(str(job["status"])),
                        reason=job.get("reason"),  # type: ignore[arg-type]
                        started_at=job.get("startedAt"),  # type: ignore[arg-type]
                    )
                    for (rid, i, name), job in self.jobs.items()
                    if rid == run_id and i == index
                ),
            )
            for (rid, index), stage in sorted(self.stages.items())
            if rid == run_id
        )
        return RunView(
            run_id=run_id,
            pipeline_id=request.pipeline_id,
            status=RunStatus(str(run["status"])),
            variables=request.variables,
            secret_names=request.secret_names,
            trigger_kind=request.trigger_kind,
            run_as=request.run_as,
            created_at=request.created_at,
            reason=run.get("reason"),  # type: ignore[arg-type]
            finished_at=run.get("finishedAt"),  # type: ignore[arg-type]
            cancelled_by=run.get("cancelledBy"),  # type: ignore[arg-type]
            cancelled_at=run.get("cancelledAt"),  # type: ignore[arg-type]
            incarnation=request.incarnation,
            rerun_of=request.rerun_of,
            superseded_by=run.get("supersededBy"),  # type: ignore[arg-type]
            group=run.get("group"),  # type: ignore[arg-type]
            stages=stages,
        )

    def run_status(self, run_id: str) -> RunStatus | None:
        run = self.runs.get(run_id)
        return RunStatus(str(run["status"])) if run else None

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, RunStatus]:
        return {run_id: status for run_id in run_ids if (status := self.run_status(run_id)) is not None}

    @staticmethod
    def _move(record: dict[str, object] | None, to: RunStatus, changes: Mapping[str, object] | None) -> bool:
        if record is None or RunStatus(str(record["status"])) not in statuses_that_may_move_to(to):
            return False
        record.update({k: v for k, v in (changes or {}).items() if v is not None}, status=to)
        return True

    def move_run(self, run_id: str, to: RunStatus, changes: Mapping[str, object] | None = None) -> bool:
        return self._move(self.runs.get(run_id), to, changes)

    def move_stage(
        self, run_id: str, stage_index: int, to: RunStatus, changes: Mapping[str, object] | None = None
    ) -> bool:
        return self._move(self.stages.get((run_id, stage_index)), to, changes)

    def move_job(
        self, run_id: str, stage_index: int, job_name: str, to: RunStatus, changes: Mapping[str, object] | None = None
    ) -> bool:
        return self._move(self.jobs.get((run_id, stage_index, job_name)), to, changes)


@dataclass
class FakeGroups:
    """ConcurrencyGroups in memory, with the adapter's conditional lock."""

    locks: dict[str, GroupLock] = field(default_factory=dict)
    waiting: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add_waiter(self, group: str, created_at: str, run_id: str) -> None:
        self.waiting.setdefault(group, set()).add((created_at, run_id))

    def waiters(self, group: str) -> list[tuple[str, str]]:
        return sorted(self.waiting.get(group, set()))

    def remove_waiter(self, group: str, created_at: str, run_id: str) -> None:
        self.waiting.get(group, set()).discard((created_at, run_id))

    def lock(self, group: str) -> GroupLock | None:
        return self.locks.get(group)

    def take_lock(self, group: str, run_id: str, lease_until: str, replacing: str | None) -> bool:
        held = self.locks.get(group)
        if (held.owner if held else None) != replacing:
            return False
        self.locks[group] = GroupLock(run_id, lease_until)
        return True

    def release_lock(self, group: str, run_id: str) -> None:
        if group in self.locks and self.locks[group].owner == run_id:
            del self.locks[group]
