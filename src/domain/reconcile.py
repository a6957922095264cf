"""Executions that end outside the workflow (failed, timed out, stopped): their runs end too, with a reason.

In AWS an EventBridge rule sends Step Functions' execution status changes to the run status function; the local
stack emulates it (hookrun/local_events.py).
"""

from __future__ import annotations

from .groups import let_go
from .models import RunRequest, RunStatus
from .runs import TERMINAL
from .workflow import WorkflowPorts, record_run_failure

# How an execution that ended without recording its run's end is told in the run's reason.
_EXECUTION_ENDS = {
    "FAILED": ("EXECUTION_FAILED", "the run's workflow execution failed"),
    "TIMED_OUT": ("EXECUTION_TIMED_OUT", "the run's workflow execution ran out of time"),
    "ABORTED": ("EXECUTION_ABORTED", "the run's workflow execution was stopped outside hookrun"),
}


def reconcile_execution(ports: WorkflowPorts, run: RunRequest, status: str, error: str, cause: str) -> RunStatus:
    """An execution ended (failed, timed out, aborted): leave its run, stages and jobs terminal, with a reason.

    A run already ended keeps its status and reason (and leaves its group); one never recorded is recorded first.
    """
    view = ports.runs.get_run(run.run_id)
    if view is not None and view.status in TERMINAL:
        let_go(ports.groups, ports.slots, view)  # however it ended, it no longer holds its group nor its slot
        return view.status
    code, default_cause = _EXECUTION_ENDS.get(status, ("EXECUTION_ENDED", f"the execution ended {status}"))
    details = ": ".join(part for part in (error, cause) if part) or default_cause
    return record_run_failure(ports, run, code, details)
