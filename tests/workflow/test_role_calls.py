"""The workflow's functions, recorded over runs that succeed, fail and carry secrets and a delivery: every AWS
call they make is allowed by their role in the SAM-transformed template (resource and dynamodb:LeadingKeys
included, which moto does not check) and listed for them in tests/aws_calls.py."""

from __future__ import annotations

from typing import Any

from domain.models import DeliveryInfo
from tests.aws_calls import CallRecorder, record_handler_calls
from tests.workflow.conftest import Workflow, pipeline


def test_the_workflow_functions_make_only_calls_their_roles_allow(
    workflow: Workflow, dynamodb: Any, monkeypatch: Any
) -> None:
    recorder = CallRecorder()
    record_handler_calls(recorder, monkeypatch)
    stages = [
        {"name": "build", "jobs": [{"name": "a", "script": ['test -n "$API_KEY"']}, {"name": "b", "script": ["true"]}]},
        {"name": "deploy", "jobs": [{"name": "ship", "script": ["true"]}]},
    ]
    github = DeliveryInfo(source="github", event="push", delivery_id="d-1")
    passing = pipeline(stages, variables={"API_KEY": {"secret": True}})
    failing = pipeline([{"name": "test", "jobs": [{"name": "broken", "script": ["exit 3"]}]}, *stages[1:]])
    runs = [
        workflow.start(passing, secret_names=("API_KEY",), delivery=github, secrets={"API_KEY": "hunter22"}),
        workflow.start(failing),
    ]

    assert [workflow.wait(run_id)["status"] for run_id in runs] == ["SUCCEEDED", "FAILED"]
    assert set(recorder.calls) == {"JobStatusFunction", "RunStatusFunction"}  # the job runner calls no AWS API
    assert recorder.not_allowed() == []
    assert recorder.not_listed() == []
