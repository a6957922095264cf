"""Role by role: every AWS action each function can call is allowed by its role in the SAM-transformed template.

tests/aws_calls.py lists, per function, each call its handler can make (action, resource, the partition keys
that `dynamodb:LeadingKeys` conditions see) and evaluates it against the role's statements, conditions included,
which moto's own evaluation does not check (hookrun/local_iam.py). What keeps the list honest: every boto3
operation in src/ is in it (and nothing else); the calls recorded from the real handlers are in it and allowed
(the webhook on a moto server with IAM enforced, tests/integration/test_iam_on_moto.py; the API over its routes,
tests/integration/test_api_calls_on_moto.py; the job runner and run status over real runs,
tests/workflow/test_role_calls.py); the state machine's are read from its definition.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from hookrun.local_iam import RoleDefinition
from hookrun.template import ROOT, TemplateResolver, load_template, resources_of_type
from tests.aws_calls import (
    ACCOUNT,
    CALLS,
    LIBRARY_CALLS,
    OPERATION_ACTIONS,
    REGION,
    RESOURCES,
    SERVICE_PREFIX,
    STACK,
    STATE_MACHINE,
    TABLE,
    TRIGGER,
    Call,
    allows,
    roles,
)


def state_machine_calls() -> list[Call]:
    """The Lambda functions the workflow's Task states invoke, read from its definition."""
    template = load_template()
    resolver = TemplateResolver(template, RESOURCES, REGION, ACCOUNT, STACK)
    ((_, machine),) = resources_of_type(template, "AWS::Serverless::StateMachine").items()
    substitutions = resolver.resolve(machine["Properties"]["DefinitionSubstitutions"])
    text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text(encoding="utf-8")
    names = {m.group(1) for m in re.finditer(r'"FunctionName":\s*"\$\{(\w+)\}"', text)}
    assert '"Resource": "arn:aws:states:::lambda:invoke"' in text
    assert set(re.findall(r'"Resource":\s*"([^"]+)"', text)) == {"arn:aws:states:::lambda:invoke"}
    return [Call("lambda:InvokeFunction", substitutions[name]) for name in sorted(names)]


def operations_in_src() -> set[str]:
    """Every boto3 operation called in src/ on the services the Container makes clients for, as IAM actions."""
    session = botocore.session.get_session()
    operations = {
        xform_name(name): f"{prefix}:{name}"
        for service, prefix in SERVICE_PREFIX.items()
        for name in session.get_service_model(service).operation_names
    }
    called: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in operations:
                called.add(operations[node.func.attr])
    return called


def _case_id(case: tuple[str, Call]) -> str:
    return f"{case[0]}-{case[1].action}-{'-'.join(case[1].leading_keys) or case[1].resource.rsplit(':', 1)[-1]}"


CASES = [(function, call) for function, calls in CALLS.items() for call in calls]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_each_function_role_allows_each_call_its_handler_makes(case: tuple[str, Call]) -> None:
    function, call = case
    assert allows(roles()[function], call), f"{function}'s role does not allow {call}"


@pytest.mark.parametrize("call", state_machine_calls(), ids=lambda call: call.resource.rsplit(":", 1)[-1])
def test_the_state_machine_role_allows_each_function_it_invokes(call: Call) -> None:
    assert allows(roles()["PipelineStateMachine"], call)


def test_the_calls_cover_every_function_and_the_state_machine() -> None:
    assert set(CALLS) | {"PipelineStateMachine"} == set(roles())


def test_the_calls_are_the_aws_operations_the_source_makes() -> None:
    in_src = set().union(*(OPERATION_ACTIONS.get(action, {action}) for action in operations_in_src()))
    listed = {call.action for calls in CALLS.values() for call in calls}
    assert listed - LIBRARY_CALLS == in_src


def test_the_evaluator_refuses_what_the_role_does_not_grant() -> None:
    webhook = roles()["WebhookFunction"]
    assert not allows(webhook, Call("dynamodb:PutItem", TABLE, ("PIPELINE#demo",)))  # LeadingKeys
    assert not allows(webhook, Call("dynamodb:Scan", TABLE))  # action
    assert not allows(webhook, Call("dynamodb:GetItem", TABLE.replace("HookrunTable", "Other")))  # resource
    assert not allows(webhook, Call("states:StartExecution", STATE_MACHINE + "-other"))


def test_the_evaluator_honours_an_explicit_deny() -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "*"}]}
    webhook = roles()["WebhookFunction"]
    denied = RoleDefinition(webhook.name, {}, {**webhook.policies, "deny": deny}, [])
    assert allows(webhook, Call("dynamodb:GetItem", TABLE, (TRIGGER,)))
    assert not allows(denied, Call("dynamodb:GetItem", TABLE, (TRIGGER,)))
