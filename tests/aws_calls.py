"""The AWS calls each function's handler makes, and a policy evaluator that says whether its role allows them.

CALLS lists, per function, each call its handler can make: the IAM action, the resource it acts on and, for
DynamoDB, the partition keys it reads or writes (what `dynamodb:LeadingKeys` conditions see). `allows` evaluates
a call against a role of the SAM-transformed template: action, resource and the LeadingKeys condition, which
moto's own evaluation does not check (hookrun/local_iam.py). `CallRecorder` records the calls handlers really
make (tests/integration, tests/workflow), to check them against both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

from hookrun.local_iam import RoleDefinition, role_definitions, role_holders, transformed_template
from hookrun.template import load_template, local_resources

STACK, REGION, ACCOUNT = "hookrun-local", "us-east-1", "123456789012"
RESOURCES = local_resources(load_template(), STACK, REGION, ACCOUNT)
TABLE = RESOURCES["HookrunTable"].attributes["Arn"]
STATE_MACHINE = RESOURCES["PipelineStateMachine"].ref
EXECUTION = STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":r-1"
SECRETS = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:hookrun/{STACK}"
SIGNING_SECRET = f"{SECRETS}/pipelines/demo/webhook-signing-secret-0a1b2c-AbCdEf"
SOURCE_CREDENTIALS = f"{SECRETS}/credentials/demo/gh-AbCdEf"
BUILD_SECRET = f"{SECRETS}/runs/r-1/0/build-AbCdEf"
JOB_RUNNER = RESOURCES["JobRunnerFunction"].attributes["Arn"]
BUILD_PROJECT = RESOURCES["BuildProject"].attributes["Arn"]
BUILD_LOGS = RESOURCES["BuildLogGroup"].attributes["Arn"]
RUN, DELIVERIES, SLOTS = "RUN#r-1", "PIPELINE#demo#DELIVERIES", "PIPELINE#demo#0a1b#SLOTS"
REQUEST = "RUN#r-1#REQUEST"  # a run's request: what its start kept for the workflow
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
        Call("dynamodb:UpdateItem", TABLE, (SLOTS,)),  # the run's slot, taken alongside the BatchGetItem, and freed
        Call("dynamodb:BatchGetItem", TABLE, (RUN,)),  # ... at the limit, the holders' statuses: a lost release?
        Call("dynamodb:PutItem", TABLE, (REQUEST, RUN)),  # the run's request and secret values (one transaction)
        Call("dynamodb:DeleteItem", TABLE, (REQUEST, RUN)),  # ... taken back when StartExecution is unavailable
        Call("dynamodb:GetItem", TABLE, (REQUEST,)),  # a repeated delivery: the first request's digest, variables
        Call("states:DescribeExecution", EXECUTION),  # ... or its input, which carries a small request inline
        Call("dynamodb:PutItem", TABLE, (DELIVERIES,)),  # the delivery record of a rejected request
        Call("secretsmanager:GetSecretValue", SIGNING_SECRET),  # Powertools' SecretsProvider
        Call("states:StartExecution", STATE_MACHINE),
    ],
    # management (transactions, audit, batch delete), runs and deliveries read, signing secrets written, manual runs
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
        # a run started by hand: trigger_ports, as the webhook's accepted path
        Call("dynamodb:PutItem", TABLE, (REQUEST, RUN)),
        Call("dynamodb:DeleteItem", TABLE, (REQUEST, RUN)),
        Call("dynamodb:UpdateItem", TABLE, (SLOTS,)),  # ... and maxRunningRuns kept with the slots at each apply
        Call("dynamodb:BatchGetItem", TABLE, (RUN,)),
        Call("states:StartExecution", STATE_MACHINE),
        *(
            Call(f"secretsmanager:{action}", secret)
            for action in ("CreateSecret", "DeleteSecret")
            for secret in (SIGNING_SECRET, SOURCE_CREDENTIALS)
        ),
        Call("secretsmanager:PutSecretValue", SOURCE_CREDENTIALS),  # replaced in place; signing secrets never
        Call("states:DescribeExecution", EXECUTION),
        Call("states:StopExecution", EXECUTION),  # cancel
    ],
    # runs a lambda job's script and answers; it calls no AWS API (a script could use its credentials)
    "JobRunnerFunction": [],
    # workflow_ports as the job status function uses them: the run read, its secrets, job status moved; a lambda
    # job run in the job runner; a codebuild job's secrets kept for its build, its source credentials, its end
    "JobStatusFunction": [
        Call("dynamodb:GetItem", TABLE, (REQUEST,)),  # the run's request, as its start kept it
        Call("dynamodb:Query", TABLE, (RUN,)),
        Call("dynamodb:GetItem", TABLE, (RUN,)),
        Call("dynamodb:UpdateItem", TABLE, (RUN,)),
        Call("lambda:InvokeFunction", JOB_RUNNER),
        *(
            Call(f"secretsmanager:{action}", BUILD_SECRET)
            for action in ("CreateSecret", "PutSecretValue", "DeleteSecret")
        ),
        Call("secretsmanager:GetSecretValue", SOURCE_CREDENTIALS),
        Call("codebuild:BatchGetBuilds", BUILD_PROJECT),
        Call("logs:GetLogEvents", BUILD_LOGS),
    ],
    # workflow_ports as run status uses them: the run created, moved, read; its delivery recorded
    "RunStatusFunction": [
        Call("dynamodb:GetItem", TABLE, (REQUEST,)),  # the run's request, as its start kept it
        Call("dynamodb:PutItem", TABLE, (REQUEST,)),  # ... or kept here, from the input that carried it inline
        Call("dynamodb:BatchWriteItem", TABLE, (RUN,)),
        Call("dynamodb:PutItem", TABLE, (RUN,)),
        Call("dynamodb:UpdateItem", TABLE, (RUN,)),
        Call("dynamodb:Query", TABLE, (RUN,)),
        Call("dynamodb:PutItem", TABLE, (DELIVERIES,)),
        Call("dynamodb:UpdateItem", TABLE, (SLOTS,)),  # an ended run frees its slot
        # a run's concurrency group, taken and released by the workflow
        *(Call(f"dynamodb:{a}", TABLE, ("GROUP#demo#",)) for a in ("GetItem", "Query", "PutItem", "DeleteItem")),
    ],
}

# boto3 operations whose IAM actions are not their own name: a transaction is authorized item by item
OPERATION_ACTIONS = {
    "dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "lambda:Invoke": {"lambda:InvokeFunction"},
}
# calls made by libraries rather than by our adapters' clients
LIBRARY_CALLS = {"secretsmanager:GetSecretValue"}  # Powertools' SecretsProvider (the webhook's signing secrets)
# what CodeBuild does as the build project's role while a build runs: its log, its secrets (buildspec references)
BUILD_CALLS = [
    Call("logs:CreateLogStream", BUILD_LOGS),
    Call("logs:PutLogEvents", BUILD_LOGS),
    Call("secretsmanager:GetSecretValue", BUILD_SECRET),
]
SERVICE_PREFIX = {
    "dynamodb": "dynamodb",
    "secretsmanager": "secretsmanager",
    "stepfunctions": "states",
    "lambda": "lambda",
    "codebuild": "codebuild",
    "logs": "logs",
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


_KEY_CONDITION = re.compile(r"^\s*#?(\w+)\s*=\s*(:\w+)")
_TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _pk(item: dict[str, Any]) -> str:
    return str(item["pk"]["S"])


def dynamodb_calls(operation: str, params: dict[str, Any]) -> list[Call]:
    """The IAM actions a DynamoDB request needs, each with the table (or index) and the partition keys it touches."""
    if operation == "TransactWriteItems":
        return [
            Call(f"dynamodb:{_TRANSACTION_ACTIONS[kind]}", TABLE, (_pk(body.get("Item") or body["Key"]),))
            for entry in params["TransactItems"]
            for kind, body in entry.items()
        ]
    resource = TABLE + (f"/index/{params['IndexName']}" if params.get("IndexName") else "")
    if operation in {"GetItem", "DeleteItem", "UpdateItem"}:
        keys = [_pk(params["Key"])]
    elif operation == "PutItem":
        keys = [_pk(params["Item"])]
    elif operation == "Query":
        match = _KEY_CONDITION.match(params["KeyConditionExpression"])
        assert match, params["KeyConditionExpression"]
        keys = [str(params["ExpressionAttributeValues"][match.group(2)]["S"])]
    elif operation == "BatchGetItem":
        keys = [_pk(key) for request in params["RequestItems"].values() for key in request["Keys"]]
    elif operation == "BatchWriteItem":
        keys = [
            _pk(write["PutRequest"]["Item"] if "PutRequest" in write else write["DeleteRequest"]["Key"])
            for writes in params["RequestItems"].values()
            for write in writes
        ]
    else:
        raise NotImplementedError(f"dynamodb:{operation}: teach dynamodb_calls its keys")
    return [Call(f"dynamodb:{operation}", resource, tuple(dict.fromkeys(keys)))]


def calls_of(service: str, operation: str, params: dict[str, Any]) -> list[Call]:
    """The IAM actions an AWS request needs, with their resources (as the template's local names)."""
    if service == "dynamodb":
        return dynamodb_calls(operation, params)
    if service == "secretsmanager":
        # under the stack's prefix, as the template's SECRET_PREFIX (hookrun/${AWS::StackName}/) puts them
        name = str(params.get("SecretId") or params["Name"]).rsplit(":secret:", 1)[-1]
        return [Call(f"secretsmanager:{operation}", SECRETS + "/" + name.split("/", 2)[-1])]
    if service == "lambda" and operation == "Invoke":
        (function,) = (f for f in CALLS if str(params["FunctionName"]).endswith(f))
        return [Call("lambda:InvokeFunction", RESOURCES[function].attributes["Arn"])]
    if service == "codebuild" and operation == "BatchGetBuilds":
        return [Call("codebuild:BatchGetBuilds", BUILD_PROJECT)]
    if service == "logs" and operation == "GetLogEvents":
        return [Call("logs:GetLogEvents", BUILD_LOGS)]
    if service == "stepfunctions" and operation == "StartExecution":
        return [Call("states:StartExecution", STATE_MACHINE)]
    if service == "stepfunctions" and operation == "DescribeExecution":
        return [Call("states:DescribeExecution", EXECUTION)]
    return [Call(f"{SERVICE_PREFIX.get(service, service)}:{operation}", "*")]


_function: ContextVar[str | None] = ContextVar("function", default=None)


class CallRecorder:
    """Records, per function, the AWS calls its handler makes (while `as_function` names the function running)."""

    def __init__(self) -> None:
        self.calls: dict[str, set[Call]] = {}

    @contextmanager
    def as_function(self, function: str) -> Iterator[None]:
        token = _function.set(function)
        try:
            yield
        finally:
            _function.reset(token)

    def record(self, service: str, operation: str, params: dict[str, Any]) -> None:
        function = _function.get()
        if function is not None:
            self.calls.setdefault(function, set()).update(calls_of(service, operation, params))

    def not_allowed(self) -> list[tuple[str, Call]]:
        """Every recorded call its function's role does not allow."""
        return [
            (f, call)
            for f, calls in self.calls.items()
            for call in sorted(calls, key=repr)
            if not allows(roles()[f], call)
        ]

    def not_listed(self) -> list[tuple[str, str]]:
        """Every recorded action that CALLS does not list for its function."""
        listed = {f: {call.action for call in calls} for f, calls in CALLS.items()}
        return sorted(
            {(f, call.action) for f, calls in self.calls.items() for call in calls}
            - {(f, a) for f, actions in listed.items() for a in actions}
        )


def record_aws_calls(recorder: CallRecorder, monkeypatch: Any) -> None:
    """Record every AWS call made by a botocore client (under the function `recorder.as_function` names)."""
    import botocore.client

    make_api_call = botocore.client.BaseClient._make_api_call

    def make_recorded_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        recorder.record(client.meta.service_model.service_name, operation, params)
        return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_recorded_call)


def record_handler_calls(recorder: CallRecorder, monkeypatch: Any) -> None:
    """Record every AWS call of the handlers that hookrun.lambda_bridge runs in-process, by their function."""
    from hookrun import lambda_bridge
    from hookrun.template import function_properties

    functions = {properties["Handler"]: name for name, properties in function_properties(load_template()).items()}
    resolve = lambda_bridge.resolve_handler

    def resolve_recorded(spec: str) -> Any:
        handler = resolve(spec)

        def recorded(event: Any, context: Any) -> Any:
            with recorder.as_function(functions[spec]):
                return handler(event, context)

        return recorded

    monkeypatch.setattr(lambda_bridge, "resolve_handler", resolve_recorded)
    record_aws_calls(recorder, monkeypatch)
