"""The API function's AWS calls, recorded over its routes on moto: each allowed by its role in the SAM-transformed
template (resource and dynamodb:LeadingKeys included) and listed for it in tests/aws_calls.py."""

from __future__ import annotations

import pytest

from tests.aws_calls import CallRecorder, record_aws_calls
from tests.integration.test_manage_api_on_moto import (  # noqa: F401 - the fixtures wire the API to moto
    MEMBER,
    PIPELINE,
    WEBHOOK,
    local_stack,
    ports,
    request,
    wired,
)
from tests.support import demo_pipeline

RUNS = "/api/pipelines/{pipelineId}/runs"


def test_the_api_makes_only_calls_its_role_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = CallRecorder()
    record_aws_calls(recorder, monkeypatch)
    pipeline = demo_pipeline(id="new").model_dump(mode="json", by_alias=True, exclude_none=True)
    with recorder.as_function("ApiFunction"):
        answers = [
            request("PUT", PIPELINE, "carol", pipeline, pipelineId="new"),
            request("GET", "/api/pipelines", "carol"),
            request("GET", PIPELINE, "carol", pipelineId="new"),
            request("POST", f"{WEBHOOK}/enable", "alice", pipelineId="demo"),
            request("POST", f"{WEBHOOK}/rotate", "owen", pipelineId="demo"),
            request("PUT", f"{WEBHOOK}/secret", "owen", {"secret": "s" * 32}, pipelineId="demo"),
            request("DELETE", f"{WEBHOOK}/secret", "owen", pipelineId="demo"),
            request("GET", WEBHOOK, "owen", pipelineId="demo"),
            request("POST", RUNS, "alice", {"variables": {"API_KEY": "hunter22"}}, pipelineId="demo"),
        ]
        answers += [
            request("GET", "/api/runs/{runId}", "owen", runId=answers[-1][1]["runId"]),
            request("GET", RUNS, "alice", pipelineId="demo"),
            request("GET", "/api/pipelines/{pipelineId}/deliveries", "bob", pipelineId="demo"),
            request("DELETE", MEMBER, "owen", pipelineId="demo", userId="alice"),
            request("DELETE", PIPELINE, "owen", pipelineId="demo"),
        ]
    assert [status for status, _ in answers] == [201, 200, 200, 201, 200, 200, 204, 200, 202, 200, 200, 200, 204, 204]
    assert recorder.not_allowed() == []
    assert recorder.not_listed() == []
