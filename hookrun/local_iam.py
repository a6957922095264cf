"""IAM on the local stack: the template's roles in moto, enforced, and API Gateway's IAM authorizer played.

Roles: each function's and the state machine's role as `sam deploy` would create it, from template.yaml
transformed by samtranslator (SAM policy templates expanded, the managed AWSLambdaBasicExecutionRole attached),
with Ref / Fn::GetAtt / Fn::Sub resolved to the local names and ARNs. Each role is assumed through moto's STS,
whose temporary credentials moto's authorization maps back to the role's policies. An admin IAM user (every
action on every resource) signs for the CLI, the seed loader and the stack itself.

What moto's policy evaluation checks, and what it does not (tests/template/test_role_by_role.py checks the rest):
- the action, for every service, named after the API operation (`lambda:Invoke`, where IAM says
  `lambda:InvokeFunction`; `dynamodb:TransactWriteItems`, which AWS authorizes item by item as PutItem, ...):
  the policies created here grant both names;
- the resource only for IAM, STS, S3 and SQS: every other service asks about the resource `*`, which a statement
  naming one table or function never matches. So the policies created here name `*` as their resource for those
  services, and moto checks only their actions;
- of the conditions, only `StringEquals` on keys that a request sends as parameters: `dynamodb:LeadingKeys`,
  `ForAllValues:...` and every other operator are ignored.

The authorizer (`LocalIam`): on AWS, AWS_IAM puts the signing principal's ARN in
`requestContext.identity.userArn`, and the API maps it to a hookrun user by its PRINCIPAL item. Locally the
`X-Hookrun-User: NAME` header signs as NAME's local principal: the local API Gateway names it there, and keeps the
item that maps it to NAME, so the API function has one path for both (the admin's principal is the stack's
AdminPrincipals).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError

from adapters.management import principal_item
from domain.models import USER_ID
from hookrun.template import LocalResource, TemplateResolver, load_template, local_resources

LOCAL_ACCOUNT = "123456789012"  # moto's default account
USER_HEADER = "X-Hookrun-User"
_PREFIX = f"arn:aws:iam::{LOCAL_ACCOUNT}:user/hookrun-local/"
ADMIN_IAM_USER = "hookrun-local-admin"
# the fake credentials that every local tool (CLI, tests, bench) signs with are the admin's own keys
ADMIN_ACCESS_KEY_ID = "testing"
ADMIN_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto's well-known fake credentials, not a secret
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# services whose moto responses name the resource a request acts on; every other one is checked against "*"
RESOURCE_AWARE_SERVICES = frozenset({"iam", "sts", "s3", "sqs"})
# moto names the action it checks after the API operation; where IAM's name differs, the statement gets both.
# A DynamoDB transaction is authorized on AWS item by item (PutItem, ...): moto checks the operation instead.
MOTO_ACTION_NAMES = {
    "lambda:InvokeFunction": "lambda:Invoke",
    "dynamodb:PutItem": "dynamodb:TransactWriteItems",
    "dynamodb:UpdateItem": "dynamodb:TransactWriteItems",
    "dynamodb:DeleteItem": "dynamodb:TransactWriteItems",
    "dynamodb:ConditionCheckItem": "dynamodb:TransactWriteItems",
    "dynamodb:GetItem": "dynamodb:TransactGetItems",
}
_ROLE_HOLDERS = {
    "AWS::Lambda::Function": "Role",
    "AWS::StepFunctions::StateMachine": "RoleArn",
    "AWS::CodeBuild::Project": "ServiceRole",
}


class _ManagedPolicies:
    """samtranslator needs managed policy ARNs for its policy templates; none are looked up offline."""

    def load(self) -> dict[str, str]:
        return {"CloudWatchLogsFullAccess": "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"}


def transformed_template(region: str = "us-east-1", template: dict[str, Any] | None = None) -> dict[str, Any]:
    """`template` (by default template.yaml) as `sam deploy` sends it to CloudFormation: SAM resources expanded."""
    # imported here: `hookrun invoke` imports the local stack's clients, not the SAM translator
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    template = copy.deepcopy(template or load_template())
    # what `sam package` does before the transform: local code and definitions become S3 objects
    template["Globals"]["Function"]["CodeUri"] = "s3://hookrun-artifacts/src.zip"
    for resource in template["Resources"].values():
        for prop in ("CodeUri", "DefinitionUri", "ContentUri"):
            if prop in resource.get("Properties", {}):
                resource["Properties"][prop] = f"s3://hookrun-artifacts/{prop}"
    parameters: dict[str, Any] = {}
    to_py27_compatible_template(template, parameters)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    policies = _ManagedPolicies().load()
    result = translator.translate(template, parameter_values=parameters, get_managed_policy_map=lambda: policies)
    return dict(undo_mark_unicode_str_in_template(result))


@dataclass(frozen=True)
class RoleDefinition:
    """One IAM role of the transformed template, its intrinsic functions resolved."""

    name: str
    assume_role_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]]
    managed_policy_arns: list[str]


def role_holders(transformed: dict[str, Any]) -> dict[str, str]:
    """Logical id of each function, state machine and build project -> logical id of its role."""
    holders: dict[str, str] = {}
    for logical_id, resource in transformed["Resources"].items():
        prop = _ROLE_HOLDERS.get(resource["Type"])
        if prop is not None:
            role_id, _ = resource["Properties"][prop]["Fn::GetAtt"]
            holders[logical_id] = role_id
    return holders


def role_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{name}"


def role_definitions(
    transformed: dict[str, Any], stack_name: str, region: str, account_id: str, template: dict[str, Any] | None = None
) -> dict[str, RoleDefinition]:
    """Every AWS::IAM::Role of the transformed `template`, named `<stack>-<logical id>`, keyed by logical id."""
    template = template or load_template()
    resources = local_resources(template, stack_name, region, account_id)
    roles = {name: r for name, r in transformed["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    for logical_id in roles:
        name = f"{stack_name}-{logical_id}"
        resources[logical_id] = LocalResource(ref=name, attributes={"Arn": role_arn(account_id, name)})
    resolver = TemplateResolver(template, resources, region, account_id, stack_name)
    return {
        logical_id: RoleDefinition(
            name=resources[logical_id].ref,
            assume_role_policy=resolver.resolve(role["Properties"]["AssumeRolePolicyDocument"]),
            policies={
                policy["PolicyName"]: resolver.resolve(policy["PolicyDocument"])
                for policy in role["Properties"].get("Policies", [])
            },
            managed_policy_arns=list(role["Properties"].get("ManagedPolicyArns", [])),
        )
        for logical_id, role in roles.items()
    }


def as_moto_checks(document: dict[str, Any]) -> dict[str, Any]:
    """`document` as moto can check it: `*` as the resource on services whose resource moto does not check,
    and each action also under the operation name that moto checks."""
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    checked = []
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])
        actions += sorted({MOTO_ACTION_NAMES[action] for action in actions if action in MOTO_ACTION_NAMES} - {*actions})
        services = {action.split(":", 1)[0] for action in actions}
        widened = "Resource" in statement and not services & RESOURCE_AWARE_SERVICES
        checked.append({**statement, "Action": actions, **({"Resource": "*"} if widened else {})})
    # SAM writes no Version, which IAM reads as 2008-10-17 and moto refuses; no statement uses policy variables
    return {"Version": "2012-10-17", **document, "Statement": checked}


@dataclass(frozen=True)
class Credentials:
    """An access key: an IAM user's, or an assumed role's with its session token."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        """As the Lambda runtime gives them to a function: AWS_ACCESS_KEY_ID, ... AWS_SESSION_TOKEN."""
        variables = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            variables["AWS_SESSION_TOKEN"] = self.session_token
        return variables

    def client_arguments(self) -> dict[str, str | None]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


ADMIN = Credentials(ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)


@dataclass(frozen=True)
class LocalRoles:
    """The roles created in moto: per function, state machine and build project (logical id), ARN and credentials."""

    role_arns: dict[str, str]
    credentials: dict[str, Credentials]


def create_admin(iam: Any, account_id: str) -> Credentials:
    """The admin IAM user, whose one access key is the local tools' fake credentials.

    moto generates access keys at random; the key is renamed in moto's backend (in this process) so that every
    tool keeps signing with the credentials it always used.
    """
    from moto.iam.models import iam_backends

    iam.create_user(UserName=ADMIN_IAM_USER)
    policy = json.dumps(ADMIN_POLICY)
    iam.put_user_policy(UserName=ADMIN_IAM_USER, PolicyName="AdministratorAccess", PolicyDocument=policy)
    generated = iam.create_access_key(UserName=ADMIN_IAM_USER)["AccessKey"]["AccessKeyId"]
    backend = iam_backends[account_id]["aws"]
    key = backend.access_keys.pop(generated)
    key.access_key_id, key.secret_access_key = ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY
    backend.access_keys[ADMIN_ACCESS_KEY_ID] = key
    return ADMIN


def _create_managed_policy(iam: Any, arn: str) -> str:
    """An AWS managed policy (moto does not load them by default) as a policy of this account: its ARN."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = arn.rsplit("/", 1)[1]
    data = json.loads(aws_managed_policies_data)[name]
    created = iam.create_policy(PolicyName=name, Path=data["Path"], PolicyDocument=json.dumps(data["Document"]))
    return str(created["Policy"]["Arn"])


