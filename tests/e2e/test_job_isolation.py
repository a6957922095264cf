"""A job's processes end with the job: nothing it started is left to watch the jobs that come after it."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.e2e.conftest import RunningStack, wait_for_run
from tests.e2e.test_runs import job, new_pipeline, post

# bash's `exec -a` names a process; the mark is a variable, so no script's own command line contains it
SPAWN = [
    '(exec -a "$MARK" sleep 300) & echo $!',
    "setsid bash -c 'exec -a \"$MARK\" sleep 300' & echo $!",
    "(setsid bash -c '(exec -a \"$MARK\" sleep 300) >/dev/null & echo $!' &) | cat",
    # a spy: reads every environment it can, forever
    "setsid bash -c 'while :; do cat /proc/[0-9]*/environ >/dev/null 2>&1; sleep 0.1; done' & echo $!",
    "echo spawned",
]
COUNT = [
    "seen=0",
    "for f in /proc/[0-9]*/cmdline; do",
    # stderr first: redirections apply left to right, and a process may end between the glob and the read
    '  case "$(tr "\\0" " " 2>/dev/null < "$f")" in *"$MARK"*) seen=$((seen+1));; esac',
    "done",
    'echo "seen=$seen"',
]


def _marked(mark: str) -> list[int]:
    """The processes, seen from outside the stack, whose command line carries `mark`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if mark.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_processes_a_job_starts_in_the_background_end_with_it(local_stack: RunningStack) -> None:
    mark = f"hookrun-spy-{uuid.uuid4().hex}"
    variables = {"MARK": mark}
    spawner = new_pipeline(
        local_stack, [{"name": "s", "jobs": [{"name": "spawn", "script": SPAWN}]}], variables=variables
    )
    run = wait_for_run(local_stack.endpoint, post(spawner).json()["runId"], user="admin")
    output = job(run, "s", "spawn")["output"]
    assert run["status"] == "SUCCEEDED" and "spawned" in output, output
    assert "they were stopped" in output
    assert _marked(mark) == []

    counter = new_pipeline(
        local_stack, [{"name": "s", "jobs": [{"name": "count", "script": COUNT}]}], variables=variables
    )
    run = wait_for_run(local_stack.endpoint, post(counter).json()["runId"], user="admin")
    assert job(run, "s", "count")["output"] == "seen=0\n"


def test_a_job_that_leaves_a_process_running_keeps_its_output(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack, [{"name": "s", "jobs": [{"name": "leave", "script": ["echo before", "sleep 25 &", "echo after"]}]}]
    )
    run = wait_for_run(local_stack.endpoint, post(url).json()["runId"], user="admin")
    assert run["status"] == "SUCCEEDED"
    assert job(run, "s", "leave")["output"] == (
        "before\nafter\n[hookrun: the script ended with 1 process(es) of its own still running; they were stopped]\n"
    )
