"""Run status rules, stage outcomes, job environment and output handling."""

import json

import pytest

from domain.models import RunStatus as S
from domain.runs import (
    MAX_OUTPUT_BYTES,
    job_environment,
    keep_tail,
    mask_secrets,
    stage_outcome,
    statuses_that_may_move_to,
)
from domain.workflow import failure_reason


def can_move(current: S, target: S) -> bool:
    return current in statuses_that_may_move_to(target)


def test_statuses_never_move_backwards() -> None:
    assert can_move(S.PENDING, S.RUNNING) and can_move(S.RUNNING, S.SUCCEEDED)
    for final in (S.SUCCEEDED, S.FAILED, S.SKIPPED, S.CANCELLED):
        assert not any(can_move(final, target) for target in S)
    assert not can_move(S.RUNNING, S.PENDING)
    assert not can_move(S.RUNNING, S.SKIPPED)


def test_a_retried_job_may_start_again_while_running() -> None:
    assert statuses_that_may_move_to(S.RUNNING) == {S.QUEUED, S.PENDING, S.RUNNING}


def test_stage_outcome_waits_for_every_job() -> None:
    assert stage_outcome([S.SUCCEEDED, S.RUNNING]) is None
    assert stage_outcome([S.SUCCEEDED, S.SUCCEEDED]) is S.SUCCEEDED
    assert stage_outcome([S.SUCCEEDED, S.FAILED]) is S.FAILED
    assert stage_outcome([S.SKIPPED, S.SKIPPED]) is S.SKIPPED
    assert stage_outcome([S.CANCELLED, S.SUCCEEDED]) is S.FAILED


def test_job_environment_has_variables_secrets_and_hookrun_names() -> None:
    env = job_environment({"abc": "456"}, {"KEY": "s"}, run_id="r", pipeline_id="p", stage="s1", job="j")
    assert env == {
        "abc": "456",
        "KEY": "s",
        "HOOKRUN_RUN_ID": "r",
        "HOOKRUN_PIPELINE_ID": "p",
        "HOOKRUN_STAGE": "s1",
        "HOOKRUN_JOB": "j",
    }


def test_hookrun_names_cannot_be_overridden_by_variables() -> None:
    env = job_environment({"HOOKRUN_RUN_ID": "fake"}, {}, run_id="r", pipeline_id="p", stage="s", job="j")
    assert env["HOOKRUN_RUN_ID"] == "r"


@pytest.mark.parametrize(
    "printed",
    [
        "aHVudGVyMiBzM2NyZXQvKz8=",  # base64
        "aHVudGVyMiBzM2NyZXQvKz8",  # base64 without padding
        "aHVudGVyMiBzM2NyZXQvKz8=".replace("+", "-").replace("/", "_"),  # URL-safe base64
        "hunter2%20s3cret%2F%2B%3F",  # URL encoding
        "hunter2+s3cret%2F%2B%3F",  # form encoding
    ],
)
def test_common_encodings_of_a_secret_are_masked(printed: str) -> None:
    assert mask_secrets(f"value: {printed}.", ["hunter2 s3cret/+?"]) == "value: ***."


def test_a_json_escaped_secret_is_masked() -> None:
    assert mask_secrets('{"key": "quote\\"and\\\\slash"}', ['quote"and\\slash']) == '{"key": "***"}'


def test_encodings_of_a_very_short_secret_do_not_mask_ordinary_text() -> None:
    assert mask_secrets("eA== x", ["x"]) == "eA== ***"


def test_secrets_are_masked_longest_first() -> None:
    assert mask_secrets("token=abcdef and abc", ["abc", "abcdef"]) == "token=*** and ***"
    assert mask_secrets("nothing", [""]) == "nothing"


def test_short_output_is_kept_whole() -> None:
    assert keep_tail("hello\n") == "hello\n"


def test_long_output_keeps_the_last_64_kib_with_a_marker() -> None:
    text = "a" * MAX_OUTPUT_BYTES + "THE END"
    kept = keep_tail(text)
    assert kept.startswith("[hookrun: output cut")
    assert kept.endswith("THE END")
    assert len(kept.encode()) <= MAX_OUTPUT_BYTES


def test_bytes_dropped_earlier_are_counted_in_the_marker() -> None:
    assert keep_tail("tail", dropped_before=10).startswith("[hookrun: output cut, the first 10 bytes")


def test_a_failure_reason_keeps_a_lambda_errors_type_and_message_but_never_its_stack_trace() -> None:
    cause = json.dumps(
        {
            "errorMessage": "embedded null byte",
            "errorType": "ValueError",
            "stackTrace": ['  File "/var/task/adapters/shell.py", line 90, in execute\n'],
        }
    )
    assert failure_reason("ValueError", cause) == "ValueError: ValueError: embedded null byte"


def test_a_failure_reason_drops_a_python_traceback_in_a_plain_cause() -> None:
    cause = 'it broke\nTraceback (most recent call last):\n  File "/src/x.py", line 1, in f\nValueError'
    assert failure_reason("States.TaskFailed", cause) == "States.TaskFailed: it broke"