def create_roles(iam: Any, sts: Any, roles: dict[str, RoleDefinition], holders: dict[str, str]) -> LocalRoles:
    """Create `roles` with their policies in moto, and assume each holder's role: its ARN and credentials."""
    arns: dict[str, str] = {}
    managed_arns: dict[str, str] = {}
    for logical_id, role in roles.items():
        arn = iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.assume_role_policy))
        arns[logical_id] = arn["Role"]["Arn"]
        for name, document in role.policies.items():
            iam.put_role_policy(
                RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(as_moto_checks(document))
            )
        for managed in role.managed_policy_arns:
            if managed not in managed_arns:
                managed_arns[managed] = _create_managed_policy(iam, managed)
            iam.attach_role_policy(RoleName=role.name, PolicyArn=managed_arns[managed])
    credentials: dict[str, Credentials] = {}
    for holder, role_id in holders.items():
        assumed = sts.assume_role(RoleArn=arns[role_id], RoleSessionName=holder)["Credentials"]
        credentials[holder] = Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    return LocalRoles(role_arns={holder: arns[role_id] for holder, role_id in holders.items()}, credentials=credentials)


def enforce(moto_endpoint: str, enforced: bool = True) -> None:
    """Turn moto's IAM authorization on (every request from now on) or off, through moto's own API."""
    count = b"0" if enforced else b"inf"
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=count, timeout=10).raise_for_status()


