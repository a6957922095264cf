"""merge_variables: defaults < built-ins < request; declared types checked and coerced."""

import pytest

from domain.errors import InvalidVariables
from domain.models import VariableDeclaration, VariableType
from domain.variables import merge_variables
from tests.support import demo_pipeline

DECLARED = demo_pipeline().variables


def reasons(overrides: dict[str, object], **kwargs: object) -> dict[str, str]:
    with pytest.raises(InvalidVariables) as caught:
        merge_variables(DECLARED, overrides, **kwargs)  # type: ignore[arg-type]
    return {p.name: p.reason for p in caught.value.problems}


def test_empty_request_runs_with_defaults() -> None:
    merged = merge_variables(DECLARED, {})
    assert merged.values == {"abc": "123", "DEPLOY_ENV": "staging", "RETRIES": "3", "DRY_RUN": "false"}


def test_request_value_overrides_default() -> None:
    assert merge_variables(DECLARED, {"abc": "456"}).values["abc"] == "456"


def test_built_ins_override_defaults_and_request_overrides_built_ins() -> None:
    merged = merge_variables(DECLARED, {"abc": "789"}, built_ins={"abc": "builtin", "HOOKRUN_BRANCH": "main"})
    assert merged.values["abc"] == "789"
    assert merged.values["HOOKRUN_BRANCH"] == "main"


@pytest.mark.parametrize(
    ("name", "raw", "rendered"),
    [
        ("abc", 456, "456"),
        ("abc", True, "true"),
        ("abc", 1.5, "1.5"),
        ("RETRIES", "7", "7"),
        ("RETRIES", 7.0, "7"),
        ("RETRIES", "2.5", "2.5"),
        ("DRY_RUN", "TRUE", "true"),
        ("DRY_RUN", False, "false"),
        ("DEPLOY_ENV", "prod", "prod"),
    ],
)
def test_values_are_coerced_to_the_declared_type(name: str, raw: object, rendered: str) -> None:
    assert merge_variables(DECLARED, {name: raw}).values[name] == rendered


