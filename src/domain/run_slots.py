"""A pipeline's cap on runs that have not ended (`maxRunningRuns`): no URL holder starts unbounded runs of it.

Each run holds a slot, named `<createdAt>#<runId>`, from before its start (a conditional write: concurrent starts
never take more than the cap) until it ends, however it ends: finished, failed, cancelled, superseded, its execution
stopped or failed outside the workflow, or its start failed. Freeing is idempotent, so two paths may both free it.
A slot whose release was lost (a crash between take and start) is found at the next refusal: a slot whose run has
ended, or was never recorded START_GRACE_SECONDS after it was taken, is freed then, and the start tried again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .errors import HookrunError, RunLimitReached
from .models import RunRequest, RunStatus
from .ports import RunSecrets, RunSlots, RunStarter, RunStatuses

# the ports re-exported: the use cases that take slots name them from here
__all__ = [
    "START_GRACE_SECONDS",
    "RunSlots",
    "RunStatuses",
    "StartParts",
    "free_slot",
    "slot_of",
    "start_in_a_slot",
    "take_slot",
]

# a run is recorded by its workflow's first state within seconds of its start; one unrecorded this long never started
START_GRACE_SECONDS = 120


class SlotHolder(Protocol):
    """A run as a slot names it: a RunRequest (before it starts) or a RunView (when it ends)."""

    @property
    def run_id(self) -> str: ...
    @property
    def pipeline_id(self) -> str: ...
    @property
    def incarnation(self) -> str: ...
    @property
    def created_at(self) -> str: ...


def slot_of(run: SlotHolder) -> str:
    return f"{run.created_at}#{run.run_id}"


def take_slot(slots: RunSlots, statuses: RunStatuses, run: SlotHolder, limit: int, now: str) -> bool:
    """Hold one of the pipeline's `limit` slots for `run`, before it starts. False if it held it already (a repeated
    start of the same run, whose slot is not this start's to free).

    Raises RunLimitReached when `limit` runs that have not ended hold them all; nothing is kept then.
    """
    slot = slot_of(run)
    took = slots.take_slot(run.pipeline_id, run.incarnation, slot, limit)
    if not took.taken:
        lost = _lost_slots(statuses, took.held, now)
        if lost:
            slots.free_slots(run.pipeline_id, run.incarnation, lost)
            took = slots.take_slot(run.pipeline_id, run.incarnation, slot, limit)
    if not took.taken:
        raise RunLimitReached(run.pipeline_id, limit)
    return not took.held_already


def free_slot(slots: RunSlots, run: SlotHolder) -> None:
    """The run has ended (or never started): its slot is free for another run."""
    slots.free_slots(run.pipeline_id, run.incarnation, [slot_of(run)])


def _lost_slots(statuses: RunStatuses, held: Sequence[str], now: str) -> list[str]:
    """Slots still held by runs that ended, or by runs never recorded long after their slot was taken."""
    from .runs import TERMINAL  # here: the webhook's cold start does not import the run rules, nor its hot path

    holders = {slot: slot.rpartition("#") for slot in held}
    found = statuses.run_statuses([run_id for _, _, run_id in holders.values()])
    lost = []
    for slot, (taken_at, _, run_id) in holders.items():
        status: RunStatus | None = found.get(run_id)
        if status in TERMINAL or (status is None and _age_seconds(taken_at, now) > START_GRACE_SECONDS):
            lost.append(slot)
    return lost


def _age_seconds(taken_at: str, now: str) -> float:
    try:
        return (_parse(now) - _parse(taken_at)).total_seconds()
    except ValueError:  # not a slot this module named: nothing says it is still needed
        return float("inf")


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


class StartPorts(Protocol):
    """What starting a run in a slot needs (TriggerPorts has it)."""

    @property
    def slots(self) -> RunSlots: ...
    @property
    def run_statuses(self) -> RunStatuses: ...
    @property
    def secrets(self) -> RunSecrets: ...
    @property
    def runs(self) -> RunStarter: ...
    @property
    def stack_run_limit(self) -> int:
        """The stack's MaxRunningRunsPerPipeline: no pipeline runs more at once, whatever it asks."""
        ...


@dataclass(frozen=True)
class StartParts:
    """StartPorts put together from other ports (a re-run's)."""

    slots: RunSlots
    run_statuses: RunStatuses
    secrets: RunSecrets
    runs: RunStarter
    stack_run_limit: int


def start_in_a_slot(ports: StartPorts, run: RunRequest, secrets: Mapping[str, str], limit: int, now: str) -> None:
    """Take the run's slot under `limit` (the pipeline's maxRunningRuns, at most the stack's), keep its request and
    secret values, start it: a run that does not start keeps none.

    Raises RunLimitReached (nothing taken or kept), RunAlreadyStarted (a replay: the run that started holds a slot
    and secrets of its own) or Unavailable.
    """
    took = take_slot(ports.slots, ports.run_statuses, run, min(limit, ports.stack_run_limit), now)
    kept = False
    try:
        kept = ports.secrets.put_run_request(run, secrets)
        ports.runs.start_run(run)
    except BaseException:
        with suppress(HookrunError):  # a slot left held is freed at the next refusal, the request by its TTL
            if kept:
                ports.secrets.delete_run_request(run.run_id)
            if took:
                free_slot(ports.slots, run)
        raise
