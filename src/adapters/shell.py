"""Running a job's script in a shell: fail-fast, with a timeout, keeping only the tail of the output."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess  # nosec B404 # runs the job's script: the job runner's purpose
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, cast

from domain.models import is_reserved_name
from domain.runs import MAX_OUTPUT_BYTES, ExecutionResult

# A little more than is stored, so a secret cut at the edge can still be masked before the final cut.
_KEEP_BYTES = MAX_OUTPUT_BYTES + 4096
_DEFAULT_LOCALE = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_PATH = "/usr/local/bin:/usr/bin:/bin"
STOP_CHECK_SECONDS = 1.0  # how often a running job asks whether its run was cancelled


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


class ShellExecutor:
    """ScriptExecutor: bash with `-e -o pipefail`, in a fresh working directory, own process group."""

    def __init__(self, shell: str | None = None) -> None:
        self._shell = shell or shutil.which("bash") or "/bin/sh"

    def execute(
        self,
        script: Sequence[str],
        environment: Mapping[str, str],
        timeout_seconds: int,
        should_stop: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        workdir = tempfile.mkdtemp(prefix="hookrun-job-")
        # the domain refuses reserved names; dropping them here too keeps the shell safe whatever the caller
        env = {name: value for name, value in environment.items() if not is_reserved_name(name)}
        env = {**_DEFAULT_LOCALE, **env, "PATH": _PATH, "HOME": workdir, "TMPDIR": workdir}
        flags = ["-e", "-o", "pipefail"] if self._shell.endswith("bash") else ["-e"]
        started = time.monotonic()
        try:
            process = subprocess.Popen(  # nosec B603 # argv list, no shell=True; the script is the pipeline's own
                [self._shell, "--noprofile", "--norc", *flags, "-c", "\n".join(script)]
                if self._shell.endswith("bash")
                else [self._shell, *flags, "-c", "\n".join(script)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a timeout kills everything it started
            )
            tail = _TailBuffer(cast(IO[bytes], process.stdout))  # stdout=PIPE always sets it
            exit_code, timed_out, cancelled = _wait(process, started + timeout_seconds, should_stop)
            tail.join(timeout=5)
            return ExecutionResult(
                exit_code=exit_code,
                output=bytes(tail.data).decode("utf-8", errors="replace"),
                duration_ms=int((time.monotonic() - started) * 1000),
                timed_out=timed_out,
                dropped_bytes=tail.dropped,
                cancelled=cancelled,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _wait(
    process: subprocess.Popen[bytes], deadline: float, should_stop: Callable[[], bool] | None
) -> tuple[int | None, bool, bool]:
    """Wait for the script: (exit code, timed out, cancelled). Its process group is killed at the deadline or
    as soon as `should_stop` says so."""
    while True:
        remaining = deadline - time.monotonic()
        try:
            return process.wait(timeout=max(0.0, min(remaining, STOP_CHECK_SECONDS))), False, False
        except subprocess.TimeoutExpired:
            pass
        timed_out = time.monotonic() >= deadline
        if timed_out or (should_stop is not None and should_stop()):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None, timed_out, not timed_out