@pytest.mark.parametrize(
    ("overrides", "name", "reason_part"),
    [
        ({"nope": "1"}, "nope", "not declared"),
        ({"RETRIES": "many"}, "RETRIES", "must be a number"),
        ({"RETRIES": True}, "RETRIES", "not a boolean"),
        ({"RETRIES": 10**30}, "RETRIES", "out of range"),
        ({"DRY_RUN": "yes"}, "DRY_RUN", "boolean"),
        ({"DEPLOY_ENV": "qa"}, "DEPLOY_ENV", "one of"),
        ({"abc": None}, "abc", "null"),
        ({"abc": {"x": 1}}, "abc", "nested"),
        ({"abc": [1]}, "abc", "nested"),
        ({"abc": "x" * 4097}, "abc", "longer than 4096"),
        ({"abc": "a\x00b"}, "abc", "NUL"),
        ({"abc": "\ud800"}, "abc", "surrogate"),
        ({"1bad": "x"}, "1bad", "invalid name"),
        ({"a-b": "x"}, "a-b", "invalid name"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(overrides: dict[str, object], name: str, reason_part: str) -> None:
    assert reason_part in reasons(overrides)[name]


def test_every_problem_is_listed_not_just_the_first() -> None:
    assert set(reasons({"nope": 1, "RETRIES": "x", "DEPLOY_ENV": "qa"})) == {"nope", "RETRIES", "DEPLOY_ENV"}


def test_more_than_100_variables_are_rejected() -> None:
    assert "too many" in reasons({f"v{i}": "x" for i in range(101)}, allow_undeclared=True)["*"]


def test_undeclared_names_pass_as_strings_when_the_pipeline_allows_them() -> None:
    assert merge_variables(DECLARED, {"EXTRA": 5}, allow_undeclared=True).values["EXTRA"] == "5"


def test_required_variable_without_default_must_be_sent() -> None:
    declared = {"TARGET": VariableDeclaration(required=True)}
    with pytest.raises(InvalidVariables) as caught:
        merge_variables(declared, {})
    assert caught.value.problems[0].name == "TARGET"
    assert merge_variables(declared, {"TARGET": "x"}).values == {"TARGET": "x"}


def test_secret_values_are_masked_and_kept_out_of_public_variables() -> None:
    merged = merge_variables(DECLARED, {"API_KEY": "s3cr3t"})
    assert merged.masked()["API_KEY"] == "***"
    assert "API_KEY" not in merged.public()
    assert merged.secrets() == {"API_KEY": "s3cr3t"}


def test_error_names_never_carry_raw_control_characters() -> None:
    problems = reasons({"bad\nname" + "x" * 100: 1})
    (name,) = problems
    assert "\n" not in name
    assert len(name) <= 67


def test_choice_declaration_needs_choices_and_valid_default() -> None:
    with pytest.raises(ValueError, match="choices"):
        VariableDeclaration(type=VariableType.CHOICE)
    with pytest.raises(ValueError, match="one of"):
        VariableDeclaration(type=VariableType.CHOICE, choices=("a",), default="b")


@pytest.mark.parametrize("name", ["BASH_ENV", "ENV", "PS4", "SHELLOPTS", "LD_PRELOAD", "PATH", "HOME", "bash_env"])
def test_names_that_change_how_the_shell_runs_are_refused_even_when_undeclared_names_are_allowed(name: str) -> None:
    assert "reserved" in reasons({name: "$(id)"}, allow_undeclared=True)[name]


def test_a_pipeline_cannot_declare_a_reserved_name() -> None:
    with pytest.raises(ValueError, match="reserved"):
        demo_pipeline(variables={"BASH_ENV": "x"})


def test_an_integer_too_big_for_a_float_is_out_of_range_not_a_crash() -> None:
    assert "out of range" in reasons({"RETRIES": 10**400})["RETRIES"]
    assert "out of range" in reasons({"abc": -(10**400)})["abc"]


def test_a_name_with_a_trailing_newline_is_invalid() -> None:
    assert "invalid name" in reasons({"abc\n": "x"}, allow_undeclared=True)["abc?"]


def test_a_lambda_job_over_840_seconds_is_refused_naming_the_job() -> None:
    stages = [{"name": "s", "jobs": [{"name": "long", "script": ["true"], "timeoutSeconds": 3600}]}]
    with pytest.raises(ValueError, match="job 'long' runs on lambda, where a job ends after at most 840 s"):
        demo_pipeline(stages=stages)


def test_a_value_outside_a_secret_choice_names_none_of_the_choices() -> None:
    declared = {"KEY": VariableDeclaration(type=VariableType.CHOICE, choices=("k-alpha", "k-beta"), secret=True)}
    with pytest.raises(InvalidVariables) as caught:
        merge_variables(declared, {"KEY": "k-gamma"})
    (problem,) = caught.value.problems
    assert problem.reason == "must be one of the choices the pipeline declares"
    assert "k-alpha" not in problem.reason


def test_a_codebuild_job_may_run_for_an_hour() -> None:
    stages = [
        {"name": "s", "jobs": [{"name": "long", "script": ["true"], "runner": "codebuild", "timeoutSeconds": 3600}]}
    ]
    assert demo_pipeline(stages=stages).stages[0].jobs[0].timeout_seconds == 3600


def test_a_codebuild_job_over_eight_hours_is_refused() -> None:
    stages = [
        {"name": "s", "jobs": [{"name": "j", "script": ["true"], "runner": "codebuild", "timeoutSeconds": 28801}]}
    ]
    with pytest.raises(ValueError, match="28800"):
        demo_pipeline(stages=stages)


@pytest.mark.parametrize(
    "setting", [{"image": "ubuntu:24.04"}, {"computeType": "BUILD_GENERAL1_LARGE"}, {"privileged": True}]
)
def test_build_settings_on_a_lambda_job_are_refused(setting: dict[str, object]) -> None:
    stages = [{"name": "s", "jobs": [{"name": "j", "script": ["true"], **setting}]}]
    with pytest.raises(ValueError, match="only apply to 'runner: codebuild'"):
        demo_pipeline(stages=stages)


def test_checkout_on_a_lambda_job_is_refused_at_apply() -> None:
    stages = [{"name": "s", "jobs": [{"name": "j", "script": ["true"], "checkout": True}]}]
    with pytest.raises(ValueError, match="job 'j' runs on lambda, which has no git"):
        demo_pipeline(stages=stages, source={"repository": "https://github.com/octo/hello"})


def test_checkout_without_a_repository_is_refused() -> None:
    stages = [{"name": "s", "jobs": [{"name": "j", "script": ["true"], "runner": "codebuild", "checkout": True}]}]
    with pytest.raises(ValueError, match=r"set 'source\.repository'"):
        demo_pipeline(stages=stages)


def test_a_repository_url_holding_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="must not hold a password or token"):
        demo_pipeline(source={"repository": "https://x-access-token:ghp_secret@github.com/octo/hello"})


def test_codebuild_jobs_check_out_by_default_when_a_repository_is_set_lambda_jobs_never() -> None:
    stages = [
        {
            "name": "s",
            "jobs": [
                {"name": "build", "script": ["true"], "runner": "codebuild"},
                {"name": "plain", "script": ["true"], "runner": "codebuild", "checkout": False},
                {"name": "quick", "script": ["true"]},
            ],
        }
    ]
    jobs = demo_pipeline(stages=stages, source={"repository": "https://github.com/octo/hello"}).stages[0].jobs
    assert [job.checks_out("https://github.com/octo/hello") for job in jobs] == [True, False, False]
