"""ShellExecutor: a real shell, fail-fast, timeouts, output tails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import supervisor
from adapters.shell import JobLimits, ShellExecutor
from domain.runs import JobScript

_LIMITS = {"memoryBytes": 2**30, "fileBytes": 2**30, "processes": 256}


def test_lines_run_in_order_with_the_given_environment() -> None:
    result = ShellExecutor().execute(JobScript(['echo "abc is $abc"', "echo second"], {"abc": "456"}, 10))
    assert (result.exit_code, result.output, result.timed_out) == (0, "abc is 456\nsecond\n", False)


def test_the_first_failing_line_stops_the_script() -> None:
    result = ShellExecutor().execute(JobScript(["echo one", "false", "echo never"], {}, 10))
    assert (result.exit_code, result.output) == (1, "one\n")


def test_a_failing_command_in_a_pipe_fails_the_script() -> None:
    assert ShellExecutor().execute(JobScript(["false | cat"], {}, 10)).exit_code == 1


def test_stderr_is_part_of_the_output() -> None:
    assert ShellExecutor().execute(JobScript(["echo oops >&2"], {}, 10)).output == "oops\n"


def test_timeout_kills_the_script_and_its_children() -> None:
    result = ShellExecutor().execute(JobScript(["sleep 30 &", "echo started", "wait"], {}, 1))
    assert result.timed_out and result.exit_code is None
    assert result.output == "started\n"
    assert result.duration_ms < 10_000


def test_huge_output_keeps_only_the_tail() -> None:
    result = ShellExecutor().execute(JobScript(["head -c 5000000 /dev/zero | tr '\\0' x", "echo; echo END"], {}, 30))
    assert result.output.endswith("END\n")
    assert result.dropped_bytes > 4_000_000
    assert len(result.output) < 80_000


def test_the_function_environment_does_not_leak_into_jobs(monkeypatch: object) -> None:
    os.environ["AWS_SECRET_ACCESS_KEY_PROBE"] = "leak"
    try:
        assert (
            ShellExecutor().execute(JobScript(["echo ${AWS_SECRET_ACCESS_KEY_PROBE:-none}"], {}, 10)).output == "none\n"
        )
    finally:
        del os.environ["AWS_SECRET_ACCESS_KEY_PROBE"]


def test_reserved_names_never_reach_the_shell() -> None:
    result = ShellExecutor().execute(
        JobScript(['echo "[$FOO]"'], {"BASH_ENV": "/dev/null; echo injected", "FOO": "ok"}, 10)
    )
    assert result.output == "[ok]\n"


def _alive(pid: int) -> bool:
    """True if `pid` is a live process (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


def test_no_process_a_job_started_survives_it_whatever_it_did() -> None:
    script = [
        "sleep 300 & echo $!",
        "setsid sleep 300 & echo $!",
        "nohup sleep 300 >/dev/null 2>&1 & echo $!",
        # a double fork: the middle process exits at once, its child is orphaned
        "(setsid sh -c 'sleep 300 >/dev/null & echo $!' &) | cat",
    ]
    result = ShellExecutor().execute(JobScript(script, {}, 30))
    assert result.exit_code == 0
    pids = [int(line) for line in result.output.splitlines() if line.isdigit()]
    assert len(pids) == 4
    assert [pid for pid in pids if _alive(pid)] == []


def test_what_background_processes_printed_is_kept_and_their_stop_is_said() -> None:
    script = ["mkfifo printed", "(echo from the background; echo > printed; exec sleep 300) &", "read < printed"]
    result = ShellExecutor().execute(JobScript(script, {}, 30))
    assert result.exit_code == 0
    assert result.output == (
        "from the background\n"
        "[hookrun: the script ended with 1 process(es) of its own still running; they were stopped]\n"
    )


def test_a_job_cannot_write_outside_its_working_directory(tmp_path: Path) -> None:
    _needs_confinement()
    target = tmp_path / "written"
    result = ShellExecutor().execute(JobScript([f"touch {target} || echo refused", "touch here && echo mine"], {}, 10))
    assert "refused" in result.output and "mine" in result.output
    assert not target.exists()


def test_a_job_cannot_read_the_environment_of_the_process_that_runs_it() -> None:
    _needs_confinement()
    result = ShellExecutor().execute(JobScript([f"cat /proc/{os.getpid()}/environ >/dev/null || echo refused"], {}, 10))
    assert result.output.endswith("refused\n")


def test_a_job_cannot_signal_the_process_that_runs_it() -> None:
    _needs_confinement()
    result = ShellExecutor().execute(JobScript([f"kill -0 {os.getpid()} 2>/dev/null || echo refused"], {}, 10))
    assert result.output == "refused\n"


def test_a_job_runs_under_its_limits() -> None:
    limits = JobLimits(memory_bytes=512 * 1024**2, file_bytes=8 * 1024**2, processes=64)
    result = ShellExecutor(limits=limits).execute(JobScript(["ulimit -d", "ulimit -f", "ulimit -c"], {}, 10))
    # bash reports the data and file limits in KiB
    assert result.output.splitlines() == [str(512 * 1024), str(8 * 1024), "0"]


def test_a_file_bigger_than_the_limit_cannot_be_written() -> None:
    limits = JobLimits(file_bytes=1024**2)
    result = ShellExecutor(limits=limits).execute(
        JobScript(["head -c 2000000 /dev/zero > big || echo cut", "wc -c < big"], {}, 10)
    )
    assert result.output.splitlines()[-2:] == ["cut", str(1024**2)]


def test_a_job_that_times_out_leaves_nothing_behind() -> None:
    result = ShellExecutor().execute(JobScript(["setsid sleep 300 & echo $!", "sleep 300"], {}, 1))
    assert result.timed_out
    assert not _alive(int(result.output.split()[0]))


def test_a_job_stopped_from_outside_leaves_nothing_behind(tmp_path: Path) -> None:
    """The supervisor stops the job when asked (SIGTERM), as when the job runner gives up on it."""
    result_read, result_write = os.pipe()
    config = {"workdir": str(tmp_path), "timeoutSeconds": 300, "resultFd": result_write, "limits": _LIMITS}
    script = "setsid sleep 300 & echo $!; exec sleep 300"
    with subprocess.Popen(
        [sys.executable, "-I", "-S", supervisor.__file__, json.dumps(config), "--", "/bin/sh", "-c", script],
        stdout=subprocess.PIPE,
        pass_fds=(result_write,),
    ) as process:
        os.close(result_write)
        assert process.stdout is not None
        pid = int(process.stdout.readline())
        process.terminate()
        assert process.wait(timeout=30) != 0
    with os.fdopen(result_read) as verdict:
        assert json.load(verdict)["timedOut"] is False
    assert not _alive(pid)


def _needs_confinement() -> None:
    if os.geteuid() != 0 and supervisor.landlock_abi() < 6:
        pytest.skip("jobs are confined by running as nobody (needs root) or by Landlock ABI 6 (Linux 6.12)")