class _SignedAs:
    """The `boto3` that moto's state machine interpreter sees: its clients sign as the state machine's role."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def client(self, **kwargs: Any) -> Any:
        return boto3.client(**{**kwargs, **self._credentials.client_arguments()})


def sign_state_machine_calls_as(credentials: Credentials) -> None:
    """moto's interpreter calls Lambda (and every service task) signed with the fake key `ak`, which moto's
    authorization rejects; sign them with the state machine role's credentials, as Step Functions would."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    boto_client.boto3 = _SignedAs(credentials)  # type: ignore[attr-defined,assignment]


def create_local_iam(
    iam: Any,
    sts: Any,
    *,
    stack_name: str,
    region: str,
    account_id: str,
    template: dict[str, Any] | None = None,
    change: Callable[[dict[str, RoleDefinition]], dict[str, RoleDefinition]] | None = None,
) -> LocalRoles:
    """The admin user, and every role of the transformed `template` (by default template.yaml; as `change` makes
    them, for tests) assumed by its function or state machine."""
    template = template or load_template()
    transformed = transformed_template(region, template)
    create_admin(iam, account_id)
    roles = role_definitions(transformed, stack_name, region, account_id, template)
    return create_roles(iam, sts, change(roles) if change else roles, role_holders(transformed))


def without_action(roles: dict[str, RoleDefinition], role_id: str, action: str) -> dict[str, RoleDefinition]:
    """`roles` with `action` taken out of every statement of `role_id` (for tests: a permission forgotten)."""
    role = roles[role_id]
    policies: dict[str, dict[str, Any]] = {}
    for name, document in role.policies.items():
        statements = []
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            kept = [granted for granted in actions if granted != action]
            if kept:
                statements.append({**statement, "Action": kept})
        if statements:
            policies[name] = {**document, "Statement": statements}
    return {**roles, role_id: RoleDefinition(role.name, role.assume_role_policy, policies, role.managed_policy_arns)}


def principal_of(user_id: str) -> str:
    """The IAM principal a local user signs as."""
    return _PREFIX + user_id


class LocalIam:
    """Names the principal of the user in a request's X-Hookrun-User header, mapped to that user in the table."""

    def __init__(self, dynamodb: Callable[[], Any], table_name: str) -> None:
        self._dynamodb = dynamodb  # made on first use: the gateway starts before moto does
        self._table = table_name
        self._mapped: set[str] = set()
        self._lock = threading.Lock()

    def user_arn(self, header: str | None) -> str | None:
        """The principal the request signs as; None (unsigned) without a header or with one that names no user id."""
        user_id = (header or "").strip()
        if not USER_ID.fullmatch(user_id):
            return None
        principal = principal_of(user_id)
        with self._lock:
            if user_id not in self._mapped:
                self._map(principal, user_id)
                self._mapped.add(user_id)
        return principal

    def _map(self, principal: str, user_id: str) -> None:
        try:
            self._dynamodb().put_item(
                TableName=self._table,
                Item=principal_item(principal, user_id),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:  # mapped before (by an earlier start of the stack): keep it
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
