"""template.yaml: lint-clean, transformable by SAM, and true to the contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hookrun.local_iam import transformed_template
from hookrun.template import ROOT, TEMPLATE_PATH, load_template, resources_of_type


def transformed() -> dict[str, Any]:
    return transformed_template()


def test_cfn_lint_is_clean() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_transform_succeeds() -> None:
    resources = transformed()["Resources"]
    assert any(r["Type"] == "AWS::ApiGateway::RestApi" for r in resources.values())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in resources.values())


def test_webhook_route_is_post_pipeline_webhook_token() -> None:
    events = load_template()["Resources"]["WebhookFunction"]["Properties"]["Events"]
    assert {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events.values()} == {
        ("/pipeline/webhook/{token}", "post")
    }


def test_webhook_function_may_only_start_executions_of_its_state_machine() -> None:
    resources = transformed()["Resources"]
    role = resources["WebhookFunctionRole"]
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        assert statement["Resource"] != "*", statement
    assert any("states:StartExecution" in json.dumps(s) for s in statements)


def test_table_has_on_demand_billing_pitr_and_ttl() -> None:
    (table,) = resources_of_type(load_template(), "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_functions_use_python312_from_src() -> None:
    template = load_template()
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["CodeUri"] == "src/"
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        module, _, _ = function["Properties"]["Handler"].rpartition(".")
        assert (ROOT / "src" / (module.replace(".", "/") + ".py")).is_file(), name


def test_events_are_valid_json_for_sam_local_invoke() -> None:
    for path in sorted((ROOT / "events").glob("*.json")):
        json.loads(path.read_text(encoding="utf-8"))
