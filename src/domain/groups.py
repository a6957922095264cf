"""Per-pipeline concurrency: a run of a `queue` or `supersede` group waits for its turn, in the order runs were
accepted, and takes the group's lock; the workflow takes and releases it, never the webhook.

A lock left by a run that ended without releasing it (its execution killed) is taken over at the next look once
its run reads terminal (the ended-execution reconciler sees to that), and lapses after LEASE_SECONDS in any case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .models import ConcurrencyMode, RunStatus
from .ports import ConcurrencyGroups, GroupLock, RunRecorder, RunSlots
from .run_control import SUPERSEDED, end_run_cancelled
from .run_slots import free_slot
from .runs import TERMINAL, RunView

LEASE_SECONDS = 24 * 3600 + 300  # an execution lives at most 24 h (the workflow's TimeoutSeconds)
SETTLE_SECONDS = 1.0  # a run takes its turn no sooner: runs accepted just before it have recorded themselves


@dataclass(frozen=True)
class GroupTurn:
    """What a waiting run learnt: it holds the group now, it ended while waiting, or it looks again later."""

    acquired: bool
    ended: bool
    wait_seconds: int = 1


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wait_for(waited: float) -> int:
    """Look again soon at first, then less often: a long wait stays far below Step Functions' history limit."""
    return 1 if waited < 60 else 5 if waited < 600 else 15


def join_group(
    runs: RunRecorder, groups: ConcurrencyGroups, slots: RunSlots, run: RunView, mode: ConcurrencyMode, *, now: str
) -> None:
    """Put a newly recorded run in line; in a `supersede` group, cancel the older runs (or this one, if newer
    ones came first): they end CANCELLED with reason SUPERSEDED and `supersededBy`."""
    if run.group is None:
        return
    groups.add_waiter(run.group, run.created_at, run.run_id)
    if mode is not ConcurrencyMode.SUPERSEDE:
        return
    others = {other for _, other in groups.waiters(run.group) if other != run.run_id}
    lock = groups.lock(run.group)
    if lock is not None and lock.owner != run.run_id:
        others.add(lock.owner)
    views = [view for other in others if (view := runs.get_run(other)) is not None and view.status not in TERMINAL]
    me = (run.created_at, run.run_id)
    newer = sorted((v.created_at, v.run_id) for v in views if (v.created_at, v.run_id) > me)
    for view in views:
        if (view.created_at, view.run_id) < me:
            _supersede(runs, groups, slots, view, by=run.run_id, now=now)
    if newer:
        _supersede(runs, groups, slots, run, by=newer[-1][1], now=now)


def _supersede(
    runs: RunRecorder, groups: ConcurrencyGroups, slots: RunSlots, view: RunView, *, by: str, now: str
) -> None:
    if end_run_cancelled(runs, slots, view, SUPERSEDED, {"supersededBy": by}, now=now) and view.group is not None:
        groups.remove_waiter(view.group, view.created_at, view.run_id)


def take_turn(runs: RunRecorder, groups: ConcurrencyGroups, run_id: str, now: str) -> GroupTurn:
    """Let a waiting run take its group's lock if it is first in line and the lock is free (or its holder ended)."""
    run = runs.get_run(run_id)
    if run is None or run.group is None:
        return GroupTurn(acquired=run is not None, ended=run is None)
    if run.status in TERMINAL:
        leave_group(groups, run)
        return GroupTurn(acquired=False, ended=True)
    lock = groups.lock(run.group)
    if lock is None or lock.owner != run_id:  # not taken before (a retried look finds it taken)
        waited = (_parse(now) - _parse(run.created_at)).total_seconds()
        if waited < SETTLE_SECONDS or _someone_ahead(runs, groups, run.group, run_id) or _held(runs, lock, now):
            return GroupTurn(acquired=False, ended=False, wait_seconds=_wait_for(waited))
        lease_until = _format(_parse(now) + timedelta(seconds=LEASE_SECONDS))
        if not groups.take_lock(run.group, run_id, lease_until, lock.owner if lock else None):
            return GroupTurn(acquired=False, ended=False)
        groups.remove_waiter(run.group, run.created_at, run_id)
    if runs.move_run(run_id, RunStatus.RUNNING):
        return GroupTurn(acquired=True, ended=False)
    groups.release_lock(run.group, run_id)  # cancelled meanwhile
    return GroupTurn(acquired=False, ended=True)


def _someone_ahead(runs: RunRecorder, groups: ConcurrencyGroups, group: str, run_id: str) -> bool:
    """True if a run accepted before this one still waits; those that ended waiting leave the line here."""
    for created_at, other in groups.waiters(group):
        if other == run_id:
            return False
        if runs.run_status(other) in (*TERMINAL, None):
            groups.remove_waiter(group, created_at, other)
            continue
        return True
    return False


def _held(runs: RunRecorder, lock: GroupLock | None, now: str) -> bool:
    """True while the lock's holder runs; a holder that ended (or whose lease lapsed) holds nothing."""
    return lock is not None and runs.run_status(lock.owner) not in (*TERMINAL, None) and lock.lease_until > now


def leave_group(groups: ConcurrencyGroups, run: RunView) -> None:
    """A run that ended leaves its group: its lock is released (if it holds it) and it is out of the line."""
    if run.group is not None:
        groups.release_lock(run.group, run.run_id)
        groups.remove_waiter(run.group, run.created_at, run.run_id)


def let_go(groups: ConcurrencyGroups, slots: RunSlots, run: RunView) -> None:
    """A run that ended leaves its group and frees its slot for another run of its pipeline."""
    leave_group(groups, run)
    free_slot(slots, run)
