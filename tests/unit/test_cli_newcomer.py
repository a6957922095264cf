"""The CLI as people use `gh`: starting runs, listing them with filters, refusals with their errors and remedy,
exit codes as the README says, `--version`, and a default user and endpoint in `hookrun config`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hookrun.cli import app
from hookrun.client import ApiError, ApiUnreachable
from tests.cli_api import FakeApi

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

RUN_ID = "run-" + "0" * 28 + "1"
ACCEPTED = {
    "triggered": True,
    "runId": RUN_ID,
    "pipelineId": "demo",
    "status": "QUEUED",
    "variables": {"abc": "456", "API_KEY": "***"},
    "replayed": False,
    "statusUrl": f"http://127.0.0.1:3000/api/runs/{RUN_ID}",
}


def a_summary(n: int, status: str = "SUCCEEDED", branch: str | None = None, kind: str = "webhook") -> dict[str, Any]:
    return {
        "runId": f"run-{n:029x}",
        "status": status,
        "createdAt": "2026-11-27T12:00:00.000Z",
        "startedAt": "2026-11-27T12:00:00.000Z",
        "finishedAt": "2026-11-27T12:00:02.000Z",
        "trigger": {
            "kind": kind,
            "runAs": "alice",
            "branch": branch,
            "tag": None,
            "commitSha": "0123456789abcdef" * 2 + "01234567" if branch else None,
        },
        "reason": None,
    }


def hookrun(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


START = ("POST", "/api/pipelines/demo/runs")
RUN = ("GET", f"/api/runs/{RUN_ID}")
LIST = ("GET", "/api/pipelines/demo/runs")


# --- runs start ---------------------------------------------------------------------------------------------------


def test_runs_start_posts_the_fields_as_variables_and_prints_the_run(api: FakeApi) -> None:
    api.answers[START] = ACCEPTED
    result = hookrun("runs", "start", "demo", "-f", "abc=456", "--field", "RETRIES=3=x", "--as", "alice")
    assert result.exit_code == 0, result.output
    (sent,) = api.sent
    assert sent.body == {"variables": {"abc": "456", "RETRIES": "3=x"}} and sent.user == "alice"
    assert RUN_ID in result.stdout and "hookrun runs watch" in result.stdout and "***" in result.stdout


def test_runs_start_json_prints_the_apis_answer(api: FakeApi) -> None:
    api.answers[START] = ACCEPTED
    result = hookrun("runs", "start", "demo", "--json", "--as", "alice")
    assert (result.exit_code, json.loads(result.stdout)) == (0, ACCEPTED)


def test_a_field_without_equals_exits_2_before_calling(api: FakeApi) -> None:
    result = hookrun("runs", "start", "demo", "-f", "abc", "--as", "alice")
    assert result.exit_code == 2 and "NAME=VALUE" in result.stderr and api.sent == []


@pytest.mark.parametrize(("status", "code"), [("SUCCEEDED", 0), ("FAILED", 1), ("CANCELLED", 1)])
def test_runs_start_watch_exits_as_the_run_ended(api: FakeApi, status: str, code: int) -> None:
    api.answers[START] = ACCEPTED
    api.answers[RUN] = [{"runId": RUN_ID, "status": "RUNNING", "stages": []}, {"runId": RUN_ID, "status": status}]
    result = hookrun("runs", "start", "demo", "--watch", "--as", "alice")
    assert result.exit_code == code, result.output


def test_refused_variables_print_each_problem_and_the_remedy(api: FakeApi) -> None:
    errors = [{"name": "nope", "reason": "not declared by the pipeline"}, {"name": "RETRIES", "reason": "not a number"}]
    body = {"code": "INVALID_VARIABLES", "message": "2 variable(s) were rejected; see 'errors'.", "errors": errors}
    api.answers[START] = ApiError(422, "INVALID_VARIABLES", body["message"], body)
    result = hookrun("runs", "start", "demo", "-f", "nope=1", "-f", "RETRIES=x", "--as", "alice")
    assert result.exit_code == 1
    for text in ("INVALID_VARIABLES", "nope", "not declared by the pipeline", "RETRIES", "hookrun pipelines show"):
        assert text in result.stderr


def test_a_refusal_with_json_prints_the_whole_error_body(api: FakeApi) -> None:
    body = {
        "code": "INVALID_VARIABLES",
        "message": "1 variable(s) were rejected.",
        "errors": [{"name": "x", "reason": "r"}],
    }
    api.answers[START] = ApiError(422, "INVALID_VARIABLES", body["message"], body)
    result = hookrun("runs", "start", "demo", "-f", "x=1", "--json", "--as", "alice")
    assert (result.exit_code, json.loads(result.stdout)) == (1, body)


def test_an_invalid_pipeline_file_prints_every_error(api: FakeApi, tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_text("id: demo\nname: x\nstages: []\n", encoding="utf-8")
    errors = [{"name": "stages", "reason": "List should have at least 1 item after validation, not 0"}]
    body = {"code": "INVALID_PIPELINE", "message": "The pipeline has 1 problem(s); see 'errors'.", "errors": errors}
    api.answers[("PUT", "/api/pipelines/demo")] = ApiError(422, "INVALID_PIPELINE", body["message"], body)
    result = hookrun("pipelines", "apply", "-f", str(file), "--as", "admin")
    assert result.exit_code == 1 and "stages" in result.stderr and "at least 1 item" in result.stderr


# --- runs list ----------------------------------------------------------------------------------------------------


def test_runs_list_shows_trigger_branch_short_sha_and_run_as(api: FakeApi) -> None:
    api.answers[LIST] = {"runs": [a_summary(1, branch="main", kind="source")], "nextCursor": None}
    result = hookrun("runs", "list", "demo", "--as", "alice")
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()[0], result.stdout.splitlines()[2]
    assert all(column in header for column in ("Trigger", "Branch", "Commit", "Run as"))
    assert all(text in row for text in ("source", "main", "0123456", "alice")) and "01234567" not in row


def test_runs_list_filters_by_status_and_branch_across_pages(api: FakeApi) -> None:
    first = [a_summary(1, "FAILED", "dev"), a_summary(2, "SUCCEEDED", "main"), a_summary(3, "FAILED", "main")]
    api.answers[LIST] = [
        {"runs": first, "nextCursor": "c1"},
        {"runs": [a_summary(4, "FAILED", "main")], "nextCursor": None},
    ]
    result = hookrun("runs", "list", "demo", "--status", "failed", "--branch", "main", "--json", "--as", "alice")
    assert result.exit_code == 0
    assert [run["runId"] for run in json.loads(result.stdout)["runs"]] == [f"run-{3:029x}", f"run-{4:029x}"]
    assert [sent.params["cursor"] for sent in api.sent] == [None, "c1"]


# --- exit codes, --version, config --------------------------------------------------------------------------------


def test_an_api_out_of_reach_exits_2(api: FakeApi) -> None:
    api.answers[LIST] = ApiUnreachable("http://127.0.0.1:3000", "the connection failed")
    result = hookrun("runs", "list", "demo", "--as", "alice")
    assert result.exit_code == 2 and "make run" in result.stderr


def test_invoke_without_a_local_stack_exits_2() -> None:
    result = hookrun("invoke", "WebhookFunction", "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "no local stack answers" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert hookrun("runs", "list").exit_code == 2


def test_unauthenticated_says_how_to_name_the_user(api: FakeApi) -> None:
    api.answers[LIST] = ApiError(401, "UNAUTHENTICATED", "The request names no hookrun user.")
    result = hookrun("runs", "list", "demo")
    assert result.exit_code == 1 and "hookrun config set user" in result.stderr


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = hookrun("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"hookrun {version('hookrun')}")


def test_config_set_user_makes_as_optional(api: FakeApi) -> None:
    api.answers[LIST] = {"runs": [], "nextCursor": None}
    assert hookrun("config", "set", "user", "alice").exit_code == 0
    assert hookrun("config", "set", "endpoint", "http://127.0.0.1:3100").exit_code == 0
    assert hookrun("runs", "list", "demo").exit_code == 0
    assert (api.sent[-1].user, api.sent[-1].endpoint) == ("alice", "http://127.0.0.1:3100")
    assert "user = alice" in hookrun("config", "show").stdout


def test_options_win_over_the_config_file(api: FakeApi) -> None:
    api.answers[LIST] = {"runs": [], "nextCursor": None}
    hookrun("config", "set", "user", "alice")
    hookrun("config", "set", "endpoint", "http://127.0.0.1:3100")
    hookrun("runs", "list", "demo", "--as", "bob", "--endpoint", "http://127.0.0.1:3000")
    assert (api.sent[-1].user, api.sent[-1].endpoint) == ("bob", "http://127.0.0.1:3000")


def test_config_unset_removes_a_default(api: FakeApi) -> None:
    api.answers[LIST] = {"runs": [], "nextCursor": None}
    hookrun("config", "set", "user", "alice")
    hookrun("config", "unset", "user")
    hookrun("runs", "list", "demo")
    assert api.sent[-1].user is None


def test_a_broken_config_file_is_named_and_exits_2(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("user = \n", encoding="utf-8")
    monkeypatch.setenv("HOOKRUN_CONFIG", str(broken))
    result = hookrun("runs", "list", "demo")
    assert result.exit_code == 2 and str(broken) in result.stderr and api.sent == []
