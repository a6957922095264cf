"""The local stack's end of a stopped lambda job: the job runner's sandboxes serving runs that ended are killed.

In AWS a running Lambda cannot be stopped from outside: once a job's run has ended (cancelled, superseded, ended
by a reconcile), the job status function stops waiting for the job runner and discards its result, and the script
runs on to its own end or timeout. On the local stack a user expects the job's processes to end with the run. The
job runner's invocations are tagged with their run (hookrun.local_stack reads the payload's HOOKRUN_RUN_ID); a
thread of the stack looks every POLL_SECONDS at the recorded status of the runs served now and kills the sandboxes
of those that ended, with the job's processes (hookrun.sandbox kills a sandbox with the groups its children
started). The rule is the job status function's own (`has_ended`), so the two stop at the same signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

POLL_SECONDS = 1.0

log = logging.getLogger("local.jobs")


class EndedRunJobs:
    """Kills the running jobs of runs that have ended: `running()` gives the runs served, `kill(run)` ends them."""

    def __init__(
        self, running: Callable[[], Iterable[str]], ended: Callable[[str], bool], kill: Callable[[str], Any]
    ) -> None:
        self._running = running
        self._ended = ended
        self._kill = kill
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def poll(self) -> list[str]:
        """Kill the jobs of the runs served now that have ended; those runs."""
        ended = [run_id for run_id in set(self._running()) if self._ended(run_id)]
        for run_id in ended:
            self._kill(run_id)
            log.info("run %s has ended: its running jobs were killed", run_id)
        return ended

    def _run(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:  # the watcher must outlive one failed look
                log.exception("looking for the jobs of ended runs failed")
