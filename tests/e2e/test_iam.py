"""IAM enforced on the local stack: each function calls AWS as its own role from the template, so a permission
the template forgets fails here as it would on AWS."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from samtranslator.yaml_helper import yaml_parse

from hookrun.template import ROOT, TEMPLATE_PATH
from tests.e2e.conftest import moto_client, start_stack, stop_stack


def template_without(directory: Path, function: str, policy: str) -> Path:
    """template.yaml with the policy entry `policy` taken from `function`, written where --template can read it."""
    template = yaml_parse(TEMPLATE_PATH.read_text(encoding="utf-8"))
    template["Globals"]["Function"]["CodeUri"] = str(ROOT / template["Globals"]["Function"]["CodeUri"])
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = str(ROOT / properties["DefinitionUri"])
    properties = template["Resources"][function]["Properties"]
    kept = [entry for entry in properties["Policies"] if not (isinstance(entry, dict) and policy in entry)]
    assert len(kept) == len(properties["Policies"]) - 1
    properties["Policies"] = kept
    path = directory / "template.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return path


def test_webhook_role_without_start_execution_fails_the_webhook_as_aws_would(tmp_path: Path) -> None:
    # SAM's StepFunctionsExecutionPolicy grants the webhook states:StartExecution, and nothing else
    template = template_without(tmp_path, "WebhookFunction", "StepFunctionsExecutionPolicy")
    stack = start_stack(tmp_path, extra=("--template", str(template)))
    try:
        response = requests.post(stack.webhook_url, json={}, timeout=30)
        sfn, info = moto_client(stack, "stepfunctions")
        executions = sfn.list_executions(stateMachineArn=info["stateMachineArn"])["executions"]
    finally:
        stop_stack(stack)

    # the handler fails with AccessDenied; API Gateway answers a failed Lambda proxy integration with 502
    assert response.status_code == 502, response.text
    assert executions == []
    # the stack's log names the role and the action denied (whitespace dropped: the console wraps long words)
    denied = "assumed-role/hookrun-local-WebhookFunctionRole/WebhookFunction is not authorized to perform:"
    assert "".join((denied + " states:StartExecution").split()) in "".join(stack.output().split())
