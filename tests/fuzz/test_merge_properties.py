"""merge_variables under any declarations and any overrides: a listed refusal, or variables that keep the rules.

The rules are README's limits: names `^[A-Za-z_][A-Za-z0-9_]{0,127}$`, values strings of at most 4096 characters
without NUL or lone surrogates, numbers finite and at most 2^53 in magnitude, booleans `true`/`false`, choices
among their choices, secrets only where declared, undeclared names only where the pipeline allows them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import InvalidVariables
from domain.models import MAX_SAFE_NUMBER, VariableDeclaration, VariableType
from domain.variables import MAX_VARIABLES_PER_REQUEST, SECRET_MASK, MergedVariables, merge_variables
from tests.support import demo_pipeline

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # README's rule, matched with fullmatch: nothing may trail
MAX_VALUE_LENGTH = 4096  # README: "4096 characters after rendering"
BUILT_IN_NAMES = ("HOOKRUN_SOURCE", "HOOKRUN_BRANCH", "HOOKRUN_COMMIT_MESSAGE")

# Text a pipeline author may write: anything but NUL and lone surrogates, which declarations refuse.
safe_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
valid_names = st.builds(
    str.__add__,
    st.sampled_from(_FIRST),
    st.text(_FIRST + "0123456789", max_size=12) | st.text(_FIRST + "0123456789", min_size=120, max_size=127),
)
safe_numbers = st.integers(-MAX_SAFE_NUMBER, MAX_SAFE_NUMBER) | st.floats(
    -MAX_SAFE_NUMBER, MAX_SAFE_NUMBER, allow_nan=False
)
weird_names = st.text(max_size=140) | st.sampled_from(
    ["", "1abc", "a-b", "a.b", "ünïcödé", "$(rm -rf /)", "a b", "\ud800", "a\x00b", "x" * 129, "PATH"]
)
hostile_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(10**400), 10**400)
    | st.floats()
    | st.text()
    | st.sampled_from(["x" * 4096, "x" * 4097, "a\x00b", "\ud800", " true ", "1e400", "NaN", "-0", "3.0", "07"])
)
json_values = st.recursive(
    hostile_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@st.composite
def declarations(draw: st.DrawFn) -> VariableDeclaration:
    """A variable declaration as a pipeline file may hold one: any type, a default that fits it, or none."""
    kind = draw(st.sampled_from(VariableType))
    choices: tuple[str, ...] = ()
    default: Any
    if kind is VariableType.STRING:
        default = draw(st.none() | safe_text | safe_numbers | st.booleans())
    elif kind is VariableType.NUMBER:
        default = draw(st.none() | safe_numbers | st.integers(-(10**6), 10**6).map(str))
    elif kind is VariableType.BOOLEAN:
        default = draw(st.none() | st.booleans() | st.sampled_from(["true", "false", "TRUE", " False "]))
    else:
        choices = tuple(draw(st.lists(safe_text.filter(bool), min_size=1, max_size=4, unique=True)))
        default = draw(st.none() | st.sampled_from(choices))
    try:
        return VariableDeclaration(
            type=kind, default=default, choices=choices, secret=draw(st.booleans()), required=draw(st.booleans())
        )
    except ValidationError:
        assume(False)  # a default that renders over 4096 characters: not a declaration a pipeline can hold
        raise


def plausible_value(declaration: VariableDeclaration) -> st.SearchStrategy[Any]:
    """Values a well-meaning caller sends for this declaration; most of them are accepted."""
    if declaration.type is VariableType.NUMBER:
        return safe_numbers | st.integers(-1000, 1000).map(str)
    if declaration.type is VariableType.BOOLEAN:
        return st.booleans() | st.sampled_from(["true", "false", "TRUE"])
    if declaration.type is VariableType.CHOICE:
        return st.sampled_from(declaration.choices)
    return safe_text | safe_numbers | st.booleans()


@dataclass(frozen=True)
class MergeInput:
    declared: dict[str, VariableDeclaration]
    overrides: dict[str, Any]
    allow_undeclared: bool
    built_ins: dict[str, str]

    def merge(self) -> MergedVariables:
        return merge_variables(
            self.declared, self.overrides, allow_undeclared=self.allow_undeclared, built_ins=self.built_ins
        )

    def merged_or_none(self) -> MergedVariables | None:
        """The merged variables, or None if merge_variables refused the overrides."""
        try:
            return self.merge()
        except InvalidVariables:
            return None

    def accepted(self) -> MergedVariables:
        """The merged variables of an input merge_variables accepts: Hypothesis drops the inputs it refuses."""
        merged = self.merged_or_none()
        assume(merged is not None)
        assert merged is not None
        return merged


@st.composite
def hostile_inputs(draw: st.DrawFn) -> MergeInput:
    """Declarations, and overrides with any JSON values, undeclared and weird names: mostly refused."""
    declared = draw(st.dictionaries(valid_names, declarations(), max_size=6))
    overrides: dict[str, Any] = {}
    for name, declaration in declared.items():
        if draw(st.booleans()):
            overrides[name] = draw(plausible_value(declaration) | json_values)
    overrides |= draw(st.dictionaries(valid_names | weird_names, json_values, max_size=3))
    if draw(st.integers(0, 20)) == 0:
        overrides |= {f"many_{i}": "x" for i in range(MAX_VARIABLES_PER_REQUEST)}
    built_ins = draw(st.dictionaries(st.sampled_from(BUILT_IN_NAMES), safe_text, max_size=2))
    return MergeInput(declared, overrides, draw(st.booleans()), built_ins)


@st.composite
def plausible_inputs(draw: st.DrawFn) -> MergeInput:
    """Declarations, and overrides a well-meaning caller sends: mostly accepted, some at the edges of the rules."""
    declared = draw(st.dictionaries(valid_names, declarations(), max_size=6))
    overrides: dict[str, Any] = {}
    for name, declaration in declared.items():
        if (declaration.required and declaration.default is None) or draw(st.booleans()):
            overrides[name] = draw(plausible_value(declaration))
    allow_undeclared = draw(st.booleans())
    if allow_undeclared:
        overrides |= draw(st.dictionaries(valid_names, safe_text | safe_numbers | st.booleans(), max_size=3))
    built_ins = draw(st.dictionaries(st.sampled_from(BUILT_IN_NAMES), safe_text, max_size=2))
    return MergeInput(declared, overrides, allow_undeclared, built_ins)


merge_inputs = hostile_inputs() | plausible_inputs()


def fits(declaration: VariableDeclaration, value: str) -> bool:
    """True if `value` is a rendering of this declaration's type."""
    if declaration.type is VariableType.NUMBER:
        number = float(value)
        return value == value.strip() and math.isfinite(number) and abs(number) <= MAX_SAFE_NUMBER
    if declaration.type is VariableType.BOOLEAN:
        return value in {"true", "false"}
    if declaration.type is VariableType.CHOICE:
        return value in declaration.choices
    return True


