"""The local stack's watcher that kills the running jobs of runs that have ended."""

from __future__ import annotations

from hookrun.local_jobs import EndedRunJobs


def test_only_the_jobs_of_runs_that_ended_are_killed() -> None:
    running = ["ended-run", "live-run", "ended-run"]
    killed: list[str] = []
    watcher = EndedRunJobs(lambda: running, lambda run_id: run_id.startswith("ended"), killed.append)

    assert watcher.poll() == ["ended-run"]
    assert killed == ["ended-run"]


def test_no_run_served_asks_nothing() -> None:
    asked: list[str] = []
    watcher = EndedRunJobs(list, lambda run_id: asked.append(run_id) or True, lambda run_id: None)

    assert watcher.poll() == []
    assert asked == []
