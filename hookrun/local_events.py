"""EventBridge on the local stack: Step Functions' execution status changes, delivered as AWS delivers them.

In AWS, a rule of template.yaml sends "Step Functions Execution Status Change" events for the pipeline's state
machine to a function of ours. moto emits no such events, so a thread of the stack process looks at moto's
executions every POLL_SECONDS and invokes the rule's function (through moto's Lambda, as EventBridge would) with
the same event shape for each execution that ended in one of the rule's statuses since the stack started.
An execution's run is therefore reconciled within RECONCILE_BOUND_SECONDS of its end.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from hookrun.template import EXECUTION_STATUS_CHANGE, ExecutionRule

POLL_SECONDS = 1.0
RECONCILE_BOUND_SECONDS = 5  # a poll, the function's invocation and its few writes, on a loaded machine
MAX_ATTEMPTS = 10  # EventBridge retries a failed delivery too; a later poll tries again

log = logging.getLogger("local.events")


def _millis(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def _status(execution: Any) -> str:
    try:
        return str(execution.status)
    except AttributeError:  # moto lists an execution a moment before it gives it a status
        return "RUNNING"


def status_change_event(execution: Any, state_machine_arn: str, region: str, account_id: str) -> dict[str, Any]:
    """The EventBridge event AWS sends when `execution` (a moto execution) changed status."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EXECUTION_STATUS_CHANGE,
        "source": "aws.states",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution.execution_arn],
        "detail": {
            "executionArn": execution.execution_arn,
            "stateMachineArn": state_machine_arn,
            "name": execution.name,
            "status": _status(execution),
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(execution.stop_date),
            "input": execution.execution_input,
            "inputDetails": {"included": True},
            "output": None,
            "error": getattr(execution, "error", None),
            "cause": getattr(execution, "cause", None),
        },
    }


class ExecutionEvents:
    """Delivers the status changes of executions that end from now on to the rules' functions."""

    def __init__(
        self,
        executions: Callable[[], Iterable[Any]],
        rules: list[ExecutionRule],
        invoke: Callable[[str, dict[str, Any]], Any],
        event: Callable[[Any], dict[str, Any]],
    ) -> None:
        self._executions = executions
        self._rules = rules
        self._invoke = invoke
        self._event = event
        self._statuses = frozenset(status for rule in rules for status in rule.statuses)
        self._done: set[str] = set()
        self._attempts: dict[str, int] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-events", daemon=True)

    def start(self) -> None:
        # executions that ended before this start (restored from the data folder) were settled then
        self._done = {e.execution_arn for e in self._executions() if _status(e) != "RUNNING"}
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def poll(self) -> int:
        """Deliver what ended since the last poll; how many events were delivered."""
        delivered = 0
        for execution in list(self._executions()):
            arn, status = execution.execution_arn, _status(execution)
            if status == "RUNNING" or arn in self._done:
                continue
            if status not in self._statuses:
                self._done.add(arn)
                continue
            event = self._event(execution)
            try:
                for rule in self._rules:
                    if status in rule.statuses:
                        self._invoke(rule.function, event)
            except Exception as exc:  # a failed delivery is retried at the next poll, as EventBridge does
                self._attempts[arn] = self._attempts.get(arn, 0) + 1
                log.warning("delivering %s of %s failed (attempt %d): %s", status, arn, self._attempts[arn], exc)
                if self._attempts[arn] < MAX_ATTEMPTS:
                    continue
            self._done.add(arn)
            self._attempts.pop(arn, None)
            delivered += 1
        return delivered

    def _run(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:  # the watcher must outlive one bad look at moto's state
                log.exception("looking at the executions failed")
