"""Least privilege in the deployed template: the IAM roles that the SAM transform makes from template.yaml.

No statement grants a wildcard action. A statement may name resources broadly (`"*"`, or every resource of a
kind in the account) only where AWS requires it for its actions; each such statement is listed below with the
reason, and with exactly the actions it may grant. Every other wildcard only covers the items under one named
resource (`.../index/*`, `...:execution:<state machine>:*`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.template.test_template import transformed

LAMBDA_BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# Placeholders that name no resource: a pattern made of only these and a wildcard covers a whole account.
_ACCOUNT_PLACEHOLDERS = re.compile(r"\$\{AWS::(Partition|Region|AccountId|URLSuffix)\}")

# (role, statement Sid) -> the only actions that statement may grant on broadly named resources.
BROAD_ALLOWED = {
    # Step Functions sets up execution logging with CloudWatch Logs' "vended logs" delivery actions, which
    # support no resource-level permissions: AWS documents Resource "*" for them (Step Functions developer
    # guide, "Logging using CloudWatch Logs"). They replace the CloudWatchLogsFullAccess managed policy.
    ("PipelineStateMachineRole", "DeliverExecutionLogs"): {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
    },
    # Delivering to a log group needs its resource policy; AWS asks for a wildcard over log groups for these
    # actions (CloudWatch Logs user guide, "Logs sent to CloudWatch Logs"), here only this account's and region's.
    ("PipelineStateMachineRole", "AllowDeliveryToLogGroups"): {
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    },
    # No X-Ray statement: nothing in the stack traces yet. Tracing would add xray:PutTraceSegments and
    # xray:PutTelemetryRecords, which also take only Resource "*": they belong in this list, with that reason.
}

# role -> the managed policies it may carry. SAM attaches AWSLambdaBasicExecutionRole to every function role
# it generates (its log actions name Resource "*"); only hand-written roles could replace it.
MANAGED_POLICIES_ALLOWED = {
    "WebhookFunctionRole": {LAMBDA_BASIC_EXECUTION},
    "ApiFunctionRole": {LAMBDA_BASIC_EXECUTION},
    "JobRunnerFunctionRole": {LAMBDA_BASIC_EXECUTION},
    "JobStatusFunctionRole": {LAMBDA_BASIC_EXECUTION},
    "RunStatusFunctionRole": {LAMBDA_BASIC_EXECUTION},
    "PipelineStateMachineRole": set(),
    "BuildRole": set(),
}

# The roles whose credentials a job's script can reach: the job runner function's (a script runs in it as the
# same OS user) and the builds' (CodeBuild hands them to the build container). Nothing but their logs, and for
# builds the secrets of hookrun's builds, each of which exists only while its build runs.
USER_CODE_ROLES = {"JobRunnerFunctionRole", "BuildRole"}
USER_CODE_ACTIONS_ALLOWED = {
    "JobRunnerFunctionRole": set(),  # AWSLambdaBasicExecutionRole writes its logs
    "BuildRole": {"logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue"},
}


@dataclass(frozen=True)
class Statement:
    role: str
    sid: str
    body: dict[str, Any]

    @property
    def actions(self) -> list[str]:
        return as_list(self.body.get("Action"))

    @property
    def resources(self) -> list[str]:
        """Each resource as text: an intrinsic function becomes the ARN pattern it produces."""
        return [resource_text(resource) for resource in as_list(self.body.get("Resource"))]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def resource_text(resource: Any) -> str:
    """`Fn::Sub` gives its pattern, `Fn::GetAtt` and `Ref` a `${...}` placeholder; plain strings stay."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        pattern = resource["Fn::Sub"]
        return str(pattern[0] if isinstance(pattern, list) else pattern)
    if "Fn::GetAtt" in resource:
        return "${" + ".".join(resource["Fn::GetAtt"]) + "}"
    if "Ref" in resource:
        return "${" + resource["Ref"] + "}"
    return json.dumps(resource)


@cache
def _roles() -> dict[str, dict[str, Any]]:
    resources = transformed()["Resources"]
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}


def statements() -> Iterator[Statement]:
    for role, properties in _roles().items():
        for policy in properties.get("Policies", []):
            for number, body in enumerate(policy["PolicyDocument"]["Statement"]):
                yield Statement(role, body.get("Sid", f"{policy['PolicyName']}[{number}]"), body)


def test_the_template_has_the_roles_this_test_knows() -> None:
    assert set(_roles()) == set(MANAGED_POLICIES_ALLOWED)


def test_no_statement_grants_a_wildcard_action() -> None:
    wildcard = [(s.role, s.sid, a) for s in statements() for a in s.actions if "*" in a]
    assert wildcard == []


def test_no_statement_uses_not_action_or_not_resource() -> None:
    inverted = [(s.role, s.sid) for s in statements() if {"NotAction", "NotResource"} & s.body.keys()]
    assert inverted == []


def is_narrow(resource: str) -> bool:
    """True if the resource names one resource, or only the items under one named resource."""
    if "*" not in resource:
        return True
    head = _ACCOUNT_PLACEHOLDERS.sub("", resource.removesuffix("*"))
    return "*" not in head and resource.endswith(("/*", ":*")) and "${" in head


def test_is_narrow_tells_one_resource_from_many() -> None:
    assert is_narrow("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Name}:*")
    assert not is_narrow("*")
    assert not is_narrow("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")
    assert not is_narrow("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${name}*")


def test_only_listed_statements_name_resources_broadly() -> None:
    broad = {(s.role, s.sid) for s in statements() if not all(is_narrow(r) for r in s.resources)}
    assert broad <= BROAD_ALLOWED.keys()


def test_broad_statements_grant_exactly_their_listed_actions() -> None:
    granted = {(s.role, s.sid): set(s.actions) for s in statements() if not all(is_narrow(r) for r in s.resources)}
    assert granted == BROAD_ALLOWED


def test_roles_carry_only_the_listed_managed_policies() -> None:
    attached = {role: set(properties.get("ManagedPolicyArns", [])) for role, properties in _roles().items()}
    assert attached == MANAGED_POLICIES_ALLOWED


def test_user_code_roles_can_touch_no_table_item() -> None:
    reaching = [(s.role, s.sid, a) for s in statements() if s.role in USER_CODE_ROLES for a in s.actions]
    assert [r for r in reaching if r[2].lower().startswith("dynamodb:")] == []


def test_user_code_roles_grant_only_their_logs_and_build_secrets() -> None:
    granted: dict[str, set[str]] = {role: set() for role in USER_CODE_ROLES}
    for statement in statements():
        if statement.role in USER_CODE_ROLES:
            granted[statement.role] |= set(statement.actions)
    assert granted == USER_CODE_ACTIONS_ALLOWED


def test_builds_read_only_the_secrets_of_builds() -> None:
    (resources,) = [
        s.resources for s in statements() if s.role == "BuildRole" and "secretsmanager:GetSecretValue" in s.actions
    ]
    assert resources == [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:hookrun/${AWS::StackName}/runs/*"
    ]
