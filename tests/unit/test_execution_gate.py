"""The local stack admits Step Functions executions in turn (hookrun.moto_speed.ExecutionGate)."""

from __future__ import annotations

import threading
import time
from typing import Any

from hookrun.moto_speed import ExecutionGate

BOUND_SECONDS = 30
NEVER = 3600.0


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.01)


def enter_in_background(gate: ExecutionGate, stopped: threading.Event | None = None) -> list[bool]:
    admitted: list[bool] = []
    flag = stopped or threading.Event()
    threading.Thread(target=lambda: admitted.append(gate.enter(flag.is_set)), daemon=True).start()
    return admitted


def test_executions_beyond_the_limit_wait_until_one_ends() -> None:
    gate = ExecutionGate(limit=2, every=NEVER)
    assert gate.enter(lambda: False)
    assert gate.enter(lambda: False)
    third = enter_in_background(gate)
    wait_until(lambda: gate.waiting == 1)
    assert third == []
    gate.leave()
    wait_until(lambda: third == [True])
    assert (gate.running, gate.waiting) == (2, 0)


def test_waiting_executions_are_admitted_in_the_order_they_came() -> None:
    gate = ExecutionGate(limit=1, every=NEVER)
    assert gate.enter(lambda: False)
    order: list[str] = []
    for name in "abc":
        threading.Thread(target=lambda n=name: gate.enter(lambda: False) and order.append(n), daemon=True).start()
        wait_until(lambda n=name: gate.waiting == "abc".index(n) + 1)
    for count in (1, 2, 3):
        gate.leave()
        wait_until(lambda c=count: len(order) == c)
    assert order == ["a", "b", "c"]


def test_long_running_executions_do_not_hold_the_next_back_for_ever() -> None:
    gate = ExecutionGate(limit=1, every=0.1)
    assert gate.enter(lambda: False)  # and never leaves, as a run with a long job
    second = enter_in_background(gate)
    wait_until(lambda: second == [True])
    assert gate.running == 2


def test_an_execution_stopped_while_it_waits_leaves_the_queue_unadmitted() -> None:
    gate = ExecutionGate(limit=1, every=NEVER)
    assert gate.enter(lambda: False)
    stopped = threading.Event()
    waiting = enter_in_background(gate, stopped)
    wait_until(lambda: gate.waiting == 1)
    stopped.set()
    gate.wake()
    wait_until(lambda: waiting == [False])
    assert (gate.running, gate.waiting) == (1, 0)
