"""Role by role: every AWS action each function can call is allowed by its role in the SAM-transformed template.

tests/aws_calls.py lists, per function, each call its handler can make (action, resource, the partition keys
that `dynamodb:LeadingKeys` conditions see) and evaluates it against the role's statements, conditions included,
which moto's own evaluation does not check (hookrun/local_iam.py). What keeps the list honest: every boto3
operation in src/ is in it (and nothing else); the calls recorded from the real handlers are in it and allowed
(the webhook on a moto server with IAM enforced, tests/integration/test_iam_on_moto.py; the API over its routes,
tests/integration/test_api_calls_on_moto.py; the job status and run status functions over real runs,
tests/workflow/test_role_calls.py); the state machine's are read from its definition.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from hookrun.local_iam import RoleDefinition
from hookrun.template import ROOT, TemplateResolver, load_template, resources_of_type
from tests.aws_calls import (
    ACCOUNT,
    BUILD_CALLS,
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

# what Step Functions does as the state machine's role for a `.sync` CodeBuild task (AWS: "Call AWS CodeBuild with
# Step Functions", IAM policies): run the build, and manage the EventBridge rule that tells it the build ended
_BUILD_SYNC_RULE = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule"


def _tasks(machine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Task state of a state machine, nested Map processors and Parallel branches included."""
    tasks = []
    for state in machine.get("States", {}).values():
        if state["Type"] == "Task":
            tasks.append(state)
        for nested in [state.get("ItemProcessor") or state.get("Iterator"), *state.get("Branches", [])]:
            if nested:
                tasks.extend(_tasks(nested))
    return tasks


def state_machine_calls() -> list[Call]:
    """The calls the workflow's Task states make, read from its definition with its substitutions."""
    template = load_template()
    resolver = TemplateResolver(template, RESOURCES, REGION, ACCOUNT, STACK)
    ((_, machine),) = resources_of_type(template, "AWS::Serverless::StateMachine").items()
    substitutions: dict[str, str] = resolver.resolve(machine["Properties"]["DefinitionSubstitutions"])
    text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text(encoding="utf-8")
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    calls: set[Call] = set()
    for task in _tasks(json.loads(text)):
        if task["Resource"] == "arn:aws:states:::lambda:invoke":
            calls.add(Call("lambda:InvokeFunction", task["Parameters"]["FunctionName"]))
        elif task["Resource"] == "arn:aws:states:::codebuild:startBuild.sync":
            project = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{task['Parameters']['ProjectName']}"
            calls.update(Call(f"codebuild:{a}", project) for a in ("StartBuild", "StopBuild", "BatchGetBuilds"))
            calls.update(Call(f"events:{a}", _BUILD_SYNC_RULE) for a in ("PutTargets", "PutRule", "DescribeRule"))
        else:
            raise NotImplementedError(f"teach state_machine_calls the integration {task['Resource']}")
    return sorted(calls, key=repr)


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


@pytest.mark.parametrize(
    "call", state_machine_calls(), ids=lambda call: f"{call.action}-{call.resource.rsplit(':', 1)[-1]}"
)
def test_the_state_machine_role_allows_each_call_its_tasks_make(call: Call) -> None:
    assert allows(roles()["PipelineStateMachine"], call)


@pytest.mark.parametrize("call", BUILD_CALLS, ids=lambda call: call.action)
def test_the_build_project_role_allows_what_codebuild_does_for_a_build(call: Call) -> None:
    assert allows(roles()["BuildProject"], call)


def test_the_calls_cover_every_function_the_state_machine_and_the_build_project() -> None:
    assert set(CALLS) | {"PipelineStateMachine", "BuildProject"} == set(roles())


def test_the_calls_are_the_aws_operations_the_source_makes() -> None:
    in_src = set().union(*(OPERATION_ACTIONS.get(action, {action}) for action in operations_in_src()))
    listed = {call.action for calls in CALLS.values() for call in calls}
    assert in_src <= listed
    assert listed - in_src <= LIBRARY_CALLS


def test_the_evaluator_refuses_what_the_role_does_not_grant() -> None:
    webhook = roles()["WebhookFunction"]
    assert not allows(webhook, Call("dynamodb:PutItem", TABLE, ("PIPELINE#demo",)))  # LeadingKeys
    assert not allows(webhook, Call("dynamodb:UpdateItem", TABLE, ("PIPELINE#demo",)))  # the slots' item only
    assert not allows(roles()["RunStatusFunction"], Call("dynamodb:UpdateItem", TABLE, ("PIPELINE#demo",)))
    assert not allows(webhook, Call("dynamodb:Scan", TABLE))  # action
    assert not allows(webhook, Call("dynamodb:GetItem", TABLE.replace("HookrunTable", "Other")))  # resource
    assert not allows(webhook, Call("states:StartExecution", STATE_MACHINE + "-other"))


def test_the_evaluator_honours_an_explicit_deny() -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "*"}]}
    webhook = roles()["WebhookFunction"]
    denied = RoleDefinition(webhook.name, {}, {**webhook.policies, "deny": deny}, [])
    assert allows(webhook, Call("dynamodb:GetItem", TABLE, (TRIGGER,)))
    assert not allows(denied, Call("dynamodb:GetItem", TABLE, (TRIGGER,)))
