"""template.yaml read for the local stack: Globals, Api routes, and Ref / Fn::GetAtt / Fn::Sub resolved locally."""

from __future__ import annotations

from typing import Any

import pytest

from hookrun.template import (
    ApiRoute,
    TemplateResolver,
    api_routes,
    function_properties,
    load_template,
    local_resources,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "hookrun-local"

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "StageName": {"Type": "String", "Default": "v1"},
        "Secret": {"Type": "String"},
        "Admins": {"Type": "CommaDelimitedList", "Default": "arn:a, arn:b"},
        "NoAdmins": {"Type": "CommaDelimitedList", "Default": ""},
    },
    "Globals": {
        "Function": {
            "Runtime": "python3.12",
            "Timeout": 10,
            "Layers": ["global-layer"],
            "Environment": {"Variables": {"TABLE_NAME": {"Ref": "Table"}, "LEVEL": "INFO"}},
        }
    },
    "Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Handler": "handlers.fn.handler",
                "Timeout": 900,
                "Layers": ["own-layer"],
                "Environment": {"Variables": {"MACHINE": {"Ref": "Machine"}, "LEVEL": "DEBUG"}},
                "Events": {
                    "Hook": {"Type": "Api", "Properties": {"Path": "/hook/{token}", "Method": "post"}},
                    "Nightly": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}},
                },
            },
        },
        "Machine": {"Type": "AWS::Serverless::StateMachine", "Properties": {}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Api": {"Type": "AWS::Serverless::Api", "Properties": {}},
    },
}


@pytest.fixture
def resolver() -> TemplateResolver:
    return TemplateResolver(TEMPLATE, local_resources(TEMPLATE, STACK, REGION, ACCOUNT), REGION, ACCOUNT, STACK)


def test_ref_of_a_table_or_function_is_its_name(resolver: TemplateResolver) -> None:
    assert resolver.resolve({"Ref": "Table"}) == "hookrun-local-Table"
    assert resolver.resolve({"Ref": "Fn"}) == "hookrun-local-Fn"


def test_ref_of_a_state_machine_is_its_arn(resolver: TemplateResolver) -> None:
    assert (
        resolver.resolve({"Ref": "Machine"})
        == "arn:aws:states:us-east-1:123456789012:stateMachine:hookrun-local-Machine"
    )


def test_get_att_gives_arns_and_a_state_machines_name(resolver: TemplateResolver) -> None:
    assert (
        resolver.resolve({"Fn::GetAtt": ["Fn", "Arn"]})
        == "arn:aws:lambda:us-east-1:123456789012:function:hookrun-local-Fn"
    )
    assert (
        resolver.resolve({"Fn::GetAtt": "Table.Arn"})
        == "arn:aws:dynamodb:us-east-1:123456789012:table/hookrun-local-Table"
    )
    assert resolver.resolve({"Fn::GetAtt": ["Machine", "Name"]}) == "hookrun-local-Machine"


def test_ref_of_a_parameter_is_its_default_and_pseudo_parameters_are_local(resolver: TemplateResolver) -> None:
    assert resolver.resolve({"Ref": "StageName"}) == "v1"
    assert resolver.resolve({"Ref": "AWS::Region"}) == REGION
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == ACCOUNT
    assert resolver.resolve({"Ref": "AWS::StackName"}) == STACK


def test_sub_fills_refs_attributes_variables_and_keeps_escaped_literals(resolver: TemplateResolver) -> None:
    text = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Machine.Name}:* ${!Literal}"

    assert resolver.resolve({"Fn::Sub": text}) == (
        "arn:aws:states:us-east-1:123456789012:execution:hookrun-local-Machine:* ${Literal}"
    )
    assert resolver.resolve({"Fn::Sub": ["${Api}/${Stage}", {"Stage": {"Ref": "StageName"}}]}) == "hookrun-local-Api/v1"


def test_join_joins_list_parameters_and_resolved_items(resolver: TemplateResolver) -> None:
    assert resolver.resolve({"Fn::Join": [",", {"Ref": "Admins"}]}) == "arn:a,arn:b"
    assert resolver.resolve({"Fn::Join": [",", {"Ref": "NoAdmins"}]}) == ""
    assert resolver.resolve({"Fn::Join": ["/", [{"Ref": "Table"}, "x"]]}) == "hookrun-local-Table/x"


def test_resolve_walks_maps_and_lists(resolver: TemplateResolver) -> None:
    value = {"Variables": {"A": {"Ref": "Table"}, "B": [{"Ref": "StageName"}, 3]}}

    assert resolver.resolve(value) == {"Variables": {"A": "hookrun-local-Table", "B": ["v1", 3]}}


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "Nothing"},
        {"Ref": "Secret"},
        {"Fn::GetAtt": ["Fn", "Nothing"]},
        {"Fn::Sub": "${Nothing}"},
        {"Fn::Sub": "${Admins}"},
        {"Fn::If": ["IsProd", "a", "b"]},
    ],
)
def test_what_cannot_be_resolved_locally_is_an_error(resolver: TemplateResolver, value: Any) -> None:
    with pytest.raises(ValueError):
        resolver.resolve(value)


def test_globals_apply_as_in_sam_maps_merge_lists_add_scalars_override() -> None:
    (fn,) = function_properties(TEMPLATE).values()

    assert fn["Runtime"] == "python3.12"
    assert fn["Timeout"] == 900
    assert fn["Layers"] == ["global-layer", "own-layer"]
    assert fn["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "Table"},
        "LEVEL": "DEBUG",
        "MACHINE": {"Ref": "Machine"},
    }


def test_api_routes_are_the_api_events_with_upper_case_methods() -> None:
    assert api_routes(TEMPLATE) == [ApiRoute(function="Fn", path="/hook/{token}", method="POST")]


def test_every_function_of_template_yaml_resolves_locally() -> None:
    template = load_template()
    resolver = TemplateResolver(template, local_resources(template, STACK, REGION, ACCOUNT), REGION, ACCOUNT, STACK)

    for name, properties in function_properties(template).items():
        variables = resolver.resolve(properties["Environment"]["Variables"])
        assert variables["TABLE_NAME"] == "hookrun-local-HookrunTable", name
        assert all(isinstance(value, str) for value in variables.values()), name


def test_template_yaml_routes_the_webhook_to_the_webhook_function() -> None:
    assert ApiRoute(function="WebhookFunction", path="/pipeline/webhook/{token}", method="POST") in api_routes()
