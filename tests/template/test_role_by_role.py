"""Role by role: every AWS action each function can call is allowed by its role in the SAM-transformed template.

CALLS lists, per function, each call its handler can make: the IAM action, the resource it acts on and, for
DynamoDB, the partition keys it reads or writes (what `dynamodb:LeadingKeys` conditions see). A small policy
evaluator checks each against the role's statements: action, resource and the LeadingKeys condition, which
moto's own evaluation does not check (hookrun/local_iam.py). Two checks keep the list honest: every boto3
operation in src/ is in it (and nothing else), and the webhook's calls recorded on moto are in it
(tests/integration/test_iam_on_moto.py); the state machine's are read from its definition.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from hookrun.local_iam import RoleDefinition, role_definitions, role_holders, transformed_template
from hookrun.template import ROOT, TemplateResolver, load_template, local_resources, resources_of_type

STACK, REGION, ACCOUNT = "hookrun-local", "us-east-1", "123456789012"
_RESOURCES = local_resources(load_template(), STACK, REGION, ACCOUNT)
TABLE = _RESOURCES["HookrunTable"].attributes["Arn"]
STATE_MACHINE = _RESOURCES["PipelineStateMachine"].ref
EXECUTION = STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":r-1"
SIGNING_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:hookrun/{STACK}/demo-AbCdEf"
BUILD_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:hookrun/{STACK}/runs/r-1/0/build-AbCdEf"
SOURCE_TOKEN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:hookrun/{STACK}/credentials/demo/gh-AbCdEf"
BUILD_PROJECT = _RESOURCES["BuildProject"].attributes["Arn"]
BUILD_LOG_STREAM = _RESOURCES["BuildLogGroup"].attributes["Arn"].removesuffix(":*") + ":log-stream:b-1"
JOB_RUNNER = _RESOURCES["JobRunnerFunction"].attributes["Arn"]
RUN, DELIVERIES = "RUN#r-1", "PIPELINE#demo#DELIVERIES"
PIPELINE, USER, TRIGGER, PRINCIPAL = "PIPELINE#demo", "USER#alice", "TRIGGER#0a1b", "PRINCIPAL#arn:aws:iam::1:user/a"


@dataclass(frozen=True)
class Call:
    """One AWS call a handler makes: IAM action, resource ARN, and the partition keys it touches (DynamoDB)."""

    action: str
    resource: str
    leading_keys: tuple[str, ...] = ()


# the functions' handlers, from the adapters each one's composition root wires (src/handlers/composition.py)
CALLS: dict[str, list[Call]] = {
    # trigger_ports: trigger, access, run secrets, run starter, deliveries, signing secrets
    "WebhookFunction": [
        Call("dynamodb:GetItem", TABLE, (TRIGGER,)),
        Call("dynamodb:BatchGetItem", TABLE, (PIPELINE, USER)),
        Call("dynamodb:PutItem", TABLE, (RUN,)),  # the run's secret values
        Call("dynamodb:DeleteItem", TABLE, (RUN,)),  # ... taken back when StartExecution is unavailable
        Call("dynamodb:PutItem", TABLE, (DELIVERIES,)),  # the delivery record of a rejected request
        Call("secretsmanager:GetSecretValue", SIGNING_SECRET),  # Powertools' SecretsProvider
        Call("states:StartExecution", STATE_MACHINE),
    ],
    # management (transactions, audit, batch delete), runs and deliveries read, signing secrets written
    "ApiFunction": [
        *(
            Call(f"dynamodb:{action}", TABLE, (PIPELINE, USER, TRIGGER, PRINCIPAL))
            for action in ("GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem")
        ),
        Call("dynamodb:BatchGetItem", TABLE, (PIPELINE, USER)),
        Call("dynamodb:BatchWriteItem", TABLE, (PIPELINE,)),
        Call("dynamodb:Query", TABLE + "/index/gsi1", ("PIPELINE#demo#RUNS", "PIPELINES", "USER#alice#GRANTS")),
        Call("dynamodb:Query", TABLE, (RUN, DELIVERIES)),
        Call("dynamodb:PutItem", TABLE, (DELIVERIES,)),  # the delivery record of a webhook test (dry run)
        *(Call(f"secretsmanager:{action}", SIGNING_SECRET) for action in ("CreateSecret", "DeleteSecret")),
        *(
            Call(f"secretsmanager:{action}", SOURCE_TOKEN)
            for action in ("CreateSecret", "PutSecretValue", "DeleteSecret")
        ),
        Call("states:DescribeExecution", EXECUTION),
        Call("states:StopExecution", EXECUTION),  # cancel
        Call("states:StartExecution", STATE_MACHINE),  # a run started by hand, a re-run
        Call("dynamodb:PutItem", TABLE, (RUN,)),  # a re-run's secret values
        Call("dynamodb:DeleteItem", TABLE, (RUN,)),  # ... taken back when StartExecution fails
    ],
    # the builds' role, as CodeBuild uses it for them: the log written, the build's secrets resolved
    "BuildProject": [
        Call("logs:CreateLogStream", BUILD_LOG_STREAM),
        Call("logs:PutLogEvents", BUILD_LOG_STREAM),
        Call("secretsmanager:GetSecretValue", BUILD_SECRET),
    ],
    # the job runner only runs a script: it calls nothing (its role has only its logs)
    "JobRunnerFunction": [],
    # workflow_ports as the job status function uses them: the run read, its secrets, job status moved, the job
    # runner invoked, a build's secrets kept and deleted, the source token read, the build and its log read
    "JobStatusFunction": [
        Call("dynamodb:Query", TABLE, (RUN,)),
        Call("dynamodb:GetItem", TABLE, (RUN,)),
        Call("dynamodb:UpdateItem", TABLE, (RUN,)),
        Call("lambda:InvokeFunction", JOB_RUNNER),
        *(
            Call(f"secretsmanager:{action}", BUILD_SECRET)
            for action in ("CreateSecret", "PutSecretValue", "DeleteSecret")
        ),
        Call("secretsmanager:GetSecretValue", SOURCE_TOKEN),
        Call("codebuild:BatchGetBuilds", BUILD_PROJECT),
        Call("logs:GetLogEvents", BUILD_LOG_STREAM),
    ],
    # workflow_ports as run status uses them: the run created, moved, read; its delivery recorded
    "RunStatusFunction": [
        Call("dynamodb:BatchWriteItem", TABLE, (RUN,)),
        Call("dynamodb:PutItem", TABLE, (RUN,)),
        Call("dynamodb:UpdateItem", TABLE, (RUN,)),
        Call("dynamodb:Query", TABLE, (RUN,)),
        Call("dynamodb:PutItem", TABLE, (DELIVERIES,)),
        *(Call(f"dynamodb:{a}", TABLE, ("GROUP#demo#",)) for a in ("GetItem", "Query", "PutItem", "DeleteItem")),
    ],
}

# boto3 operations whose IAM actions are not their own name: a transaction is authorized item by item
OPERATION_ACTIONS = {
    "dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "lambda:Invoke": {"lambda:InvokeFunction"},
}
# calls made by libraries rather than by our adapters' clients: Powertools' SecretsProvider makes
# secretsmanager:GetSecretValue, which the source credentials adapter also makes itself
LIBRARY_CALLS: set[str] = set()
# holders whose calls AWS makes for them, not src/: CodeBuild with the builds' role
SERVICE_HOLDERS = {"BuildProject"}
_SERVICE_PREFIX = {
    "dynamodb": "dynamodb",
    "secretsmanager": "secretsmanager",
    "stepfunctions": "states",
    "codebuild": "codebuild",
    "logs": "logs",
    "lambda": "lambda",
}


@cache
def roles() -> dict[str, RoleDefinition]:
    """The role of each function and state machine, by its holder's logical id, resolved to local names."""
    transformed = transformed_template(REGION)
    definitions = role_definitions(transformed, STACK, REGION, ACCOUNT)
    return {holder: definitions[role_id] for holder, role_id in role_holders(transformed).items()}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE if ignore_case else 0) is not None


