"""Codebuild jobs end to end on the local stack: the build runs on the host shell, its log in moto."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import RunningStack, wait_for_run
from tests.e2e.test_runs import job, new_pipeline, post


def codebuild_job(name: str, script: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "runner": "codebuild", "script": script, **extra}


def test_a_codebuild_job_runs_its_script_and_records_its_output(local_stack: RunningStack) -> None:
    url = new_pipeline(
        local_stack,
        [{"name": "build", "jobs": [codebuild_job("hello", ['echo "abc is $abc"'])]}],
        variables={"abc": "123"},
    )
    run = wait_for_run(local_stack.endpoint, post(url, {"abc": "456"}).json()["runId"], user="admin")
    hello = job(run, "build", "hello")
    assert (run["status"], hello["status"], hello["exitCode"]) == ("SUCCEEDED", "SUCCEEDED", 0), (
        hello["reason"],
        run["reason"],
    )
    lines = hello["output"].splitlines()
    assert lines[0].startswith("[hookrun] local build: runs on this host's shell")
    assert "abc is 456" in lines
