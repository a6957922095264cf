"""Reading template.yaml: the one description of hookrun's resources, used by the local stack and the tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...)."""


def _short_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
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


def state_machine_definition(substitutions: dict[str, str], template: dict[str, Any] | None = None) -> str:
    """The state machine's ASL from its DefinitionUri, with DefinitionSubstitutions filled in from `substitutions`."""
    template = template or load_template()
    (props,) = (res["Properties"] for res in resources_of_type(template, "AWS::Serverless::StateMachine").values())
    definition: str = (ROOT / props["DefinitionUri"]).read_text(encoding="utf-8")
    for name in props.get("DefinitionSubstitutions", {}):
        definition = definition.replace("${" + name + "}", str(substitutions[name]))
    return definition
