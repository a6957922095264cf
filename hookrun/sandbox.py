"""Sandboxes: each function's invocations run in worker processes of its own, as Lambda runs them.

A `Sandboxes` holds one `FunctionPool` per function. A pool starts sandboxes on demand (each a
`python -P -m hookrun.sandbox_runtime` process in its own session, see that module), up to the function's limit,
and reuses warm ones, one invocation at a time each. An invocation that finds every sandbox busy waits for the
first one free. It starts another, if the limit allows and none is starting, once it has waited the function's
`grow_after` (GROW_AFTER_SECONDS unless set) and every busy sandbox has been on its invocation at least as long:
long invocations (jobs) soon get sandboxes of their own. A queue of short invocations is served by the warm
sandboxes in turn, and the pool grows by one sandbox per IMPATIENT x `grow_after` while it lasts. Lambda starts
one at once, and answers 429 at its limit; the local stack queues instead, as a cold Python start costs more CPU
than many short invocations. An invocation may bound its wait (`patience`): past it, it raises `Throttled`, which
moto's Lambda answers as Lambda does at its limit (429 TooManyRequestsException, hookrun.lambda_bridge), so a
Step Functions Task's Retry backs off rather than its TimeoutSeconds passing in the queue.
The limit is the function's `ReservedConcurrentExecutions` if the template sets it, else
DEFAULT_CONCURRENCY (the job runner's Map runs at most 10 jobs of a stage at once).

A sandbox's environment is built from scratch, never inherited from the stack: PATH, HOME, LANG and TZ; the
function's variables as template.yaml gives them; what Lambda sets (AWS_LAMBDA_FUNCTION_NAME, _HANDLER,
LAMBDA_TASK_ROOT, AWS_REGION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, ...); AWS_ENDPOINT_URL pointing at moto; and the
function's credentials. Its `Timeout` is enforced from outside: a sandbox that has not answered in time is killed
with its process group (and the groups its children started), and the invocation answers `Sandbox.Timedout`
as Lambda does. Errors come back as Lambda reports them: `{"errorType", "errorMessage", "stackTrace"}`.
An invocation may carry a tag (the local stack tags a job runner's with its run): `Sandboxes.kill(name, tag)`
kills the sandboxes running the function's invocations of that tag in the same way (they answer Runtime.ExitError
and are not reused), which is how a cancelled run's job processes end on the local stack.

Credentials are the one seam for IAM: `Sandboxes(..., credentials=CALLABLE)`, where CALLABLE takes a
`FunctionSpec` and returns the environment variables that carry its credentials (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and, for a role's temporary ones, AWS_SESSION_TOKEN). It is called each time a sandbox
starts. The local stack gives each function its role's (hookrun/local_iam.py); the default, `moto_credentials`,
gives moto's fake "testing" keys.
"""

from __future__ import annotations

import collections
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
IMPATIENT = 5  # a queue of short invocations adds a sandbox every 5 x grow_after
# how long an Invoke through moto's Lambda API waits for a free sandbox before it is throttled: a Task of the state
# machine times out after 60 s (its invocation included), and its Retry backs off from a throttle
INVOKE_PATIENCE_SECONDS = 20.0
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
    grow_after: float = GROW_AFTER_SECONDS  # how long an invocation waits for a busy sandbox before starting one


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


class Throttled(Exception):
    """No sandbox of the function became free within the invocation's patience (Lambda's 429)."""

    def __init__(self, function_name: str, waited: float) -> None:
        super().__init__(
            f"Rate Exceeded: {function_name} ran at its concurrency limit for {waited:.0f} s; retry with backoff"
        )
        self.function_name = function_name


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


class _Waiter:
    """An invocation waiting for a sandbox: handed one (or None when the pool closes) in the order it came."""

    def __init__(self, since: float) -> None:
        self.since = since
        self.ready = threading.Event()
        self.sandbox: Sandbox | None = None


