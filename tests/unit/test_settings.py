"""Settings: what template.yaml gives a function, read once and checked, never an empty string passed on."""

from __future__ import annotations

import pytest

from handlers.composition import Container, MissingSetting, Settings

ENVIRONMENT = {
    "TABLE_NAME": "hookrun-table",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:hookrun",
    "SECRET_PREFIX": "hookrun/stack/",
    "ADMIN_PRINCIPALS": "arn:aws:iam::123456789012:role/ops, arn:aws:iam::123456789012:user/root,",
}


def test_settings_are_read_from_the_functions_environment() -> None:
    settings = Settings.from_environment(ENVIRONMENT)
    assert settings == Settings(
        table_name="hookrun-table",
        state_machine_arn=ENVIRONMENT["STATE_MACHINE_ARN"],
        secret_prefix="hookrun/stack/",
        admin_principals=frozenset({"arn:aws:iam::123456789012:role/ops", "arn:aws:iam::123456789012:user/root"}),
    )


@pytest.mark.parametrize("table_name", [None, ""])
def test_a_function_without_its_table_fails_at_start(table_name: str | None) -> None:
    environment = {"TABLE_NAME": table_name} if table_name is not None else {}
    with pytest.raises(MissingSetting, match="TABLE_NAME"):
        Settings.from_environment(environment)


@pytest.mark.parametrize("arn", [None, ""])
def test_a_missing_workflow_fails_the_webhook_at_its_first_wiring_not_with_an_empty_arn(arn: str | None) -> None:
    environment = {"TABLE_NAME": "t"} | ({"STATE_MACHINE_ARN": arn} if arn is not None else {})
    settings = Settings.from_environment(environment)
    assert settings.state_machine_arn is None
    with pytest.raises(MissingSetting, match="STATE_MACHINE_ARN"):
        _ = Container(settings).trigger_ports


def test_functions_that_start_no_runs_need_no_workflow_and_no_admins() -> None:
    settings = Settings.from_environment({"TABLE_NAME": "t"})
    assert (settings.state_machine_arn, settings.admin_principals) == (None, frozenset())


def test_the_stack_s_limit_on_each_pipeline_s_runs_is_read_and_is_the_highest_without_it() -> None:
    from domain.models import MAX_RUNNING_RUNS

    assert Settings.from_environment({"TABLE_NAME": "t", "MAX_RUNNING_RUNS": "25"}).max_running_runs == 25
    assert Settings.from_environment({"TABLE_NAME": "t"}).max_running_runs == MAX_RUNNING_RUNS
