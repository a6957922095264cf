"""Serve moto's Lambda invocations with our real handlers, as AWS would run them.

moto runs Lambda code only in Docker; its Docker-free backend answers with canned payloads. This bridge
replaces that backend's `invoke` with an `Invoker`: the local stack's runs each function in sandboxes of its own
(hookrun.sandbox); the default, for tests of the workflow on moto in-process, imports the function's configured
`Handler` (e.g. `handlers.webhook.handler`) from src/ and calls it in a thread of this process, within the
function's `Timeout`, with this process's environment. Errors come back the way Lambda reports them:
`FunctionError: Unhandled` and an `errorType`/`errorMessage` payload, which Step Functions turns into the state's
error name. An invoker that raises `Throttled` (no sandbox free in time) gets Lambda's answer at its concurrency
limit: HTTP 429 TooManyRequestsException, which Step Functions names `Lambda.TooManyRequestsException`.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError

from hookrun.sandbox import Throttled

Handler = Callable[[Any, Any], Any]
Invoker = Callable[[Any, Any, dict[str, str]], bytes]
"""(moto's function, the request body, the response headers to mark an error in) -> the payload."""
_installed = False
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lambda")


class LocalLambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function: Any) -> None:
        self.function_name: str = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = function.function_arn
        self.memory_limit_in_mb: int = int(function.memory_size or 128)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(function.timeout or 3)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def resolve_handler(spec: str) -> Handler:
    """`package.module.function` -> the function, imported from src/ like the Lambda runtime does."""
    module_name, _, attribute = spec.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


class TooManyRequests(JsonRESTError):
    """Lambda's throttle: the function is at its concurrency limit."""

    code = 429

    def __init__(self, message: str) -> None:
        super().__init__("TooManyRequestsException", message)


def _error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}).encode()


def invoke_in_process(function: Any, body: Any, response_headers: dict[str, str]) -> bytes:
    """Run `function`'s handler on `body` and return the payload bytes, marking errors as Lambda does."""
    event = json.loads(body) if body else {}
    context = LocalLambdaContext(function)
    try:
        handler = resolve_handler(function.handler)
    except (ImportError, AttributeError) as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        module = function.handler.rpartition(".")[0]
        return _error_payload("Runtime.ImportModuleError", f"Unable to import module '{module}': {exc}")
    future = _pool.submit(handler, event, context)
    try:
        result = future.result(timeout=float(function.timeout or 3))
    except FutureTimeout:
        response_headers["x-amz-function-error"] = "Unhandled"
        return _error_payload("Sandbox.Timedout", f"Task timed out after {function.timeout}.00 seconds")
    except Exception as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        return _error_payload(type(exc).__name__, str(exc), traceback.format_exception(exc)[-5:])
    return json.dumps(result).encode()


def _bridged_invoke(  # noqa: PLR0917 - the signature moto calls
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    function = self.get_function(function_name, qualifier)
    try:
        return _invoker(function, body, response_headers)
    except Throttled as exc:
        raise TooManyRequests(str(exc)) from exc


_invoker: Invoker = invoke_in_process


def install(invoker: Invoker = invoke_in_process) -> None:
    """Route every invocation of moto's Docker-free Lambda backend to `invoker` (default: the in-process handlers)."""
    global _installed, _invoker
    with _lock:
        _invoker = invoker
        if not _installed:
            LambdaSimpleBackend.invoke = _bridged_invoke  # type: ignore[method-assign]
            _installed = True
