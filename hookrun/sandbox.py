"""Sandboxes: each function's invocations run in worker processes of its own, as Lambda runs them.

A `Sandboxes` holds one `FunctionPool` per function. A pool starts sandboxes on demand (each a
`python -P -m hookrun.sandbox_runtime` process in its own session, see that module), up to the function's limit,
and reuses warm ones, one invocation at a time each. An invocation that finds every sandbox busy waits for the
first one free, and if none is free within GROW_AFTER_SECONDS starts another, if the limit allows (Lambda starts
one at once, and answers 429 at its limit: the local stack queues instead, as a cold Python start costs more than
a short wait on a machine of 2 cores). The limit is the function's `ReservedConcurrentExecutions` if the template
sets it, else DEFAULT_CONCURRENCY (the job runner's Map runs at most 10 jobs of a stage at once).

A sandbox's environment is built from scratch, never inherited from the stack: PATH, HOME, LANG and TZ; the
function's variables as template.yaml gives them; what Lambda sets (AWS_LAMBDA_FUNCTION_NAME, _HANDLER,
LAMBDA_TASK_ROOT, AWS_REGION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, ...); AWS_ENDPOINT_URL pointing at moto; and the
function's credentials. Its `Timeout` is enforced from outside: a sandbox that has not answered in time is killed
with its process group (and the groups its children started), and the invocation answers `Sandbox.Timedout`
as Lambda does. Errors come back as Lambda reports them: `{"errorType", "errorMessage", "stackTrace"}`.

Credentials are the one seam for IAM: `Sandboxes(..., credentials=CALLABLE)`, where CALLABLE takes a
`FunctionSpec` and returns the environment variables that carry its credentials (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and, for a role's temporary ones, AWS_SESSION_TOKEN). It is called each time a sandbox
starts. The local stack gives each function its role's (hookrun/local_iam.py); the default, `moto_credentials`,
gives moto's fake "testing" keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess  # nosec B404 # the sandboxes are our own runtime processes
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

DEFAULT_CONCURRENCY = 10
GROW_AFTER_SECONDS = 0.1
INIT_TIMEOUT_SECONDS = 60.0  # generous: a cold start on a busy 2-core machine takes seconds, not Lambda's 10
_BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class FunctionSpec:
    """What a function's sandboxes need: its handler and code root, settings and the template's variables."""

    name: str
    handler: str
    code_root: Path
    arn: str = ""
    timeout: float = 3.0
    memory_size: int = 128
    concurrency: int = DEFAULT_CONCURRENCY
    variables: Mapping[str, str] = field(default_factory=dict)
    nice: int = 0  # added to the sandbox's niceness: background functions yield the CPU to the webhook's


Credentials = Callable[[FunctionSpec], Mapping[str, str]]
"""The environment variables holding the credentials a function's sandboxes call AWS with."""


def moto_credentials(spec: FunctionSpec) -> Mapping[str, str]:
    """moto's fake keys, the same for every function (until IAM is enforced, moto accepts any)."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class Invocation:
    """A sandbox's answer: the payload, and Lambda's `FunctionError` ("Unhandled") if the function failed."""

    payload: bytes
    function_error: str | None = None

    @classmethod
    def failed(cls, error_type: str, message: str, stack: list[str] | None = None) -> Invocation:
        body = {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}
        return cls(json.dumps(body).encode(), "Unhandled")


class SandboxGone(Exception):
    """The sandbox process ended or stopped answering before it answered."""


def sandbox_environment(
    spec: FunctionSpec, region: str, endpoint: str, credentials: Mapping[str, str]
) -> dict[str, str]:
    """Everything a sandbox's process sees in os.environ, built from scratch."""
    return {
        "PATH": _BASE_PATH,
        "HOME": "/tmp",  # noqa: S108 - Lambda's only writable place
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        **spec.variables,
        "LAMBDA_TASK_ROOT": str(spec.code_root),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": endpoint,
        **credentials,
    }


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (by parent id, as `ps` lists them); none if `ps` cannot be run."""
    try:
        listing = subprocess.run(  # nosec B603 B607 # a fixed argv
            ["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    parents: dict[int, list[int]] = {}
    for line in listing.splitlines():
        child, parent = (int(part) for part in line.split())
        parents.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL the process group of `pid` and those its descendants started (a job's shell has its own)."""
    groups = {pid}
    for child in _children(pid):
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(child))
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)


