"""Codebuild jobs in the domain: the repository check, the build a job asks for, and how its log is read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.builds import BuildOutcome, build_environment, build_overrides, read_outcome
from domain.models import CheckoutSource, Job
from domain.sources import SourceSettings, decide
from domain.sources.events import SourceEvent
from domain.sources.providers import EventKind, Provider
from domain.sources.repositories import is_same_repository, normalize_repository

SHA = "a" * 40


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/Octo/Hello.git",
        "https://github.com/octo/hello/",
        "git@github.com:octo/hello.git",
        "ssh://git@github.com:22/octo/hello",
        "http://user@GitHub.com/octo/hello",
    ],
)
def test_the_spellings_of_one_repository_are_one_repository(url: str) -> None:
    assert is_same_repository("https://github.com/octo/hello", [url], "")


def test_local_paths_and_file_urls_name_the_same_repository() -> None:
    assert normalize_repository("file:///tmp/x/hello.git/") == normalize_repository("/tmp/x/hello") == "/tmp/x/hello"


def test_another_owner_or_host_is_another_repository() -> None:
    assert not is_same_repository("https://github.com/octo/hello", ["https://github.com/other/hello"], "other/hello")
    assert not is_same_repository("https://github.com/octo/hello", ["https://gitlab.com/octo/hello"], "")


def test_the_full_name_counts_on_the_events_host() -> None:
    assert is_same_repository("https://gitlab.com/group/sub/app", ["https://gitlab.com/x/y"], "group/sub/app")


def push(urls: tuple[str, ...], full_name: str = "octo/hello") -> SourceEvent:
    return SourceEvent(
        provider=Provider.GITHUB,
        kind=EventKind.PUSH,
        event_name="push",
        ref="refs/heads/main",
        branch="main",
        commit_sha=SHA,
        repository=full_name,
        repository_urls=urls,
        after=SHA,
    )


def test_a_push_from_another_repository_is_skipped_with_repository_mismatch() -> None:
    settings = SourceSettings(repository="https://github.com/octo/hello")
    decision = decide(settings, push(("https://github.com/octo/other.git",), "octo/other"))
    assert (decision.outcome, decision.reason) == ("skip", "REPOSITORY_MISMATCH")
    assert "octo/other" in decision.message and "source.repository" in decision.message


def test_a_push_from_the_pipelines_repository_runs() -> None:
    settings = SourceSettings(repository="git@github.com:octo/hello.git")
    assert decide(settings, push(("https://github.com/octo/hello.git",))).outcome == "run"


def test_without_a_repository_any_repository_runs() -> None:
    assert decide(SourceSettings(), push(("https://github.com/someone/else",))).outcome == "run"


def codebuild(**changes: object) -> Job:
    return Job.model_validate({"name": "build", "script": ["make"], "runner": "codebuild", **changes})


def spec_env(overrides: Any) -> dict[str, Any]:
    env: dict[str, Any] = json.loads(overrides.buildspec)["env"]
    return env


def test_secrets_reach_a_build_as_secrets_manager_references_never_as_plaintext() -> None:
    overrides = build_overrides(codebuild(), {"HOOKRUN_JOB": "build"}, {"API_KEY": "arn:secret:API_KEY"}, None)
    environment = build_environment({"abc": "123", "API_KEY": "from-a-caller"}, ["API_KEY"])
    assert spec_env(overrides)["secrets-manager"] == {"API_KEY": "arn:secret:API_KEY"}
    assert spec_env(overrides)["variables"] == {"HOOKRUN_JOB": "build"}
    assert [(v["Name"], v["Type"], v["Value"]) for v in environment] == [("abc", "PLAINTEXT", "123")]


def test_the_runs_environment_leaves_each_jobs_own_variables_to_its_buildspec() -> None:
    shared = {"HOOKRUN_RUN_ID": "r", "HOOKRUN_STAGE": "test", "HOOKRUN_JOB": "", "HOOKRUN_REPOSITORY_URL": "x"}
    assert [v["Name"] for v in build_environment(shared, [])] == ["HOOKRUN_RUN_ID"]


def test_a_build_has_the_jobs_image_compute_type_privilege_and_a_timeout_beyond_the_scripts() -> None:
    job = codebuild(
        image="public.ecr.aws/docker/library/python:3.12",
        computeType="BUILD_GENERAL1_LARGE",
        privileged=True,
        timeoutSeconds=3600,
    )
    overrides = build_overrides(job, {}, {}, None)
    assert (overrides.image, overrides.compute_type, overrides.privileged) == (
        "public.ecr.aws/docker/library/python:3.12",
        "BUILD_GENERAL1_LARGE",
        True,
    )
    assert overrides.timeout_in_minutes == 65
    assert "timeout -k 10 3600 bash" in overrides.buildspec


def test_a_build_defaults_to_the_standard_image_on_the_small_compute_type() -> None:
    overrides = build_overrides(codebuild(), {}, {}, None)
    assert (overrides.image, overrides.compute_type, overrides.privileged, overrides.timeout_in_minutes) == (
        "aws/codebuild/amazonlinux-x86_64-standard:5.0",
        "BUILD_GENERAL1_SMALL",
        False,
        10,
    )


def test_a_build_checks_out_only_when_the_pipeline_names_a_repository_and_the_job_wants_it() -> None:
    source = CheckoutSource(repository="https://github.com/octo/hello", default_branch="trunk")
    checked = build_overrides(codebuild(), {}, {}, source)
    plain = build_overrides(codebuild(checkout=False), {}, {}, source)
    names = spec_env(checked)["variables"]
    assert (names["HOOKRUN_REPOSITORY_URL"], names["HOOKRUN_DEFAULT_BRANCH"]) == (source.repository, "trunk")
    assert "git init" in checked.buildspec and "git init" not in plain.buildspec


def test_the_buildspec_holds_the_script_verbatim_whatever_it_contains() -> None:
    script = ["echo 'EOF'", 'printf "%s\\n" "$HOME"', "cat <<'X'", "X"]
    spec = json.loads(build_overrides(codebuild(script=script), {}, {}, None).buildspec)
    assert "\n".join(script) in spec["phases"]["build"]["commands"][0]


def test_codebuild_reserved_names_are_not_passed_to_a_build() -> None:
    overrides = build_overrides(codebuild(), {"CODEBUILD_X": "1", "ok": "2"}, {}, None)
    assert spec_env(overrides)["variables"] == {"ok": "2"}
    assert [v["Name"] for v in build_environment({"CODEBUILD_X": "1", "PATH": "/x", "ok": "2"}, [])] == ["ok"]


def outcome(status: str, output: str) -> BuildOutcome:
    return BuildOutcome(build_status=status, output=output, dropped_bytes=0, duration_ms=1000)


def test_a_build_that_exited_non_zero_fails_with_its_exit_code() -> None:
    assert read_outcome(outcome("FAILED", "x\n[hookrun] exit code 7\n"), 60) == (False, 7, "exited with code 7")


def test_a_build_past_its_timeout_fails_with_the_reason() -> None:
    assert read_outcome(outcome("FAILED", "[hookrun] exit code 124\n"), 2) == (False, 124, "timed out after 2 s")
    assert read_outcome(outcome("TIMED_OUT", "begin\n"), 2) == (False, None, "timed out after 2 s")


def test_a_failed_checkout_fails_with_gits_message() -> None:
    log = "[hookrun] CHECKOUT_FAILED: fatal: repository 'x' does not exist \n"
    assert read_outcome(outcome("FAILED", log), 60) == (
        False,
        None,
        "CHECKOUT_FAILED: fatal: repository 'x' does not exist",
    )


def test_a_succeeded_build_succeeds_whatever_its_script_printed() -> None:
    log = "[hookrun] CHECKOUT_FAILED: a script's own words\n[hookrun] exit code 0\n"
    assert read_outcome(outcome("SUCCEEDED", log), 60) == (True, 0, None)


def test_a_variable_named_like_a_secret_or_the_source_token_is_not_sent_as_plain_text() -> None:
    environment = {"API_KEY": "from-a-caller", "HOOKRUN_GIT_TOKEN": "from-a-caller", "ok": "1"}
    assert [v["Name"] for v in build_environment(environment, ["API_KEY"])] == ["ok"]