def _conditions_hold(condition: dict[str, Any], call: Call) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if (operator, key) != ("ForAllValues:StringLike", "dynamodb:LeadingKeys"):
                raise NotImplementedError(f"this evaluator does not know {operator} {key}: teach it")
            if not all(any(_matches(p, k) for p in _list(expected)) for k in call.leading_keys):
                return False
    return True


def allows(role: RoleDefinition, call: Call) -> bool:
    """IAM's rule within one account: allowed if some Allow statement matches and no Deny does."""
    verdicts = [
        statement["Effect"]
        for document in role.policies.values()
        for statement in _list(document["Statement"])
        if any(_matches(a, call.action, ignore_case=True) for a in _list(statement["Action"]))
        and any(_matches(r, call.resource) for r in _list(statement["Resource"]))
        and _conditions_hold(statement.get("Condition", {}), call)
    ]
    return "Allow" in verdicts and "Deny" not in verdicts


def state_machine_calls() -> list[Call]:
    """The Lambda functions the workflow's Task states invoke, and the builds it runs, read from its definition."""
    template = load_template()
    resolver = TemplateResolver(template, _RESOURCES, REGION, ACCOUNT, STACK)
    ((_, machine),) = resources_of_type(template, "AWS::Serverless::StateMachine").items()
    substitutions = resolver.resolve(machine["Properties"]["DefinitionSubstitutions"])
    text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text(encoding="utf-8")
    names = {m.group(1) for m in re.finditer(r'"FunctionName":\s*"\$\{(\w+)\}"', text)}
    assert '"Resource": "arn:aws:states:::lambda:invoke"' in text
    resources = set(re.findall(r'"Resource":\s*"([^"]+)"', text))
    assert resources == {"arn:aws:states:::lambda:invoke", "arn:aws:states:::codebuild:startBuild.sync"}
    project = BUILD_PROJECT.rsplit("/", 1)[0] + "/" + substitutions["BuildProjectName"]
    # startBuild.sync starts the build, stops it when the execution stops, polls it, and manages its events rule
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule"
    builds = [Call(f"codebuild:{action}", project) for action in ("StartBuild", "StopBuild", "BatchGetBuilds")]
    rules = [Call(f"events:{action}", rule) for action in ("PutTargets", "PutRule", "DescribeRule")]
    return [Call("lambda:InvokeFunction", substitutions[name]) for name in sorted(names)] + builds + rules


def operations_in_src() -> set[str]:
    """Every boto3 operation called in src/ on the services the Container makes clients for, as IAM actions."""
    session = botocore.session.get_session()
    operations = {
        xform_name(name): f"{prefix}:{name}"
        for service, prefix in _SERVICE_PREFIX.items()
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
    listed = {call.action for holder, calls in CALLS.items() if holder not in SERVICE_HOLDERS for call in calls}
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