class Sandbox:
    """One worker process of a function: started, initialised, then one invocation at a time."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.invocations = 0
        self.init_error: dict[str, Any] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._socket, theirs = socket.socketpair()
        self._reader: IO[bytes] = self._socket.makefile("rb")
        self._theirs: socket.socket | None = theirs

    def start(self, environment: Mapping[str, str], timeout: float = INIT_TIMEOUT_SECONDS) -> None:
        """Start the process and wait for its init phase to end; an init error is kept for every invocation."""
        theirs = self._theirs
        if theirs is None:
            raise RuntimeError("a sandbox starts once")
        try:
            self.process = subprocess.Popen(  # nosec B603 # our runtime, by module name
                [sys.executable, "-P", "-m", "hookrun.sandbox_runtime", str(theirs.fileno()), str(self.spec.nice)],
                cwd=self.spec.code_root,
                env=dict(environment),
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # its own process group: a timeout or the stack's stop kills all of it
            )
            theirs.close()
            self._theirs = None
            message = self._receive(timeout)
        except (OSError, SandboxGone, ValueError) as exc:  # TimeoutError is an OSError
            self.kill()
            self.init_error = {"errorType": "Runtime.Unknown", "errorMessage": f"the sandbox did not start: {exc}"}
            return
        if not message.get("ready"):
            self.init_error = message.get("error") or {"errorType": "Runtime.Unknown", "errorMessage": "init failed"}

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def invoke(self, payload: bytes, request_id: str) -> Invocation:
        """Run one invocation within the function's Timeout; kill the sandbox and answer Sandbox.Timedout if not."""
        if self.init_error is not None:
            return Invocation(json.dumps(self.init_error).encode(), "Unhandled")
        self.invocations += 1
        deadline = time.time() + self.spec.timeout
        request = {
            "event": payload.decode("utf-8", errors="replace"),
            "requestId": request_id,
            "deadlineMs": int(deadline * 1000),
            "invokedFunctionArn": self.spec.arn,
        }
        try:
            self._socket.sendall(json.dumps(request).encode() + b"\n")
            answer = self._receive(self.spec.timeout)
        except TimeoutError:
            self.kill()
            return Invocation.failed("Sandbox.Timedout", f"Task timed out after {self.spec.timeout:.2f} seconds")
        except (OSError, SandboxGone) as exc:
            self.kill()
            return Invocation.failed("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited ({exc})")
        if "error" in answer:
            return Invocation(json.dumps(answer["error"]).encode(), "Unhandled")
        return Invocation(str(answer["result"]).encode())

    def _receive(self, timeout: float) -> dict[str, Any]:
        self._socket.settimeout(timeout)
        line = self._reader.readline()
        if not line:
            raise SandboxGone(f"exit code {self.process.poll() if self.process else None}")
        message: dict[str, Any] = json.loads(line)
        return message

    def close(self) -> None:
        """End an idle sandbox: the runtime exits when its socket closes; kill it if it does not."""
        self._close_sockets()
        if self.process is None:
            return
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the sandbox and everything it started."""
        self._close_sockets()
        if self.process is not None:
            kill_tree(self.process.pid)
            self.process.wait()

    def _close_sockets(self) -> None:
        for closable in (self._reader, self._socket, self._theirs):
            if closable is not None:
                closable.close()


class PoolClosed(Exception):
    """The stack is stopping: no new invocation starts."""


class FunctionPool:
    """The sandboxes of one function: warm ones reused (the last used first), new ones started on demand."""

    def __init__(self, spec: FunctionSpec, environment: Callable[[], Mapping[str, str]]) -> None:
        self.spec = spec
        self._environment = environment
        self._condition = threading.Condition()
        self._idle: list[Sandbox] = []
        self._busy: set[Sandbox] = set()
        self._starting = 0
        self._waiting = 0
        self._closed = False

    @property
    def size(self) -> int:
        """Sandboxes alive or starting."""
        with self._condition:
            return len(self._idle) + len(self._busy) + self._starting

    @property
    def busy(self) -> int:
        """Sandboxes running an invocation."""
        with self._condition:
            return len(self._busy)

    @property
    def waiting(self) -> int:
        """Invocations waiting for a free sandbox."""
        with self._condition:
            return self._waiting

    def invoke(self, payload: bytes, request_id: str | None = None) -> Invocation:
        """One invocation in a free sandbox of this function, waiting for one if all are busy."""
        sandbox = self._acquire()
        try:
            answer = sandbox.invoke(payload, request_id or str(uuid.uuid4()))
        except BaseException:
            self._release(sandbox, keep=False)
            raise
        self._release(sandbox, keep=sandbox.alive and sandbox.init_error is None)
        return answer

    def prewarm(self) -> None:
        """Start one sandbox now, in the background, so the first invocation does not pay for a cold process."""
        with self._condition:
            if not self._closed and self.size < self.spec.concurrency:
                self._start_one()

    def _acquire(self) -> Sandbox:
        grow_at = time.monotonic() + GROW_AFTER_SECONDS
        with self._condition:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise PoolClosed(self.spec.name)
                    if self._idle:
                        sandbox = self._idle.pop()
                        self._busy.add(sandbox)
                        return sandbox
                    patience = 0.0 if self.size == 0 else grow_at - time.monotonic()
                    if self._waiting > self._starting and self.size < self.spec.concurrency:
                        if patience <= 0:
                            self._start_one()
                        else:
                            self._condition.wait(patience)
                            continue
                    self._condition.wait()
            finally:
                self._waiting -= 1

    def _start_one(self) -> None:
        self._starting += 1
        threading.Thread(target=self._start, name=f"sandbox-start-{self.spec.name}", daemon=True).start()

    def _start(self) -> None:
        sandbox = Sandbox(self.spec)
        sandbox.start(self._environment())
        with self._condition:
            self._starting -= 1
            if self._closed:
                sandbox.close()
                return
            self._idle.append(sandbox)
            self._condition.notify()

    def _release(self, sandbox: Sandbox, keep: bool) -> None:
        with self._condition:
            self._busy.discard(sandbox)
            if keep and not self._closed:
                self._idle.append(sandbox)
                self._condition.notify()
                return
            self._condition.notify()  # a waiter may start a sandbox in its place
        if sandbox.alive:
            sandbox.close()

    def close(self) -> None:
        """Refuse new invocations and kill every sandbox (a busy one's invocation answers a Sandbox error)."""
        with self._condition:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
            self._condition.notify_all()
        for sandbox in idle:
            sandbox.kill()  # as Lambda ends an environment: no grace, so a stop never waits on a slow exit
        for sandbox in busy:
            if sandbox.process is not None:
                kill_tree(sandbox.process.pid)  # its invocation answers, and the invoking thread reaps it


class Sandboxes:
    """Every function's pool; invocations by function name."""

    def __init__(
        self,
        specs: Iterable[FunctionSpec],
        region: str,
        endpoint: str,
        credentials: Credentials = moto_credentials,
    ) -> None:
        self.pools = {
            spec.name: FunctionPool(spec, self._environment_of(spec, region, endpoint, credentials)) for spec in specs
        }

    @staticmethod
    def _environment_of(
        spec: FunctionSpec, region: str, endpoint: str, credentials: Credentials
    ) -> Callable[[], Mapping[str, str]]:
        return lambda: sandbox_environment(spec, region, endpoint, credentials(spec))

    def invoke(self, function_name: str, payload: bytes) -> Invocation:
        """Invoke the named function in one of its sandboxes; KeyError if no such function."""
        return self.pools[function_name].invoke(payload)

    def prewarm(self, function_names: Iterable[str]) -> None:
        for name in function_names:
            self.pools[name].prewarm()

    def running(self) -> int:
        """Invocations running now."""
        return sum(pool.busy for pool in self.pools.values())

    def close(self) -> None:
        """End every sandbox and what it started."""
        for pool in self.pools.values():
            pool.close()
