"""statemachine/pipeline.asl.json: checked statically, since cfn-lint does not look inside it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hookrun.template import ROOT, load_template, resources_of_type
from tests.template.asl import check_definition


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text(encoding="utf-8"))
    return loaded


def substitutions() -> set[str]:
    (machine,) = resources_of_type(load_template(), "AWS::Serverless::StateMachine").values()
    return set(machine["Properties"]["DefinitionSubstitutions"])


def test_the_workflow_definition_has_no_problems() -> None:
    assert check_definition(definition(), substitutions()) == []


def test_the_workflow_uses_jsonpath() -> None:
    assert definition()["QueryLanguage"] == "JSONPath"


def test_moto_interpreter_parses_the_definition() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    AmazonStateLanguageParser.parse(json.dumps(definition()))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["States"]["RecordRun"].update(Type="Taks"), "unknown Type"),
        (lambda d: d["States"]["RecordRun"].update(Next="Nowhere"), "does not exist"),
        (lambda d: d["States"]["FinishRun"].pop("End"), "exactly one of Next or End"),
        (lambda d: d["States"]["RecordRun"].pop("TimeoutSeconds"), "no TimeoutSeconds"),
        (lambda d: d["States"]["RecordRun"].pop("Catch"), "no Catch"),
        (lambda d: d["States"]["Builds"].pop("MaxConcurrency"), "MaxConcurrency"),
        (lambda d: d["States"].update(Orphan={"Type": "Pass", "End": True}), "unreachable"),
        (lambda d: d.update(StartAt="Missing"), "StartAt"),
        (
            lambda d: d["States"]["LambdaJobs"]["ItemProcessor"]["States"]["RunJob"].pop("TimeoutSeconds"),
            "RunJob' has no TimeoutSeconds",
        ),
        (
            lambda d: d["States"]["Jobs"]["ItemProcessor"]["States"].update(RecordRun={"Type": "Succeed"}),
            "'RecordRun' is the name of another state",
        ),
    ],
)
def test_the_check_catches_broken_definitions(change: Any, problem: str) -> None:
    broken = definition()
    change(broken)
    assert any(problem in p for p in check_definition(broken, substitutions())), check_definition(broken)


def job_state(machine: dict[str, Any], stage_map: str, name: str) -> dict[str, Any]:
    state: dict[str, Any] = machine["States"][stage_map]["ItemProcessor"]["States"][name]
    return state


def start_build(machine: dict[str, Any]) -> dict[str, Any]:
    return job_state(machine, "Builds", "StartBuild")


def test_the_workflow_runs_codebuild_jobs_with_start_build_sync() -> None:
    assert start_build(definition())["Resource"] == "arn:aws:states:::codebuild:startBuild.sync"


@pytest.mark.parametrize(
    ("alone", "mixed"),
    [(("LambdaJobs", "RunJob"), ("Jobs", "RunMixedJob")), (("Builds", "StartBuild"), ("Jobs", "StartMixedBuild"))],
)
def test_a_job_runs_alike_in_a_stage_of_one_runner_and_in_a_mixed_one(
    alone: tuple[str, str], mixed: tuple[str, str]
) -> None:
    machine = definition()
    one, other = job_state(machine, *alone), job_state(machine, *mixed)
    assert {**one, "Catch": None} == {**other, "Catch": None}  # only a build's failure goes to its own Pass state


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(Resource="arn:aws:states:::codebuild:startBuild"), "does not know"),
        (lambda s: s["Parameters"].update({"SecondarySourcesOverride": []}), "SecondarySourcesOverride"),
        (lambda s: s.update(TimeoutSeconds=3600), "the longest a build may run"),
    ],
)
def test_the_check_knows_the_codebuild_integration(change: Any, problem: str) -> None:
    broken = definition()
    change(start_build(broken))
    assert any(problem in p for p in check_definition(broken, substitutions())), check_definition(broken)


def test_unsubstituted_placeholders_are_reported() -> None:
    assert any("JobStatusFunctionArn" in p for p in check_definition(definition(), {"RunStatusFunctionArn"}))
