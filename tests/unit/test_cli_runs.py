"""`hookrun runs ...` against a fake run API: what each command prints, its exit code, and error mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hookrun.cli_runs import runs_app
from hookrun.client import ApiError, HookrunClient
from hookrun.terminal import terminal_safe

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

RUN_ID = "run-0195f2a3b4c5d0123456789abcdef"


def a_run(status: str = "SUCCEEDED", job_status: str = "SUCCEEDED", exit_code: int | None = 0) -> dict[str, Any]:
    return {
        "runId": RUN_ID,
        "pipelineId": "demo",
        "pipelineName": "Demo pipeline",
        "status": status,
        "variables": {"abc": "456", "API_KEY": "***"},
        "trigger": {"kind": "webhook", "runAs": "alice"},
        "createdAt": "2026-11-27T12:00:00.000Z",
        "startedAt": "2026-11-27T12:00:00.100Z",
        "finishedAt": "2026-11-27T12:00:03.000Z" if status in {"SUCCEEDED", "FAILED"} else None,
        "reason": "job test failed" if status == "FAILED" else None,
        "stages": [
            {
                "name": "build",
                "status": "SUCCEEDED",
                "startedAt": None,
                "finishedAt": None,
                "jobs": [
                    {"name": "print", "status": "SUCCEEDED", "exitCode": 0, "output": "abc is 456\n"}
                    | {"reason": None, "startedAt": None, "finishedAt": None, "durationMs": 1234},
                ],
            },
            {
                "name": "check",
                "status": job_status,
                "startedAt": None,
                "finishedAt": None,
                "jobs": [
                    {"name": "test", "status": job_status, "exitCode": exit_code, "output": "[red]1 failed[/red]"}
                    | {"reason": None, "startedAt": None, "finishedAt": None, "durationMs": 75_000},
                ],
            },
        ],
    }


@dataclass
class FakeApi:
    """Answers HookrunClient.get from canned answers per path; a list of answers is served in order."""

    answers: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)

    def get(self, client: HookrunClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append((path, dict(params or {}), client.user))
        answer = self.answers[path]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(HookrunClient, "get", lambda self, path, params=None: fake.get(self, path, params))
    return fake


def hookrun(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(runs_app, list(args), env=env)


RUN_PATH = f"/api/runs/{RUN_ID}"


def test_show_prints_status_variables_and_jobs(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    result = hookrun("show", RUN_ID)
    assert result.exit_code == 0
    assert RUN_ID in result.stdout and "SUCCEEDED" in result.stdout
    assert "abc" in result.stdout and "456" in result.stdout and "***" in result.stdout
    assert "print" in result.stdout and "1.2 s" in result.stdout
    assert "test" in result.stdout and "1 min 15 s" in result.stdout


def test_show_json_prints_the_api_answer(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    result = hookrun("show", RUN_ID, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == a_run()


def test_show_of_a_queued_run_says_it_has_no_stages_yet(api: FakeApi) -> None:
    api.answers[RUN_PATH] = {"runId": RUN_ID, "status": "QUEUED", "stages": []}
    result = hookrun("show", RUN_ID)
    assert result.exit_code == 0 and "QUEUED" in result.stdout and "queued" in result.stdout


def test_user_is_sent_from_the_as_option(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    hookrun("show", RUN_ID, "--as", "bob")
    assert api.calls[-1][2] == "bob"


def test_user_comes_from_hookrun_user_when_as_is_not_given(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    hookrun("show", RUN_ID, env={"HOOKRUN_USER": "carol"})
    assert api.calls[-1][2] == "carol"


def test_no_user_is_sent_by_default(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    hookrun("show", RUN_ID)
    assert api.calls[-1][2] is None


def test_run_id_is_one_quoted_path_segment(api: FakeApi) -> None:
    api.answers["/api/runs/..%2Fpipelines"] = a_run()
    assert hookrun("show", "../pipelines").exit_code == 0


def test_logs_prints_every_job_under_a_header_in_order(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    result = hookrun("logs", RUN_ID)
    assert result.exit_code == 0
    out = result.stdout
    assert out.index("build / print") < out.index("abc is 456") < out.index("check / test")
    assert "[red]1 failed[/red]" in out  # job output is printed as text, never as markup


def test_logs_of_one_job_prints_its_output_alone(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    result = hookrun("logs", RUN_ID, "--job", "print")
    assert (result.exit_code, result.stdout) == (0, "abc is 456\n")


@pytest.mark.parametrize(
    ("printed", "shown"),
    [
        ("\x1b]52;c;cHduZWQ=\x07copied", "copied"),  # OSC 52: write the clipboard
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ended by ST
        ("\x1b[2J\x1b[Hcleared", "cleared"),  # erase the screen, move the cursor
        ("\x1b]0;title\x07", ""),  # retitle the window
        ("a\rb\x08c\x9b31md", "abcd"),  # carriage return, backspace, 8-bit CSI
        ("red\tok\r\n", "red\tok\n"),  # tab and newline stay
    ],
)
def test_logs_keep_colours_and_drop_every_other_control_sequence(api: FakeApi, printed: str, shown: str) -> None:
    run = a_run()
    run["stages"][0]["jobs"][0]["output"] = printed
    api.answers[RUN_PATH] = run
    result = hookrun("logs", RUN_ID, "--job", "print")
    assert result.stdout.rstrip("\n") == shown.rstrip("\n")


def test_colours_are_kept_for_the_terminal() -> None:
    assert terminal_safe("\x1b[1;31mred\x1b[0m \x1b[38;5;2mgreen\x1b[m") == (
        "\x1b[1;31mred\x1b[0m \x1b[38;5;2mgreen\x1b[m"
    )


def test_logs_of_an_unknown_job_names_the_jobs_there_are(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    result = hookrun("logs", RUN_ID, "--job", "deploy")
    assert result.exit_code == 1
    assert "build/print" in result.stderr and "check/test" in result.stderr


def test_logs_json_lists_stage_job_and_output(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run()
    result = hookrun("logs", RUN_ID, "--job", "check/test", "--json")
    assert json.loads(result.stdout) == [
        {"stage": "check", "job": "test", "status": "SUCCEEDED", "exitCode": 0, "output": "[red]1 failed[/red]"}
    ]


def test_watch_of_a_run_that_succeeds_exits_0(api: FakeApi) -> None:
    running = a_run(status="RUNNING", job_status="RUNNING", exit_code=None)
    api.answers[RUN_PATH] = [{"runId": RUN_ID, "status": "QUEUED", "stages": []}, running, a_run()]
    result = hookrun("watch", RUN_ID, "--interval", "0")
    assert result.exit_code == 0
    assert len(api.calls) == 3
    assert "SUCCEEDED" in result.stdout


def test_watch_of_a_run_that_fails_exits_1(api: FakeApi) -> None:
    api.answers[RUN_PATH] = [a_run(status="FAILED", job_status="FAILED", exit_code=1)]
    result = hookrun("watch", RUN_ID, "--interval", "0")
    assert result.exit_code == 1


def test_watch_of_a_cancelled_run_exits_1(api: FakeApi) -> None:
    api.answers[RUN_PATH] = [a_run(status="CANCELLED", job_status="CANCELLED", exit_code=None)]
    assert hookrun("watch", RUN_ID, "--interval", "0").exit_code == 1


def test_watch_that_times_out_exits_2(api: FakeApi) -> None:
    api.answers[RUN_PATH] = [a_run(status="RUNNING", job_status="RUNNING", exit_code=None)]
    result = hookrun("watch", RUN_ID, "--interval", "0", "--timeout", "0")
    assert result.exit_code == 2
    assert "still RUNNING" in result.stderr


def test_watch_keeps_looking_while_the_api_is_throttled(api: FakeApi) -> None:
    busy = ApiError(503, "UNAVAILABLE", "Retry after the given delay.")
    api.answers[RUN_PATH] = [busy, busy, a_run()]
    assert hookrun("watch", RUN_ID, "--interval", "0").exit_code == 0


def test_watch_of_a_run_the_api_refuses_exits_1_as_every_refusal(api: FakeApi) -> None:
    api.answers[RUN_PATH] = [ApiError(404, "RUN_NOT_FOUND", "No run with this id that you may see.")]
    result = hookrun("watch", RUN_ID, "--interval", "0")
    assert result.exit_code == 1 and "RUN_NOT_FOUND" in result.stderr and "hookrun runs list" in result.stderr


def test_watch_json_prints_the_final_run(api: FakeApi) -> None:
    api.answers[RUN_PATH] = [a_run(status="RUNNING", job_status="RUNNING", exit_code=None), a_run()]
    result = hookrun("watch", RUN_ID, "--interval", "0", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == a_run()


def test_list_prints_runs_newest_first_and_the_next_cursor(api: FakeApi) -> None:
    older, newer = dict(a_run(), runId="run-" + "1" * 29), dict(a_run(), runId="run-" + "2" * 29)
    api.answers["/api/pipelines/demo/runs"] = {"runs": [newer, older], "nextCursor": "abc123"}
    result = hookrun("list", "demo", "--limit", "2")
    assert result.exit_code == 0
    assert result.stdout.index(newer["runId"]) < result.stdout.index(older["runId"])
    assert "2.9 s" in result.stdout  # how long the run took, from startedAt to finishedAt
    assert "--cursor abc123" in result.stdout
    assert api.calls[-1][1] == {"limit": 2, "cursor": None}


def test_list_passes_the_cursor(api: FakeApi) -> None:
    api.answers["/api/pipelines/demo/runs"] = {"runs": [], "nextCursor": None}
    result = hookrun("list", "demo", "--cursor", "abc123")
    assert result.exit_code == 0
    assert api.calls[-1][1] == {"limit": 20, "cursor": "abc123"}


def test_list_json_prints_the_api_answer(api: FakeApi) -> None:
    page = {"runs": [a_run()], "nextCursor": None}
    api.answers["/api/pipelines/demo/runs"] = page
    result = hookrun("list", "demo", "--json")
    assert json.loads(result.stdout) == page


def test_list_refuses_a_limit_over_100_before_calling(api: FakeApi) -> None:
    result = hookrun("list", "demo", "--limit", "101")
    assert result.exit_code == 2 and api.calls == []


def test_api_error_prints_code_and_message_and_exits_1(api: FakeApi) -> None:
    api.answers[RUN_PATH] = ApiError(404, "RUN_NOT_FOUND", "No run with this id that you may see. Check the run id.")
    result = hookrun("show", RUN_ID)
    assert result.exit_code == 1
    assert "RUN_NOT_FOUND" in result.stderr and "Check the run id." in result.stderr
    assert result.stdout == ""


def test_no_api_at_the_endpoint_says_how_to_start_one_and_exits_2() -> None:
    result = hookrun("show", RUN_ID, "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "no hookrun API at http://127.0.0.1:9" in result.stderr and "make run" in result.stderr


def test_endpoint_comes_from_hookrun_endpoint() -> None:
    result = hookrun("show", RUN_ID, env={"HOOKRUN_ENDPOINT": "http://127.0.0.1:9"})
    assert "http://127.0.0.1:9" in result.stderr


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """POSTs the CLI sends: path and body; the run API answers a cancelled run, or RUN_FINISHED for run-done."""
    sent: list[tuple[str, Any]] = []

    def post(self: HookrunClient, path: str, body: Any = None) -> dict[str, Any]:
        sent.append((path, body))
        if "run-done" in path:
            raise ApiError(409, "RUN_FINISHED", "Run run-done has already ended SUCCEEDED.")
        return {"runId": RUN_ID, "status": "CANCELLED", "cancelledBy": "alice", "reason": "CANCELLED"}

    monkeypatch.setattr(HookrunClient, "post", post)
    return sent


def test_cancel_posts_to_the_cancel_route_and_prints_the_status(posts: list[tuple[str, Any]]) -> None:
    result = hookrun("cancel", RUN_ID, "--as", "alice")

    assert result.exit_code == 0, result.output
    assert posts == [(f"{RUN_PATH}/cancel", None)]
    assert "CANCELLED" in result.output


def test_cancel_of_a_finished_run_exits_1_with_the_code(posts: list[tuple[str, Any]]) -> None:
    result = hookrun("cancel", "run-done", "--as", "alice")

    assert result.exit_code == 1
    assert "RUN_FINISHED" in result.output


def test_a_superseded_run_shows_as_such(api: FakeApi) -> None:
    api.answers[RUN_PATH] = a_run(status="CANCELLED") | {"reason": "SUPERSEDED", "stages": []}

    result = hookrun("show", RUN_ID)

    assert "CANCELLED · SUPERSEDED" in result.output
