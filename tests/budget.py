"""Time budgets for `make fuzz`: once a property's budget is spent it stops, passing, so the pass ends on time.

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


class BudgetSpent(BaseException):
    """Raised by a bounded body once its budget is spent: hypothesis lets a BaseException through at once."""


def bounded(inner: Callable[..., Any], budget: Budget) -> Callable[..., Any]:
    """The body of a hypothesis test, stopping the whole test (BudgetSpent) once `budget` is spent."""

    @functools.wraps(inner)
    def run(*args: Any, **kwargs: Any) -> Any:
        if budget.spent():
            raise BudgetSpent
        return inner(*args, **kwargs)

    return run


def until_spent(test: Callable[..., Any]) -> Callable[..., Any]:
    """A test whose bounded body may stop it: a spent budget ends it as passed, with the examples run so far."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return test(*args, **kwargs)
        except BudgetSpent:
            return None

    return run
