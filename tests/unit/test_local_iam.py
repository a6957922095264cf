"""The template's roles as the local stack creates them in moto, and the policies as moto can check them."""

from __future__ import annotations

import json

from hookrun.local_iam import (
    RoleDefinition,
    as_moto_checks,
    role_definitions,
    role_holders,
    transformed_template,
    without_action,
)
from hookrun.template import function_properties, load_template

STACK, REGION, ACCOUNT = "hookrun-local", "us-east-1", "123456789012"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-HookrunTable"


def roles() -> dict[str, RoleDefinition]:
    return role_definitions(transformed_template(REGION), STACK, REGION, ACCOUNT)


def test_every_function_the_state_machine_and_the_build_project_hold_a_role_of_their_own() -> None:
    holders = role_holders(transformed_template(REGION))
    assert set(holders) == {*function_properties(load_template()), "PipelineStateMachine", "BuildProject"}
    assert len(set(holders.values())) == len(holders)


def test_roles_are_named_after_the_stack_and_their_intrinsics_resolved_to_local_names() -> None:
    webhook = roles()["WebhookFunctionRole"]
    assert webhook.name == f"{STACK}-WebhookFunctionRole"
    text = json.dumps(webhook.policies)
    assert "Fn::" not in text
    assert '"Ref"' not in text
    assert TABLE_ARN in text
    assert f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-PipelineStateMachine" in text


def test_moto_checks_the_action_on_any_resource_where_it_cannot_check_the_resource() -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": TABLE_ARN}]}
    actions = ["dynamodb:GetItem", "dynamodb:TransactGetItems"]
    assert as_moto_checks(document) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }


def test_resources_that_moto_checks_are_kept() -> None:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::1:role/r"}
    assert as_moto_checks({"Statement": statement})["Statement"] == [{**statement, "Action": ["sts:AssumeRole"]}]


def test_moto_gets_its_operation_name_beside_the_iam_action() -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:x"}]}
    assert as_moto_checks(document)["Statement"][0]["Action"] == ["lambda:InvokeFunction", "lambda:Invoke"]


def test_without_action_takes_out_one_action_and_the_statements_left_empty() -> None:
    webhook = without_action(roles(), "WebhookFunctionRole", "states:StartExecution")["WebhookFunctionRole"]
    granted = [a for p in webhook.policies.values() for s in p["Statement"] for a in s["Action"]]
    assert "states:StartExecution" not in granted
    assert "dynamodb:GetItem" in granted
    assert all(policy["Statement"] for policy in webhook.policies.values())
    assert roles()["WebhookFunctionRole"].policies != webhook.policies
