"""The runtime loop inside one sandbox: `python -P -m hookrun.sandbox_runtime FD NICE`, started by hookrun.sandbox.

Like Lambda's Python runtime, it reads what to run from its environment (`LAMBDA_TASK_ROOT` goes first on sys.path,
`_HANDLER` names `module.function`), imports the handler once (the init phase), then serves one invocation at a
time for as long as the sandbox lives, so the module's state (clients, caches, Powertools' cold-start flag) is kept
between warm invocations. It talks to the pool over the socket FD, one JSON object per line:

  sandbox -> pool   {"ready": true} | {"ready": false, "error": ERROR}     once, after the init phase
  pool -> sandbox   {"event": "<the payload as text>", "requestId", "deadlineMs", "invokedFunctionArn"}
  sandbox -> pool   {"result": "<the handler's result as JSON text>"} | {"error": ERROR}

where ERROR is Lambda's `{"errorType", "errorMessage", "stackTrace"}`. The sandbox's stdout and stderr are the
handler's logs. It ends when the pool closes the socket, or when the stack that started it is gone.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

STACK_FRAMES = 5  # Lambda's stackTrace for Python lists the handler's frames, not the runtime's
ORPHAN_CHECK_SECONDS = 1.0


class Context:
    """The Lambda context object: what handlers and Powertools read of it."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn: str = request["invokedFunctionArn"]
        self.aws_request_id: str = request["requestId"]
        self._deadline_ms: int = request["deadlineMs"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    """Lambda's error shape; the stack trace without the runtime's own frames."""
    stack: list[str] = []
    if exc is not None:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:][-STACK_FRAMES:])
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack}


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    """`package.module.function` from the task root; raises with Lambda's error type as the message's subject."""
    module_name, _, attribute = spec.rpartition(".")
    module = importlib.import_module(module_name)
    handler: Callable[[Any, Any], Any] = getattr(module, attribute)
    return handler


def init() -> tuple[Callable[[Any, Any], Any] | None, dict[str, Any] | None]:
    """The init phase: the handler, or the error every invocation of this sandbox answers."""
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    spec = os.environ["_HANDLER"]
    module_name = spec.rpartition(".")[0]
    try:
        return load_handler(spec), None
    except ImportError as exc:
        return None, error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
    except AttributeError:
        return None, error("Runtime.HandlerNotFound", f"Handler '{spec}' missing on module '{module_name}'")
    except Exception as exc:
        return None, error(f"Runtime.{type(exc).__name__}", str(exc), exc)


def invoke(handler: Callable[[Any, Any], Any], request: dict[str, Any]) -> dict[str, Any]:
    try:
        event = json.loads(request["event"]) if request["event"] else {}
        result = handler(event, Context(request))
    except Exception as exc:
        return {"error": error(type(exc).__name__, str(exc), exc)}
    try:
        return {"result": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {"error": error("Runtime.MarshalError", f"Unable to marshal response: {exc}")}


def end_with_the_stack(parent: int) -> None:
    """A stack killed with -9 cannot end its sandboxes: each ends itself and its process group then."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> None:
    channel = socket.socket(fileno=int(argv[1]))
    os.nice(int(argv[2]))
    threading.Thread(target=end_with_the_stack, args=(os.getppid(),), daemon=True).start()
    reader, writer = channel.makefile("rb"), channel.makefile("wb")
    handler, init_error = init()
    writer.write(json.dumps({"ready": handler is not None, "error": init_error}).encode() + b"\n")
    writer.flush()
    while line := reader.readline():
        request = json.loads(line)
        answer = invoke(handler, request) if handler is not None else {"error": init_error}
        writer.write(json.dumps(answer).encode() + b"\n")
        writer.flush()
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
