"""The CodeBuild project that runs codebuild jobs, and its role: as the domain's defaults and the trust model say."""

from __future__ import annotations

from typing import Any

from domain.models import DEFAULT_BUILD_IMAGE, DEFAULT_COMPUTE_TYPE
from hookrun.template import load_template


def resource(name: str) -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"][name]
    return found


def test_the_project_has_no_source_or_artifacts_of_its_own_and_logs_to_its_log_group() -> None:
    project = resource("BuildProject")["Properties"]
    assert (project["Source"]["Type"], project["Artifacts"]["Type"]) == ("NO_SOURCE", "NO_ARTIFACTS")
    assert project["LogsConfig"]["CloudWatchLogs"] == {"Status": "ENABLED", "GroupName": {"Ref": "BuildLogGroup"}}
    assert project["ServiceRole"] == {"Fn::GetAtt": ["BuildRole", "Arn"]}


def test_the_projects_environment_is_the_jobs_default_unprivileged() -> None:
    environment = resource("BuildProject")["Properties"]["Environment"]
    assert (environment["Image"], environment["ComputeType"], environment["PrivilegedMode"]) == (
        DEFAULT_BUILD_IMAGE,
        DEFAULT_COMPUTE_TYPE,
        False,
    )


def test_only_codebuild_of_this_account_assumes_the_build_role() -> None:
    (statement,) = resource("BuildRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_state_machine_starts_builds_of_this_project_only() -> None:
    machine = resource("PipelineStateMachine")["Properties"]
    (statement,) = [s for s in machine["Policies"][0]["Statement"] if "codebuild:StartBuild" in s["Action"]]
    assert statement["Resource"] == {"Fn::GetAtt": ["BuildProject", "Arn"]}
    assert machine["DefinitionSubstitutions"]["BuildProjectName"] == {"Ref": "BuildProject"}
