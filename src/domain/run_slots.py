"""A pipeline's cap on runs that have not ended (`maxRunningRuns`): no URL holder starts unbounded runs of it.

Each run holds a slot, named `<createdAt>#<runId>`, from before its start (a conditional write: concurrent starts
never take more than the cap) until it ends, however it ends: finished, failed, cancelled, superseded, its execution
stopped or failed outside the workflow, or its start failed. Freeing is idempotent, so two paths may both free it.
A slot whose release was lost (a crash between take and start) is found at the next refusal: a slot whose run has
ended, or was never recorded START_GRACE_SECONDS after it was taken, is freed then, and the start tried again.
A refusal examines at most LOST_CHECK held slots (one read): the oldest half of them, where a lost slot sits once
the runs around it end, and the rest drawn at random from the others; a refused webhook never reads every run of a
pipeline at its limit (up to 1000).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from secrets import SystemRandom
from typing import Protocol

from .deliveries import run_id_for_delivery
from .errors import HookrunError, RunLimitReached
from .models import RunRequest, RunStatus, Trigger
from .ports import RunSecrets, RunSlots, RunStarter, RunStatuses, SlotTake

# the ports re-exported: the use cases that take slots name them from here
__all__ = [
    "INLINE_REQUEST_BYTES",
    "LOST_CHECK",
    "START_GRACE_SECONDS",
    "EarlySlot",
    "RunSlots",
    "RunStatuses",
    "StartParts",
    "early_slot",
    "free_slot",
    "slot_of",
    "start_in_a_slot",
    "take_slot",
]

# a run is recorded by its workflow's first state within seconds of its start; one unrecorded this long never started
START_GRACE_SECONDS = 120
LOST_CHECK = 100  # held slots a refusal examines: one BatchGetItem (its most keys)


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


class EarlySlot:
    """A run's slot taken before its pipeline is read, alongside that read, under the limit kept with the slots.

    The take counts only if it is the slot of the run that starts, judged by that run's limit (the pipeline as read
    now); otherwise what it took is freed and the slot taken again, by the pipeline's limit. A refused request
    drops it: its slot is freed.
    """

    def __init__(
        self, slots: RunSlots, ceiling: int, *, pipeline_id: str, incarnation: str, run_id: str, created_at: str
    ) -> None:
        self._slots, self._pipeline_id, self._incarnation = slots, pipeline_id, incarnation
        self.run_id, self.created_at, self._ceiling = run_id, created_at, ceiling
        self._slot = f"{created_at}#{run_id}"
        self._pending: Callable[[], SlotTake] | None = slots.begin_take(pipeline_id, incarnation, self._slot, ceiling)

    def claim(self, slot: str, limit: int) -> SlotTake | None:
        """The take's answer if it is `slot`'s, judged by `limit`; else None, anything it took freed.

        Raises Unavailable if the take failed.
        """
        took = self._settle()
        if took is None:
            return None
        judged_by = None if took.limit is None else min(took.limit, self._ceiling)
        if slot == self._slot and judged_by == limit:
            return took
        self._free(took)
        return None

    def drop(self) -> None:
        """The request was refused: free the slot if the take got it (and nobody claimed it)."""
        with suppress(HookrunError):
            took = self._settle()
            if took is not None:
                self._free(took)

    def _settle(self) -> SlotTake | None:
        pending, self._pending = self._pending, None
        return pending() if pending is not None else None

    def _free(self, took: SlotTake) -> None:
        if took.taken and not took.held_already:
            self._slots.free_slots(self._pipeline_id, self._incarnation, [self._slot])


class EarlyPorts(Protocol):
    """What taking a webhook's slot early needs (TriggerPorts has it)."""

    @property
    def slots(self) -> RunSlots: ...
    @property
    def stack_run_limit(self) -> int: ...
    @property
    def new_run_id(self) -> Callable[[], str]: ...