class FunctionPool:
    """The sandboxes of one function: warm ones reused (the last used first), new ones started on demand.

    Invocations that find none free wait in a queue, first come first served: under a backlog every one waits
    about as long, so none waits past its caller's timeout (a Task's) while later ones go first.
    """

    def __init__(self, spec: FunctionSpec, environment: Callable[[], Mapping[str, str]]) -> None:
        self.spec = spec
        self._environment = environment
        self._lock = threading.Lock()
        self._idle: list[Sandbox] = []
        self._busy: dict[Sandbox, float] = {}  # -> when its invocation began (monotonic)
        self._tags: dict[Sandbox, str] = {}  # busy sandboxes -> their invocation's tag
        self._queue: collections.deque[_Waiter] = collections.deque()
        self._starting = 0
        self._last_start = 0.0
        self._closed = False

    @property
    def size(self) -> int:
        """Sandboxes alive or starting."""
        with self._lock:
            return self._size()

    @property
    def busy(self) -> int:
        """Sandboxes running an invocation."""
        with self._lock:
            return len(self._busy)

    @property
    def waiting(self) -> int:
        """Invocations waiting for a free sandbox."""
        with self._lock:
            return len(self._queue)

    def invoke(
        self, payload: bytes, request_id: str | None = None, tag: str | None = None, patience: float | None = None
    ) -> Invocation:
        """One invocation in a free sandbox of this function, waiting for one if all are busy; `kill(tag)` ends it.

        Raises Throttled if none was free within `patience` seconds (None: wait as long as it takes).
        """
        sandbox = self._acquire(patience)
        if tag is not None:
            with self._lock:
                self._tags[sandbox] = tag
        try:
            answer = sandbox.invoke(payload, request_id or str(uuid.uuid4()))
        except BaseException:
            self._release(sandbox, keep=False)
            raise
        self._release(sandbox, keep=sandbox.alive and sandbox.init_error is None)
        return answer

    def tags(self) -> set[str]:
        """The tags of the invocations running now."""
        with self._lock:
            return set(self._tags.values())

    def kill(self, tag: str) -> int:
        """Kill the sandboxes running invocations tagged `tag`, and what they started; how many."""
        with self._lock:  # held while killing: a sandbox released meanwhile could serve another invocation
            tagged = [sandbox for sandbox, its in self._tags.items() if its == tag]
            for sandbox in tagged:
                if sandbox.process is not None:
                    kill_tree(sandbox.process.pid)  # its invocation answers Runtime.ExitError and the pool drops it
        return len(tagged)

    def prewarm(self) -> None:
        """Start one sandbox now, in the background, so the first invocation does not pay for a cold process."""
        with self._lock:
            if not self._closed and self._size() < self.spec.concurrency:
                self._start_one()

    def _size(self) -> int:
        return len(self._idle) + len(self._busy) + self._starting

    def _acquire(self, patience: float | None = None) -> Sandbox:
        with self._lock:
            if self._closed:
                raise PoolClosed(self.spec.name)
            if self._idle and not self._queue:
                sandbox = self._idle.pop()
                self._busy[sandbox] = time.monotonic()
                return sandbox
            waiter = _Waiter(time.monotonic())
            self._queue.append(waiter)
            look = self._grow()
        deadline = None if patience is None else waiter.since + patience
        # woken when handed a sandbox, or in time to see whether the pool should grow or the wait is over
        while not waiter.ready.wait(look if deadline is None else max(0.0, min(look, deadline - time.monotonic()))):
            with self._lock:
                if deadline is not None and time.monotonic() >= deadline and not waiter.ready.is_set():
                    self._queue.remove(waiter)
                    raise Throttled(self.spec.name, time.monotonic() - waiter.since)
                look = self._grow()
        if waiter.sandbox is None:
            raise PoolClosed(self.spec.name)
        return waiter.sandbox

    def _grow(self) -> float:
        """Start a sandbox if the oldest waiter has waited long enough; the seconds until it is worth a look again.

        One sandbox starts at a time: once the oldest waiter has waited `grow_after` and every busy sandbox has
        been on its invocation as long, or, whatever they do, once both that wait and the last start are
        IMPATIENT times as long ago.
        """
        after = self.spec.grow_after
        if not self._queue or self._starting or self._closed or self._size() >= self.spec.concurrency:
            return after
        now = time.monotonic()
        since = self._queue[0].since
        youngest = max(self._busy.values(), default=now - after)
        due = (
            0.0
            if self._size() == 0
            else min(max(since, youngest) + after, max(since, self._last_start) + IMPATIENT * after) - now
        )
        if due > 0:
            return due
        self._start_one()
        return after

    def _start_one(self) -> None:
        self._starting += 1
        self._last_start = time.monotonic()
        threading.Thread(target=self._start, name=f"sandbox-start-{self.spec.name}", daemon=True).start()

    def _start(self) -> None:
        sandbox = Sandbox(self.spec)
        sandbox.start(self._environment())
        with self._lock:
            self._starting -= 1
            if not self._closed:
                self._hand_over(sandbox)
                return
        sandbox.close()

    def _hand_over(self, sandbox: Sandbox) -> None:
        """To the oldest waiter, else among the idle ones (under the lock)."""
        if self._queue:
            waiter = self._queue.popleft()
            waiter.sandbox = sandbox
            self._busy[sandbox] = time.monotonic()
            waiter.ready.set()
        else:
            self._idle.append(sandbox)

    def _release(self, sandbox: Sandbox, keep: bool) -> None:
        with self._lock:
            self._busy.pop(sandbox, None)
            self._tags.pop(sandbox, None)
            if keep and not self._closed:
                self._hand_over(sandbox)
                return
            self._grow()  # a waiter may need a sandbox in its place
        if sandbox.alive:
            sandbox.close()

    def close(self) -> None:
        """Refuse new invocations and kill every sandbox (busy ones' invocations answer Runtime.ExitError)."""
        with self._lock:
            self._closed = True
            idle, busy, waiters = list(self._idle), list(self._busy), list(self._queue)
            self._idle.clear()
            self._queue.clear()
        for waiter in waiters:
            waiter.ready.set()
        for sandbox in idle:
            sandbox.kill()  # at once: a graceful exit, one after the other, takes seconds on a busy machine
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

    def invoke(
        self, function_name: str, payload: bytes, tag: str | None = None, patience: float | None = None
    ) -> Invocation:
        """Invoke the named function in one of its sandboxes: KeyError if there is none, Throttled past `patience`."""
        return self.pools[function_name].invoke(payload, tag=tag, patience=patience)

    def kill(self, function_name: str, tag: str) -> int:
        """Kill the named function's sandboxes running invocations tagged `tag`; how many."""
        return self.pools[function_name].kill(tag)

    def prewarm(self, sandboxes: Mapping[str, int]) -> None:
        """Start that many sandboxes of each function now, in the background (within its limit)."""
        for name, count in sandboxes.items():
            for _ in range(count):
                self.pools[name].prewarm()

    def running(self) -> int:
        """Invocations running now."""
        return sum(pool.busy for pool in self.pools.values())

    def close(self) -> None:
        """End every sandbox and what it started."""
        for pool in self.pools.values():
            pool.close()
