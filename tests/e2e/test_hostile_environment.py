"""Variables become a job's environment: a webhook caller must not turn a variable into code in the job runner."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import RunningStack, wait_for_run
from tests.e2e.test_runs import job, new_pipeline, post

pytestmark = pytest.mark.e2e

MARKER = "INJECTED-BY-THE-CALLER"


def test_a_callers_bash_env_is_refused_and_runs_no_code(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "build", "jobs": [{"name": "print", "script": ["echo done"]}]}],
        webhook={"allowUndeclaredVariables": True},
    )
    answer = post(url, {"BASH_ENV": f"$(echo {MARKER} >&2)"})
    assert (answer.status_code, answer.json()["code"]) == (422, "INVALID_VARIABLES")
    assert "reserved" in answer.json()["errors"][0]["reason"]


def test_undeclared_variables_still_reach_the_job_when_allowed(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "build", "jobs": [{"name": "print", "script": ['echo "extra=$EXTRA"']}]}],
        webhook={"allowUndeclaredVariables": True},
    )
    run = wait_for_run(local_stack.endpoint, post(url, {"EXTRA": MARKER}).json()["runId"], user="admin")
    assert job(run, "build", "print")["output"] == f"extra={MARKER}\n"
