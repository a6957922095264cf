"""Merging a request's variables over a pipeline's declarations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from .errors import InvalidVariables, VariableProblem
from .models import VARIABLE_NAME, VariableDeclaration, is_reserved_name

MAX_VARIABLES_PER_REQUEST = 100
SECRET_MASK = "***"  # noqa: S105  # nosec B105 # the mask, not a secret


@dataclass(frozen=True)
class MergedVariables:
    """The variables of one run, rendered as strings, and which of them are secret."""

    values: dict[str, str]
    secret_names: frozenset[str]

    def masked(self) -> dict[str, str]:
        """All variables, with secret values replaced by a mask: safe to show and log."""
        return {name: SECRET_MASK if name in self.secret_names else value for name, value in self.values.items()}

    def public(self) -> dict[str, str]:
        """The variables that are not secret: safe to put in execution input."""
        return {name: value for name, value in self.values.items() if name not in self.secret_names}

    def secrets(self) -> dict[str, str]:
        """The secret values only; they travel to the job runner through the run's secret record."""
        return {name: value for name, value in self.values.items() if name in self.secret_names}


def merge_variables(
    declared: Mapping[str, VariableDeclaration],
    overrides: Mapping[str, object],
    *,
    allow_undeclared: bool = False,
    built_ins: Mapping[str, str] | None = None,
) -> MergedVariables:
    """Merge `overrides` over built-ins over the declared defaults: defaults < built-ins < overrides.

    Every override is checked against its declaration and coerced; all problems are collected
    and raised together as InvalidVariables.
    """
    problems: list[VariableProblem] = []
    if len(overrides) > MAX_VARIABLES_PER_REQUEST:
        raise InvalidVariables(
            [VariableProblem("*", f"too many variables: {len(overrides)}, at most {MAX_VARIABLES_PER_REQUEST}")]
        )
    values: dict[str, str] = {}
    for name, declaration in declared.items():
        if declaration.default is not None:
            values[name] = declaration.render(declaration.default)
    values.update(built_ins or {})
    for name, raw in overrides.items():
        if not VARIABLE_NAME.fullmatch(name):
            problems.append(VariableProblem(_printable_name(name), f"invalid name: must match {VARIABLE_NAME.pattern}"))
            continue
        if is_reserved_name(name):
            problems.append(VariableProblem(name, "reserved: it would change how the job's shell runs"))
            continue
        decl = declared.get(name)
        if decl is None and not allow_undeclared:
            problems.append(VariableProblem(name, "not declared by the pipeline"))
            continue
        try:
            values[name] = (decl or _undeclared()).render(raw)
        except ValueError as exc:
            problems.append(VariableProblem(name, str(exc)))
    for name, declaration in declared.items():
        if declaration.required and name not in values:
            problems.append(VariableProblem(name, "required, and the pipeline has no default for it"))
    if problems:
        raise InvalidVariables(problems)
    secret_names = frozenset(name for name, decl in declared.items() if decl.secret and name in values)
    return MergedVariables(values=values, secret_names=secret_names)


def _printable_name(name: str) -> str:
    """A rejected name, cut short and stripped of control characters, so errors never carry raw input."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name[:64])
    return cleaned + ("..." if len(name) > 64 else "")


@cache
def _undeclared() -> VariableDeclaration:
    """How an undeclared variable is taken (when the pipeline allows them): made on first use, not at import."""
    return VariableDeclaration()
