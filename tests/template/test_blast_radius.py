"""What one holder of a webhook URL can take: the webhook's own throttle, a capped job runner, access logs."""

from __future__ import annotations

from typing import Any

from hookrun.template import load_template, resources_of_type

WEBHOOK_ROUTE = "/pipeline/webhook/{token}"


def _api() -> dict[str, Any]:
    (api,) = resources_of_type(load_template(), "AWS::Serverless::Api").values()
    properties: dict[str, Any] = api["Properties"]
    return properties


def _throttle(resource_path: str, method: str) -> tuple[Any, Any]:
    (setting,) = (
        s for s in _api()["MethodSettings"] if (s["ResourcePath"], s["HttpMethod"]) == (resource_path, method)
    )
    return setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]


def test_the_webhook_and_the_api_are_throttled_apart() -> None:
    webhook = _throttle("/" + WEBHOOK_ROUTE.replace("/", "~1"), "POST")  # API Gateway escapes "/" as ~1
    everything_else = _throttle("/*", "*")
    assert webhook == ({"Ref": "WebhookRateLimit"}, {"Ref": "WebhookBurstLimit"})
    assert everything_else == ({"Ref": "ApiRateLimit"}, {"Ref": "ApiBurstLimit"})


def test_the_function_that_runs_users_scripts_has_a_reserved_concurrency_cap() -> None:
    template = load_template()
    functions = resources_of_type(template, "AWS::Serverless::Function")
    (runner,) = (f for f in functions.values() if f["Properties"]["Handler"] == "handlers.job_runner.handler")
    cap = runner["Properties"]["ReservedConcurrentExecutions"]
    assert cap == {"Ref": "JobRunnerConcurrency"}
    assert template["Parameters"]["JobRunnerConcurrency"]["MinValue"] >= 1


def test_api_access_logs_name_the_route_never_the_path_that_holds_a_token() -> None:
    log_format = _api()["AccessLogSetting"]["Format"]
    assert "$context.resourcePath" in log_format
    assert "$context.path" not in log_format


def test_the_functions_that_start_runs_cap_each_pipeline_s_runs_at_the_stack_s_limit() -> None:
    from domain.models import MAX_RUNNING_RUNS

    template = load_template()
    functions = resources_of_type(template, "AWS::Serverless::Function")
    starters = {
        name: function["Properties"]["Environment"]["Variables"].get("MAX_RUNNING_RUNS")
        for name, function in functions.items()
        if function["Properties"]["Handler"] in {"handlers.webhook.handler", "handlers.api.handler"}
    }
    assert list(starters.values()) == [{"Ref": "MaxRunningRunsPerPipeline"}] * 2
    parameter = template["Parameters"]["MaxRunningRunsPerPipeline"]
    assert (parameter["MinValue"], parameter["MaxValue"], parameter["Default"]) == (
        1,
        MAX_RUNNING_RUNS,
        MAX_RUNNING_RUNS,
    )
