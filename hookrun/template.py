"""Reading template.yaml: the one description of hookrun's resources, used by the local stack and the tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
CHECKOUT_PARTS = ("template.yaml", "statemachine", "src/handlers", "examples")  # what the local stack is made of


def checkout_problem(root: Path = ROOT) -> str | None:
    """What the local stack misses beside the hookrun package (an install outside a checkout), or None."""
    missing = [part for part in CHECKOUT_PARTS if not (root / part).exists()]
    if not missing:
        return None
    return (
        f"hookrun dev runs the local stack from a hookrun checkout: template.yaml, statemachine/, src/ (the Lambda "
        f"code) and examples/ beside the hookrun package. {root} has no {', '.join(missing)}: this hookrun is "
        "installed outside a checkout. Clone the repository and run `make run` (or `./hookrun dev`) in it."
    )


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """A SAM template as samtranslator reads it: short tags (!Ref, !Sub, !GetAtt, ...) become intrinsics."""
    from samtranslator.yaml_helper import yaml_parse  # imported here: most hookrun commands never read the template

    loaded: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return loaded


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def table_definition(template: dict[str, Any], table_name: str) -> tuple[dict[str, Any], str | None]:
    """The `create_table` arguments and TTL attribute of the template's one DynamoDB table."""
    (props,) = (res["Properties"] for res in resources_of_type(template, "AWS::DynamoDB::Table").values())
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    ttl = props.get("TimeToLiveSpecification", {})
    return kwargs, ttl.get("AttributeName") if ttl.get("Enabled") else None


def create_table(dynamodb: Any, table_name: str, template: dict[str, Any] | None = None) -> None:
    """Create the table exactly as template.yaml declares it (keys, indexes, TTL)."""
    kwargs, ttl_attribute = table_definition(template or load_template(), table_name)
    dynamodb.create_table(**kwargs)
    if ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True}
        )


def state_machine_definition(
    substitutions: dict[str, str], template: dict[str, Any] | None = None, base: Path = ROOT
) -> str:
    """The state machine's ASL from its DefinitionUri (relative to `base`, the template's folder), with
    DefinitionSubstitutions filled in from `substitutions`."""
    template = template or load_template()
    (props,) = (res["Properties"] for res in resources_of_type(template, "AWS::Serverless::StateMachine").values())
    definition: str = (base / props["DefinitionUri"]).read_text(encoding="utf-8")
    for name in props.get("DefinitionSubstitutions", {}):
        definition = definition.replace("${" + name + "}", str(substitutions[name]))
    return definition


