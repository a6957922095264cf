"""Time budgets for `make fuzz`: once a property's budget is spent, its body returns at once, so the pass ends on time.

Hypothesis has no time limit of its own; counting examples alone made `make fuzz` last hours on a busy machine.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any


class Budget:
    """`seconds` of work from the first look at it; None never runs out (the short passes of `make test`)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._ends: float | None = None

    def spent(self) -> bool:
        if self.seconds is None:
            return False
        if self._ends is None:
            self._ends = time.monotonic() + self.seconds
        return time.monotonic() >= self._ends


def seconds_from(variable: str) -> float | None:
    value = os.environ.get(variable)
    return float(value) if value else None


def bounded(inner: Callable[..., Any], budget: Budget) -> Callable[..., Any]:
    """The test body, skipped (each example passing as is) once `budget` is spent."""

    @functools.wraps(inner)
    def run(*args: Any, **kwargs: Any) -> Any:
        return None if budget.spent() else inner(*args, **kwargs)

    return run
