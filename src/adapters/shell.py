"""Running a job's script in a shell: fail-fast, with a timeout, keeping only the tail of the output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess  # nosec B404 # runs the job's script: the job runner's purpose
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from domain.models import is_reserved_name
from domain.runs import MAX_OUTPUT_BYTES, ExecutionResult, JobScript, StopCheck

# A little more than is stored, so a secret cut at the edge can still be masked before the final cut.
_KEEP_BYTES = MAX_OUTPUT_BYTES + 4096
_DEFAULT_LOCALE = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_PATH = "/usr/local/bin:/usr/bin:/bin"
SUPERVISOR = str(Path(__file__).with_name("supervisor.py"))
_SUPERVISOR_GRACE_SECONDS = 10
STOP_CHECK_SECONDS = 1.0  # how often a running job asks whether its run was cancelled
_STOPPED_NOTE = "[hookrun: the script ended with {count} process(es) of its own still running; they were stopped]\n"


class _TailBuffer:
    """Reads a stream to its end, keeping only the last `limit` bytes and counting the rest."""

    def __init__(self, stream: IO[bytes], limit: int = _KEEP_BYTES) -> None:
        self.data = bytearray()
        self.dropped = 0
        self._stream = stream
        self._limit = limit
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := self._stream.read(65536):
            self.data.extend(chunk)
            excess = len(self.data) - self._limit
            if excess > 0:
                del self.data[:excess]
                self.dropped += excess

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@dataclass(frozen=True)
class JobLimits:
    """What one process of a job may use (rlimits); `processes` applies when jobs run as their own user."""

    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 1024**3
    processes: int = 256


def start_supervised(
    command: Sequence[str], workdir: str, env: Mapping[str, str], timeout_seconds: float, limits: JobLimits
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `command` under the job supervisor, in its own session with output on one pipe; the process and the
    read end of the supervisor's result pipe (its verdict as JSON, nothing if it was killed)."""
    result_read, result_write = os.pipe()
    config = {
        "workdir": workdir,
        "timeoutSeconds": timeout_seconds,
        "resultFd": result_write,
        "limits": {"memoryBytes": limits.memory_bytes, "fileBytes": limits.file_bytes, "processes": limits.processes},
    }
    try:
        process = subprocess.Popen(  # nosec B603 # argv list, no shell=True; the command is the job's own
            [sys.executable, "-I", "-S", SUPERVISOR, json.dumps(config), "--", *command],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(result_write,),
            start_new_session=True,
        )
    except BaseException:
        os.close(result_read)
        raise
    finally:
        os.close(result_write)
    return process, result_read


class ShellExecutor:
    """ScriptExecutor: bash with `-e -o pipefail`, in a fresh working directory, under the job supervisor.

    The supervisor (adapters/supervisor.py) kills whatever the script left running when it ends: a job's output is
    what it printed until then, and a line says how many processes were stopped.
    """

    def __init__(self, shell: str | None = None, limits: JobLimits | None = None) -> None:
        self._shell = shell or shutil.which("bash") or "/bin/sh"
        self._limits = limits or JobLimits()

    def execute(self, script: JobScript, should_stop: StopCheck | None = None) -> ExecutionResult:
        workdir = tempfile.mkdtemp(prefix="hookrun-job-")
        # the domain refuses reserved names; dropping them here too keeps the shell safe whatever the caller
        env = {name: value for name, value in script.environment.items() if not is_reserved_name(name)}
        env = {**_DEFAULT_LOCALE, **env, "PATH": _PATH, "HOME": workdir, "TMPDIR": workdir}
        flags = ["-e", "-o", "pipefail"] if self._shell.endswith("bash") else ["-e"]
        shell = [self._shell, "--noprofile", "--norc"] if self._shell.endswith("bash") else [self._shell]
        started = time.monotonic()
        try:
            process, result_read = start_supervised(
                [*shell, *flags, "-c", "\n".join(script.lines)], workdir, env, script.timeout_seconds, self._limits
            )
            tail = _TailBuffer(cast(IO[bytes], process.stdout))  # stdout=PIPE always sets it
            outcome = _Outcome(result_read)
            cancelled = _wait(process, started + script.timeout_seconds + _SUPERVISOR_GRACE_SECONDS, should_stop)
            outcome.join(_SUPERVISOR_GRACE_SECONDS)
            tail.join(timeout=5)
            output = bytes(tail.data).decode("utf-8", errors="replace")
            if outcome.stopped:
                output += _STOPPED_NOTE.format(count=outcome.stopped)
            return ExecutionResult(
                exit_code=None if outcome.timed_out else outcome.exit_code,
                output=output,
                duration_ms=int((time.monotonic() - started) * 1000),
                timed_out=outcome.timed_out and not cancelled,
                dropped_bytes=tail.dropped,
                cancelled=cancelled,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class _Outcome:
    """The supervisor's verdict, read from its result pipe: exit code, timeout, processes stopped."""

    def __init__(self, fd: int) -> None:
        self.exit_code: int | None = None
        self.timed_out = True  # until the supervisor says otherwise: no verdict means it was stopped from outside
        self.stopped = 0
        self._file = os.fdopen(fd, "rb")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._file:
            data = self._file.read()
        if data:
            verdict = json.loads(data)
            self.exit_code, self.timed_out, self.stopped = verdict["exitCode"], verdict["timedOut"], verdict["stopped"]

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _wait(process: subprocess.Popen[bytes], deadline: float, should_stop: StopCheck | None) -> bool:
    """Wait for the supervisor until `deadline`, asking `should_stop` every second; True if the job was stopped
    because it said so."""
    while True:
        try:
            process.wait(timeout=max(0.0, min(deadline - time.monotonic(), STOP_CHECK_SECONDS)))
            return False
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            _stop(process)
            return False
        if should_stop is not None and should_stop():
            _stop(process)
            return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the supervisor to stop the job (its timeout passed, or its run was cancelled), then stop it."""
    process.terminate()
    try:
        process.wait(timeout=_SUPERVISOR_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
