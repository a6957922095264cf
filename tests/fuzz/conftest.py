"""Hypothesis profiles for the property tests: `ci` (the default, what `make test` runs) and `fuzz` (`make fuzz`).

HYPOTHESIS_PROFILE picks one. `ci` is short and derandomized, so `make test` sees the same inputs on every run
and never fails by chance; `fuzz` explores up to 2,000 fresh inputs per property, for at most FUZZ_PROPERTY_SECONDS
each (see tests/budget.py), so `make fuzz` ends on time however busy the machine is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.budget import Budget, bounded, seconds_from, until_spent

FUZZ = Path(__file__).resolve().parent

settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    seconds = seconds_from("FUZZ_PROPERTY_SECONDS")
    for item in items:
        if item.path.is_relative_to(FUZZ):
            item.add_marker(pytest.mark.fuzz)
            given = getattr(getattr(item, "obj", None), "hypothesis", None)
            if given is not None and seconds is not None:
                given.inner_test = bounded(given.inner_test, Budget(seconds))
                item.obj = until_spent(item.obj)  # type: ignore[attr-defined]
