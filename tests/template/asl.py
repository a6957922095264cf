"""A static check of the workflow definition: cfn-lint does not look inside state machines, so we do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

STATE_TYPES = frozenset({"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"})
TERMINAL_TYPES = frozenset({"Succeed", "Fail"})
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
CODEBUILD_START_BUILD_SYNC = "arn:aws:states:::codebuild:startBuild.sync"
# the integrations the workflow uses, each with the parameters its API takes (a `.$` suffix reads a path)
INTEGRATIONS: dict[str, frozenset[str]] = {
    LAMBDA_INVOKE: frozenset({"FunctionName", "Payload", "InvocationType", "Qualifier", "ClientContext"}),
    CODEBUILD_START_BUILD_SYNC: frozenset(
        {
            "ProjectName",
            "BuildspecOverride",
            "ImageOverride",
            "ComputeTypeOverride",
            "PrivilegedModeOverride",
            "TimeoutInMinutesOverride",
            "EnvironmentVariablesOverride",
            "QueuedTimeoutInMinutesOverride",
            "SourceVersion",
            "IdempotencyToken",
        }
    ),
}
# a build's own timeout may reach this long (the longest codebuild job and CodeBuild's margin): its state waits longer
LONGEST_BUILD_SECONDS = 28800 + 10 * 60


def _machines(definition: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """The definition and every nested state machine (Map processors, Parallel branches), with a path."""
    yield path or "/", definition
    for name, state in definition.get("States", {}).items():
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _machines(processor, f"{path}/{name}")
        for i, branch in enumerate(state.get("Branches", [])):
            yield from _machines(branch, f"{path}/{name}[{i}]")


def _targets(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catch in state.get("Catch", []):
        yield catch["Next"]


def check_definition(definition: dict[str, Any], substitutions: set[str] | None = None) -> list[str]:
    """Every problem found: unknown types, names used twice, dangling or missing transitions, unreachable states,
    Tasks without a timeout or a Catch (their own or an enclosing Map's), Tasks of an integration the workflow
    does not know or with parameters its API does not take, codebuild builds waited for less long than a build
    may run, Maps without MaxConcurrency, and `${...}` placeholders that the template does not substitute."""
    problems: list[str] = []
    caught_maps = {
        f"{path}/{name}" if path != "/" else f"/{name}"
        for path, machine in _machines(definition)
        for name, state in machine.get("States", {}).items()
        if state.get("Type") == "Map" and state.get("Catch")
    }
    seen: dict[str, str] = {}
    for path, machine in _machines(definition):
        states: dict[str, Any] = machine.get("States", {})
        for name in states:  # Step Functions wants each name once in the whole definition, nested ones included
            if name in seen:
                problems.append(f"{path}: state {name!r} is the name of another state (in {seen[name]})")
            seen.setdefault(name, path)
        if machine.get("StartAt") not in states:
            problems.append(f"{path}: StartAt {machine.get('StartAt')!r} is not a state")
        reachable = {machine.get("StartAt")}
        for name, state in states.items():
            where = f"{path}: state {name!r}"
            kind = state.get("Type")
            if kind not in STATE_TYPES:
                problems.append(f"{where} has unknown Type {kind!r}")
                continue
            for target in _targets(state):
                reachable.add(target)
                if target not in states:
                    problems.append(f"{where} goes to {target!r}, which does not exist")
            if kind not in TERMINAL_TYPES | {"Choice"} and ("Next" in state) == bool(state.get("End")):
                problems.append(f"{where} needs exactly one of Next or End: true")
            if kind == "Task":
                caught = any(path.startswith(m) for m in caught_maps)
                problems.extend(f"{where} {problem}" for problem in _task_problems(state, caught=caught))
            if kind == "Map" and "MaxConcurrency" not in state:
                problems.append(f"{where} has no explicit MaxConcurrency")
        problems.extend(f"{path}: state {name!r} is unreachable" for name in states if name not in reachable)
    if substitutions is not None:
        text = repr(definition)
        problems.extend(
            f"placeholder ${{{name}}} is not in DefinitionSubstitutions"
            for name in sorted(set(re.findall(r"\$\{(\w+)\}", text)) - substitutions)
        )
    return problems


def _task_problems(state: dict[str, Any], *, caught: bool) -> Iterator[str]:
    if "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
        yield "has no TimeoutSeconds"
    if not state.get("Catch") and not caught:
        yield "has no Catch and no enclosing Map catches its errors"
    resource = state.get("Resource")
    known = INTEGRATIONS.get(resource) if isinstance(resource, str) else None
    if known is None:
        yield f"uses {resource!r}, an integration the workflow does not know ({', '.join(sorted(INTEGRATIONS))})"
        return
    unknown = sorted({name.removesuffix(".$") for name in state.get("Parameters", {})} - known)
    if unknown:
        yield f"passes {', '.join(unknown)}, which {resource} does not take"
    if resource == CODEBUILD_START_BUILD_SYNC and state.get("TimeoutSeconds", 0) < LONGEST_BUILD_SECONDS:
        yield f"waits less than {LONGEST_BUILD_SECONDS} s, the longest a build may run"
