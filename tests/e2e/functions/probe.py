"""A probe handler for the sandbox tests: answers what its sandbox gave it, sleeps or raises when asked."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="probe")
invocations = 0  # module state: kept between the invocations of one warm sandbox


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global invocations
    invocations += 1
    if "raise" in event:
        raise ValueError(event["raise"])
    time.sleep(float(event.get("sleep", 0)))
    return {
        "environment": dict(os.environ),
        "invocations": invocations,
        "pid": os.getpid(),
        "coldStart": logger.get_current_keys()["cold_start"],
        "functionName": context.function_name,
    }
