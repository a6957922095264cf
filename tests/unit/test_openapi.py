"""The API's OpenAPI schema: true to template.yaml, every operation documented; Swagger UI locally only.

The webhook function has one route and no resolver (see handlers.webhook), so the schema is the API function's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers import api
from hookrun.local_stack import local_only_routes
from hookrun.template import ApiRoute, api_routes
from tests.support import FakeLambdaContext, api_request

# In template.yaml for a later issue that adds their routes; empty this when it lands.
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the API resolver's schema, by (path, method)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    schema = json.loads(api.app.get_openapi_json_schema())
    for path, item in schema["paths"].items():
        found.update({(path, method): item[method] for method in HTTP_METHODS & item.keys()})
    return found


def test_schema_has_exactly_the_api_functions_routes_of_the_template() -> None:
    template = {(route.path, route.method.lower()) for route in api_routes() if route.function == "ApiFunction"}
    assert set(operations()) == template


@pytest.mark.parametrize("route", sorted(operations()))
def test_every_api_operation_has_a_summary_a_tag_and_documented_answers(route: tuple[str, str]) -> None:
    operation = operations()[route]
    assert operation["summary"] and operation["tags"]
    assert any(status.startswith("2") for status in operation["responses"])
    assert {"401", "503"} <= operation["responses"].keys()


def test_path_parameters_are_named_as_in_the_template() -> None:
    operation = operations()[("/api/pipelines/{pipelineId}/members/{userId}", "put")]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == {"pipelineId", "userId"}


def test_pipeline_body_is_documented_with_id_optional() -> None:
    body = operations()[("/api/pipelines/{pipelineId}", "put")]["requestBody"]["content"]["application/json"]
    assert {"name", "stages"} <= set(body["schema"]["required"]) and "id" not in body["schema"]["required"]


def swagger() -> dict[str, Any]:
    result: dict[str, Any] = api.handler(api_request("GET", api.SWAGGER_PATH), FakeLambdaContext())  # type: ignore[arg-type]
    return result


def test_swagger_ui_is_served_by_the_api_function() -> None:
    response = swagger()
    assert response["statusCode"] == 200 and "swagger" in response["body"].lower()


def test_the_local_api_gateway_routes_the_swagger_ui_to_the_api_function() -> None:
    assert local_only_routes() == [ApiRoute("ApiFunction", api.SWAGGER_PATH, "GET")]


def test_the_swagger_ui_is_no_route_of_the_template() -> None:
    assert api.SWAGGER_PATH not in {route.path for route in api_routes()}


def test_swagger_on_the_local_stack_sends_the_acting_user_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKRUN_LOCAL_STACK", "1")
    event = api_request("GET", api.SWAGGER_PATH)
    event["queryStringParameters"] = {"format": "json"}
    event["multiValueQueryStringParameters"] = {"format": ["json"]}
    served = json.loads(api.handler(event, FakeLambdaContext())["body"])  # type: ignore[arg-type]
    scheme = served["components"]["securitySchemes"][api.LOCAL_USER_SCHEME]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Hookrun-User")
    assert served["security"] == [{api.LOCAL_USER_SCHEME: []}]


def test_the_deployed_apis_schema_knows_no_acting_user_header() -> None:
    schema = json.loads(api.app.get_openapi_json_schema())
    assert "X-Hookrun-User" not in json.dumps(schema) and schema["security"] == [{"sigv4": []}]


@pytest.mark.parametrize(
    ("route", "status", "component"),
    [
        (("/api/runs/{runId}", "get"), "200", "RunBody"),
        (("/api/pipelines/{pipelineId}/runs", "get"), "200", "RunPage"),
        (("/api/pipelines/{pipelineId}/runs", "post"), "202", "RunAccepted"),
        (("/api/pipelines/{pipelineId}", "get"), "200", "PipelineDetailsBody"),
        (("/api/pipelines", "get"), "200", "PipelineList"),
    ],
)
def test_run_and_pipeline_answers_have_real_schemas(route: tuple[str, str], status: str, component: str) -> None:
    content = operations()[route]["responses"][status]["content"]["application/json"]["schema"]
    assert content == {"$ref": f"#/components/schemas/{component}"}
