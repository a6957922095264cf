"""The local stack end to end: real HTTP to `hookrun dev`, the real handlers and state machine behind it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import requests

from hookrun.template import ROOT
from tests.e2e.conftest import HOOKRUN, RunningStack, moto_client, start_stack, stop_stack, wait_for_run

JSON = {"Content-Type": "application/json"}


def post(url: str, body: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(url, data=body.encode(), headers=JSON if headers is None else headers, timeout=30)


def hookrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HOOKRUN), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_general_webhook_answers_202_with_a_run_id_and_a_local_status_url(local_stack: RunningStack) -> None:
    response = post(local_stack.webhook_url, "{}")

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["runId"].startswith("run-")
    assert body["pipelineId"] == "demo"
    assert body["statusUrl"] == f"{local_stack.endpoint}/api/runs/{body['runId']}"


def test_variable_webhook_overrides_the_default_of_abc(local_stack: RunningStack) -> None:
    response = post(local_stack.webhook_url, '{"abc":"456"}')

    assert response.status_code == 202, response.text
    assert response.json()["variables"]["abc"] == "456"


def test_accepted_run_is_executed_by_the_state_machine_and_the_real_handlers(local_stack: RunningStack) -> None:
    run_id = post(local_stack.webhook_url, '{"abc":"456"}').json()["runId"]

    run = wait_for_run(local_stack.endpoint, run_id)

    assert run["status"] == "SUCCEEDED", run


def test_unknown_token_is_404_webhook_not_found(local_stack: RunningStack) -> None:
    unknown = local_stack.webhook_url.replace(local_stack.token, "hr_" + "A" * 43)

    response = post(unknown, "{}")

    assert response.status_code == 404
    assert response.json()["code"] == "WEBHOOK_NOT_FOUND"


def test_get_on_the_webhook_path_is_405_and_allows_post(local_stack: RunningStack) -> None:
    response = requests.get(local_stack.webhook_url, timeout=10)

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "POST"


def test_unknown_path_is_404_not_found(local_stack: RunningStack) -> None:
    response = requests.post(f"{local_stack.endpoint}/pipeline/hooks/x", timeout=10)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_text_plain_body_is_415(local_stack: RunningStack) -> None:
    response = post(local_stack.webhook_url, "abc=456", headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_hookrun_invoke_runs_a_function_with_an_event_file(local_stack: RunningStack) -> None:
    result = hookrun(
        "invoke", "WebhookFunction", "-e", "events/webhook-unknown-token.json", "--endpoint", local_stack.endpoint
    )

    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["code"] == "WEBHOOK_NOT_FOUND"


def test_hookrun_invoke_without_a_local_stack_says_so_and_fails() -> None:
    result = hookrun("invoke", "WebhookFunction", "--endpoint", f"http://127.0.0.1:{closed_port()}")

    assert result.returncode == 2  # the README's exit code for a connection problem
    assert "no local stack answers" in result.stderr


def test_sigterm_stops_the_stack_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)

    exit_code = stop_stack(stack, signal.SIGTERM)

    assert exit_code == 0, stack.output()
    assert "hookrun local stack stopped." in stack.output()


def test_the_banner_names_the_swagger_ui(local_stack: RunningStack) -> None:
    assert f"{local_stack.endpoint}/swagger" in local_stack.output()


def test_the_swagger_ui_is_served_as_a_page(local_stack: RunningStack) -> None:
    response = requests.get(f"{local_stack.endpoint}/swagger", timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in response.text


def test_the_swagger_ui_serves_the_apis_openapi_schema(local_stack: RunningStack) -> None:
    response = requests.get(f"{local_stack.endpoint}/swagger", params={"format": "json"}, timeout=30)

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/pipelines/{pipelineId}/deliveries", "/api/pipelines/{pipelineId}/webhook/secret"} <= paths.keys()


def test_the_workflow_functions_run_their_events_like_sam_local_invoke(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    """The Step Functions task events in events/: record the run, run its job, finish it, then read it."""
    # the run belongs to this stack's demo pipeline as the webhook would make it: of its incarnation
    dynamodb, info = moto_client(local_stack, "dynamodb")
    demo = dynamodb.get_item(TableName=info["tableName"], Key={"pk": {"S": "PIPELINE#demo"}, "sk": {"S": "PIPELINE"}})
    start = json.loads((ROOT / "events" / "run-status-start.json").read_text())
    start["run"]["incarnation"] = demo["Item"]["incarnation"]["S"]
    (tmp_path / "run-status-start.json").write_text(json.dumps(start))
    outcomes = [
        json.loads(hookrun("invoke", function, "-e", str(event), "--endpoint", local_stack.endpoint).stdout)
        for function, event in [
            ("RunStatusFunction", tmp_path / "run-status-start.json"),
            ("JobStatusFunction", ROOT / "events" / "job-status-run.json"),
            ("RunStatusFunction", ROOT / "events" / "run-status-finish.json"),
        ]
    ]
    assert outcomes == [{"status": "RUNNING", "waitsForGroup": False}, {"status": "SUCCEEDED"}, {"status": "SUCCEEDED"}]
    run_id = json.loads((ROOT / "events" / "job-status-run.json").read_text())["task"]["runId"]
    run = wait_for_run(local_stack.endpoint, run_id)
    assert run["stages"][0]["jobs"][0]["output"] == "abc is 456\n"