def substitution_names(template: dict[str, Any] | None = None) -> list[str]:
    """The names the state machine's DefinitionSubstitutions fill in."""
    template = template or load_template()
    (props,) = (res["Properties"] for res in resources_of_type(template, "AWS::Serverless::StateMachine").values())
    return list(props.get("DefinitionSubstitutions", {}))


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def function_properties(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every AWS::Serverless::Function's properties, keyed by logical id, with the template's Globals merged in by
    samtranslator as `sam deploy` merges them (maps merge, lists add up, anything else is the resource's)."""
    from samtranslator.plugins.globals.globals import Globals

    template = template or load_template()
    globals_ = Globals(template)
    return {
        name: globals_.merge(resource["Type"], resource.get("Properties", {}), name, resource.get("IgnoreGlobals"))
        for name, resource in resources_of_type(template, "AWS::Serverless::Function").items()
    }


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return key == "Ref" or str(key).startswith("Fn::")


@dataclass(frozen=True)
class ApiRoute:
    """One `Api` event of a function: a path with `{param}` placeholders and an upper-case method (or ANY)."""

    function: str
    path: str
    method: str
    iam: bool = field(default=False, compare=False)  # AWS_IAM auth: API Gateway names the signing principal


def api_routes(template: dict[str, Any] | None = None) -> list[ApiRoute]:
    """Every route that template.yaml declares as an `Api` event, in template order."""
    return [
        ApiRoute(
            function=name,
            path=event["Properties"]["Path"],
            method=event["Properties"]["Method"].upper(),
            iam=event["Properties"].get("Auth", {}).get("Authorizer") == "AWS_IAM",
        )
        for name, props in function_properties(template).items()
        for event in props.get("Events", {}).values()
        if event["Type"] == "Api"
    ]


EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


@dataclass(frozen=True)
class ExecutionRule:
    """An `EventBridgeRule` event on Step Functions execution status changes: its function and the statuses."""

    function: str
    statuses: tuple[str, ...]


def execution_rules(template: dict[str, Any] | None = None) -> list[ExecutionRule]:
    """Every rule of template.yaml that sends a function Step Functions' execution status changes."""
    rules = []
    for name, props in function_properties(template).items():
        for event in props.get("Events", {}).values():
            pattern = event.get("Properties", {}).get("Pattern", {})
            if event["Type"] == "EventBridgeRule" and EXECUTION_STATUS_CHANGE in pattern.get("detail-type", []):
                rules.append(ExecutionRule(name, tuple(pattern.get("detail", {}).get("status", []))))
    return rules


@dataclass(frozen=True)
class LocalResource:
    """What a logical id stands for outside CloudFormation: the value of its Ref and of its GetAtt attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


_STATE_MACHINE = "AWS::Serverless::StateMachine"
_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    _STATE_MACHINE: "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::CodeBuild::Project": "arn:aws:codebuild:{region}:{account}:project/{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
}


def local_resources(
    template: dict[str, Any], stack_name: str, region: str, account_id: str
) -> dict[str, LocalResource]:
    """Physical names `<stack>-<logical id>` and the ARNs that go with them, for every resource of the template."""
    resources: dict[str, LocalResource] = {}
    for logical_id, resource in template["Resources"].items():
        name = f"{stack_name}-{logical_id}"
        arn_format = _ARN_FORMATS.get(resource["Type"])
        if arn_format is None:
            resources[logical_id] = LocalResource(ref=name)
            continue
        arn = arn_format.format(region=region, account=account_id, name=name)
        if resource["Type"] == _STATE_MACHINE:
            resources[logical_id] = LocalResource(ref=arn, attributes={"Arn": arn, "Name": name})
        else:
            resources[logical_id] = LocalResource(ref=name, attributes={"Arn": arn})
    return resources


def _parameter_value(parameter: dict[str, Any]) -> str | list[str]:
    """A parameter's default as Ref gives it: list types (CommaDelimitedList, List<...>) as lists."""
    default = str(parameter["Default"])
    if parameter.get("Type", "String") == "CommaDelimitedList" or parameter.get("Type", "").startswith("List<"):
        return [item.strip() for item in default.split(",")]
    return default


class TemplateResolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub and Fn::Join in template values to local names, ARNs and defaults."""

    def __init__(
        self,
        template: dict[str, Any],
        resources: dict[str, LocalResource],
        region: str,
        account_id: str,
        stack_name: str,
        *,
        parameters: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        self._resources = resources
        self._values: dict[str, str | list[str]] = {
            name: _parameter_value(parameter)
            for name, parameter in template.get("Parameters", {}).items()
            if "Default" in parameter
        }
        self._values.update(parameters or {})  # as `sam deploy --parameter-overrides`
        self._values.update(
            {
                "AWS::Region": region,
                "AWS::AccountId": account_id,
                "AWS::StackName": stack_name,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    def resolve(self, value: Any) -> Any:
        """`value` with every Ref, Fn::GetAtt, Fn::Sub and Fn::Join replaced; other intrinsics raise ValueError."""
        if _is_intrinsic(value):
            ((function, argument),) = value.items()
            return self._intrinsic(function, argument)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def _intrinsic(self, function: str, argument: Any) -> str | list[str]:
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self.sub(argument)
        if function == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self.resolve(items))
        raise ValueError(f"{function} is not supported by the local stack")

    def ref(self, name: str) -> str | list[str]:
        """A parameter's default (a list for list parameters), a pseudo parameter, or a resource's Ref value."""
        if name in self._values:
            return self._values[name]
        if name in self._resources:
            return self._resources[name].ref
        raise ValueError(f"Ref {name!r}: no such parameter (with a default) or resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        """A resource attribute, e.g. a function's Arn or a state machine's Name."""
        try:
            return self._resources[logical_id].attributes[attribute]
        except KeyError:
            raise ValueError(f"Fn::GetAtt {logical_id}.{attribute} is not known to the local stack") from None

    def sub(self, argument: str | list[Any]) -> str:
        """Fn::Sub in both forms: a string, or [string, {name: value}]."""
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name not in self._values:
                return self.get_att(*name.split(".", 1))
            value = self.ref(name)
            if isinstance(value, list):
                raise ValueError(f"Fn::Sub ${{{name}}}: a list parameter cannot be substituted into a string")
            return value

        return _SUB_VARIABLE.sub(substitute, text)