def early_slot(
    ports: EarlyPorts, trigger: Trigger, key: str | None, keyed_by_body: bool, received_at: str
) -> list[EarlySlot]:
    """A delivery's slot taken alongside the read of its pipeline (one sequential call less), if its run's id is
    known from its headers (`key`, else a new id unless a source event's key comes from its body, read later)."""
    if key is None and keyed_by_body:
        return []
    run_id = run_id_for_delivery(trigger.pipeline_id, key, trigger.incarnation) if key else ports.new_run_id()
    ids = {"pipeline_id": trigger.pipeline_id, "incarnation": trigger.incarnation, "run_id": run_id}
    return [EarlySlot(ports.slots, ports.stack_run_limit, **ids, created_at=received_at)]


def take_slot(
    slots: RunSlots, statuses: RunStatuses, run: SlotHolder, limit: int, now: str, *, early: EarlySlot | None = None
) -> bool:
    """Hold one of the pipeline's `limit` slots for `run`, before it starts (with the `early` take if it counts).
    False if it held it already (a repeated start of the same run, whose slot is not this start's to free).

    Raises RunLimitReached when `limit` runs that have not ended hold them all; nothing is kept then.
    """
    slot = slot_of(run)
    took = early.claim(slot, limit) if early is not None else None
    if took is None:
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
    """Slots still held by runs that ended, or by runs never recorded long after their slot was taken, among those
    examined (`_examined_slots`)."""
    from .runs import TERMINAL  # here: the webhook's cold start does not import the run rules, nor its hot path

    holders = {slot: slot.rpartition("#") for slot in _examined_slots(held)}
    found = statuses.run_statuses([run_id for _, _, run_id in holders.values()])
    lost = []
    for slot, (taken_at, _, run_id) in holders.items():
        status: RunStatus | None = found.get(run_id)
        if status in TERMINAL or (status is None and _age_seconds(taken_at, now) > START_GRACE_SECONDS):
            lost.append(slot)
    return lost


def _examined_slots(held: Sequence[str]) -> list[str]:
    """The held slots a refusal looks at: all of them up to LOST_CHECK, else the oldest LOST_CHECK / 2 (slots sort by
    the time they were taken) and as many others at random."""
    ordered = sorted(set(held))
    if len(ordered) <= LOST_CHECK:
        return ordered
    oldest, others = ordered[: LOST_CHECK // 2], ordered[LOST_CHECK // 2 :]
    return oldest + SystemRandom().sample(others, LOST_CHECK - len(oldest))


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


INLINE_REQUEST_BYTES = 8 * 1024  # a request this small travels in its execution input (its history stays small)


def travels_inline(run: RunRequest, secrets: Mapping[str, str]) -> bool:
    """Whether `run` is started with its request in the execution input, kept by the workflow's first state: only a
    request under INLINE_REQUEST_BYTES (as JSON) with no secret value (they never go into execution history)."""
    return not secrets and len(run.model_dump_json(by_alias=True).encode()) < INLINE_REQUEST_BYTES


def start_in_a_slot(
    ports: StartPorts,
    run: RunRequest,
    secrets: Mapping[str, str],
    limit: int,
    now: str,
    *,
    early: EarlySlot | None = None,
) -> None:
    """Take the run's slot under `limit` (the pipeline's maxRunningRuns, at most the stack's; the `early` take if it
    counts), keep its request and secret values, start it: a run that does not start keeps none.

    Raises RunLimitReached (nothing taken or kept), RunAlreadyStarted (a replay: the run that started holds a slot
    and secrets of its own) or Unavailable.
    """
    took = take_slot(ports.slots, ports.run_statuses, run, min(limit, ports.stack_run_limit), now, early=early)
    kept = False
    inline = travels_inline(run, secrets)
    try:
        if not inline:  # one call more on the hot path: only for a large request or one with secret values
            kept = ports.secrets.put_run_request(run, secrets)
        ports.runs.start_run(run, inline=inline)
    except BaseException:
        with suppress(HookrunError):  # a slot left held is freed at the next refusal, the request by its TTL
            if kept:
                ports.secrets.delete_run_request(run.run_id)
            if took:
                free_slot(ports.slots, run)
        raise
