"""`make fuzz`'s time budgets: a spent budget skips a property's body, so a long pass ends on time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.budget import Budget, bounded, until_spent


def test_a_budget_of_none_never_runs_out() -> None:
    assert not Budget(None).spent()


def test_a_zero_budget_is_spent_at_once() -> None:
    assert Budget(0).spent()


def calls_of_a_bounded_property(budget: Budget, examples: int) -> list[int]:
    """The examples a property of `examples` integers ran its body for, bounded by `budget`."""
    calls: list[int] = []

    @settings(max_examples=examples, database=None)
    @given(st.integers())
    def prop(n: int) -> None:
        calls.append(n)

    prop.hypothesis.inner_test = bounded(prop.hypothesis.inner_test, budget)  # type: ignore[attr-defined]
    until_spent(prop)()
    return calls


def test_a_bounded_property_runs_its_body_until_the_budget_is_spent() -> None:
    assert calls_of_a_bounded_property(Budget(0), examples=50) == []


def test_an_unbounded_property_runs_every_example() -> None:
    assert len(calls_of_a_bounded_property(Budget(None), examples=20)) >= 20


def test_a_spent_budget_stops_the_property_at_once_instead_of_drawing_every_example() -> None:
    drawn: list[int] = []

    @settings(max_examples=10_000, database=None)
    @given(st.integers().map(lambda n: drawn.append(n) or n))
    def prop(n: int) -> None:
        pass

    prop.hypothesis.inner_test = bounded(prop.hypothesis.inner_test, Budget(0))  # type: ignore[attr-defined]
    until_spent(prop)()
    assert len(drawn) < 10