@given(merge_inputs)
def test_a_refusal_lists_at_least_one_problem_with_a_printable_name(given_input: MergeInput) -> None:
    try:
        given_input.merge()
    except InvalidVariables as error:
        assert error.problems
        assert all(problem.name.isprintable() and problem.reason for problem in error.problems)


@given(merge_inputs)
def test_every_value_is_a_string_of_at_most_4096_characters_without_nul(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    for value in merged.values.values():
        assert isinstance(value, str)
        assert len(value) <= MAX_VALUE_LENGTH
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates


@given(merge_inputs)
def test_every_declared_value_renders_as_its_type(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    for name, declaration in given_input.declared.items():
        from_built_in = name in given_input.built_ins and name not in given_input.overrides
        if name in merged.values and not from_built_in:
            assert fits(declaration, merged.values[name]), (name, declaration, merged.values[name])


@given(merge_inputs)
def test_declared_defaults_stay_unless_overridden(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    replaced = given_input.overrides.keys() | given_input.built_ins.keys()
    for name, declaration in given_input.declared.items():
        if declaration.default is not None and name not in replaced:
            assert merged.values[name] == declaration.render(declaration.default)


@given(merge_inputs)
def test_the_request_wins_over_defaults_and_built_ins(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    for name, raw in given_input.overrides.items():
        declaration = given_input.declared.get(name, VariableDeclaration())
        assert merged.values[name] == declaration.render(raw)


@given(merge_inputs)
def test_required_variables_are_always_present(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    required = {name for name, declaration in given_input.declared.items() if declaration.required}
    assert required <= merged.values.keys()


@given(merge_inputs)
def test_secret_names_are_declared_secrets_and_masked(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    declared_secrets = {name for name, declaration in given_input.declared.items() if declaration.secret}
    assert merged.secret_names <= declared_secrets
    assert merged.secret_names == declared_secrets & merged.values.keys()
    assert all(merged.masked()[name] == SECRET_MASK for name in merged.secret_names)
    assert not merged.secret_names & merged.public().keys()


@given(merge_inputs)
def test_names_are_declared_built_in_or_allowed_and_always_valid(given_input: MergeInput) -> None:
    merged = given_input.accepted()
    known = given_input.declared.keys() | given_input.built_ins.keys()
    allowed = known | given_input.overrides.keys() if given_input.allow_undeclared else known
    assert merged.values.keys() <= allowed
    assert all(NAME.fullmatch(name) for name in merged.values)


@given(merge_inputs)
def test_at_most_100_variables_per_request_are_accepted(given_input: MergeInput) -> None:
    merged = given_input.merged_or_none()
    assume(merged is not None)
    assert len(given_input.overrides) <= MAX_VARIABLES_PER_REQUEST


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidVariables):
        merge_variables({}, {"abc\n": "x"}, allow_undeclared=True)


@pytest.mark.parametrize("name", ["RETRIES", "abc"])
def test_an_integer_beyond_float_range_is_a_listed_problem(name: str) -> None:
    declared: Mapping[str, VariableDeclaration] = demo_pipeline().variables
    with pytest.raises(InvalidVariables):
        merge_variables(declared, {name: 10**400})
