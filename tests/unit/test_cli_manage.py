"""`hookrun pipelines|users|members|webhook|deliveries ...` against a fake API: what each command sends, prints and
exits with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from hookrun import cli_common
from hookrun.cli import app
from hookrun.cli_manage import members_app, pipelines_app, users_app, webhook_app
from hookrun.client import ApiError, ApiUnreachable
from tests.cli_api import FakeApi

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

URL = "http://127.0.0.1:3000/pipeline/webhook/hr_" + "A" * 43
STATE = {
    "enabled": True,
    "runAs": "alice",
    "enabledAt": "2026-11-27T12:00:00.000Z",
    "tokenHint": "AAAA",
    "problem": None,
}
AUDIT = [{"at": "2026-11-27T12:00:00.000Z", "actor": "alice", "action": "webhook.enable", "target": "pipeline/demo"}]
PIPELINE = {
    "id": "demo",
    "name": "Demo pipeline",
    "variables": {"abc": {"type": "string", "default": "123", "secret": False}},
    "webhook": {"allowUndeclaredVariables": False},
    "stages": [
        {"name": "build", "jobs": [{"name": "print", "script": ["echo hi"], "timeoutSeconds": 300, "runner": "lambda"}]}
    ],
}


SECRET = "hookrun-example-secret"  # events/source-*.json are signed with it
RUN_ID = "run-" + "0" * 28 + "1"
DELIVERIES = [
    {
        "receivedAt": "2026-11-27T12:00:02.000Z",
        "source": "github",
        "event": "push",
        "deliveryId": "6dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11",
        "outcome": "REJECTED",
        "reason": "INVALID_SIGNATURE",
        "runId": None,
        "runAs": "alice",
    },
    {
        "receivedAt": "2026-11-27T12:00:01.000Z",
        "source": "github",
        "event": "push",
        "deliveryId": "5dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11",
        "outcome": "RUN_STARTED",
        "reason": None,
        "runId": RUN_ID,
        "runAs": "alice",
    },
]


@pytest.fixture(autouse=True)
def _demo_answers(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo")] = {"pipeline": PIPELINE}  # `webhook status` reads its concurrency


def run(group: typer.Typer, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(group, list(args), input=stdin)


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo.pipeline.yaml"
    path.write_text(
        "id: demo\nname: Demo pipeline\nstages:\n  - name: build\n    jobs: [{name: print, script: [echo hi]}]\n"
    )
    return path


# pipelines


def test_apply_puts_the_yaml_file_as_json_under_its_id(api: FakeApi, pipeline_file: Path) -> None:
    api.answers[("PUT", "/api/pipelines/demo")] = (201, {"pipeline": PIPELINE})
    result = run(pipelines_app, "apply", "-f", str(pipeline_file), "--as", "owen")
    assert (result.exit_code, result.stdout) == (0, "Created pipeline demo.\n")
    (sent,) = api.sent
    assert sent.body["stages"][0]["jobs"][0]["name"] == "print" and sent.user == "owen"


def test_apply_of_a_known_pipeline_says_updated(api: FakeApi, pipeline_file: Path) -> None:
    api.answers[("PUT", "/api/pipelines/demo")] = (200, {"pipeline": PIPELINE})
    assert run(pipelines_app, "apply", "-f", str(pipeline_file)).stdout == "Updated pipeline demo.\n"


def test_apply_reads_a_json_file(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(PIPELINE))
    api.answers[("PUT", "/api/pipelines/demo")] = (201, {"pipeline": PIPELINE})
    assert run(pipelines_app, "apply", "-f", str(path)).exit_code == 0
    assert api.sent[0].body == PIPELINE


def test_apply_of_a_file_without_an_id_exits_2_before_calling(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "nameless.yaml"
    path.write_text("name: no id\n")
    result = run(pipelines_app, "apply", "-f", str(path))
    assert result.exit_code == 2 and "id" in result.stderr and api.sent == []


def test_apply_of_a_file_that_is_not_yaml_exits_2(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n")
    assert run(pipelines_app, "apply", "-f", str(path)).exit_code == 2


def test_apply_of_a_missing_file_exits_2(api: FakeApi, tmp_path: Path) -> None:
    assert run(pipelines_app, "apply", "-f", str(tmp_path / "missing.yaml")).exit_code == 2


def test_invalid_pipeline_prints_the_apis_error_and_exits_1(api: FakeApi, pipeline_file: Path) -> None:
    api.answers[("PUT", "/api/pipelines/demo")] = ApiError(422, "INVALID_PIPELINE", "The pipeline has 1 problem(s).")
    result = run(pipelines_app, "apply", "-f", str(pipeline_file))
    assert result.exit_code == 1 and "INVALID_PIPELINE" in result.stderr


def test_list_prints_pipelines_with_their_webhook(api: FakeApi) -> None:
    webhook = {"enabled": True, "runAs": "alice", "problem": "RUN_AS_LOST_PERMISSION"}
    api.answers[("GET", "/api/pipelines")] = {"pipelines": [{"id": "demo", "name": "Demo", "webhook": webhook}]}
    result = run(pipelines_app, "list")
    assert result.exit_code == 0
    assert "demo" in result.stdout and "runs as alice" in result.stdout and "RUN_AS_LOST_PERMISSION" in result.stdout


def test_list_json_prints_the_api_answer(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines")] = {"pipelines": []}
    assert json.loads(run(pipelines_app, "list", "--json").stdout) == {"pipelines": []}


def test_show_prints_stages_variables_members_and_changes(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo")] = {
        "pipeline": PIPELINE,
        "createdAt": "2026-11-27T12:00:00.000Z",
        "updatedAt": "2026-11-27T12:00:00.000Z",
        "webhook": STATE,
        "members": [{"userId": "owen", "role": "owner"}],
        "audit": AUDIT,
    }
    result = run(pipelines_app, "show", "demo")
    assert result.exit_code == 0
    for shown in ("Demo pipeline", "build", "print", "echo hi", "abc", "123", "owen", "owner", "webhook.enable"):
        assert shown in result.stdout


def test_delete_asks_first_and_does_nothing_when_declined(api: FakeApi) -> None:
    result = run(pipelines_app, "delete", "demo", stdin="n\n")
    assert result.exit_code == 1 and api.sent == []


@pytest.mark.parametrize(
    ("group", "args", "path", "said"),
    [
        (pipelines_app, ["delete", "demo", "--yes"], "/api/pipelines/demo", "Deleted pipeline demo"),
        (members_app, ["remove", "demo", "bob"], "/api/pipelines/demo/members/bob", "bob has no role on demo"),
        (
            webhook_app,
            ["secret", "demo", "--remove"],
            "/api/pipelines/demo/webhook/secret",
            "Removed the signing secret",
        ),
    ],
    ids=["pipelines delete --yes does not ask", "members remove", "webhook secret --remove"],
)
def test_a_removal_sends_one_delete_and_says_what_is_gone(
    api: FakeApi, group: typer.Typer, args: list[str], path: str, said: str
) -> None:
    api.answers[("DELETE", path)] = (204, {})
    result = run(group, *args)
    assert result.exit_code == 0 and said in result.stdout
    assert [(s.method, s.path) for s in api.sent] == [("DELETE", path)]


def test_pipeline_id_is_one_quoted_path_segment(api: FakeApi) -> None:
    api.answers[("DELETE", "/api/pipelines/..%2Fusers")] = (204, {})
    assert run(pipelines_app, "delete", "../users", "--yes").exit_code == 0


# users


def test_users_add_puts_the_principals(api: FakeApi) -> None:
    arn = "arn:aws:iam::123456789012:user/dave"
    api.answers[("PUT", "/api/users/dave")] = (201, {"id": "dave", "status": "active", "principals": [arn]})
    result = run(users_app, "add", "dave", "--principal", arn, "--as", "admin")
    assert result.exit_code == 0 and "Added user dave" in result.stdout and arn in result.stdout
    assert api.sent[0].body == {"principals": [arn]}


def test_users_add_without_principals_leaves_them_alone(api: FakeApi) -> None:
    api.answers[("PUT", "/api/users/dave")] = (200, {"id": "dave", "status": "active", "principals": []})
    result = run(users_app, "add", "dave")
    assert "Updated user dave" in result.stdout and api.sent[0].body == {}


def test_suspend_sets_the_status_of_an_existing_user(api: FakeApi) -> None:
    api.answers[("GET", "/api/users/bob")] = {"id": "bob", "status": "active", "principals": [], "audit": []}
    api.answers[("PUT", "/api/users/bob")] = {"id": "bob", "status": "suspended", "principals": []}
    result = run(users_app, "suspend", "bob")
    assert result.exit_code == 0 and "suspended" in result.stdout
    assert api.sent[-1].body == {"status": "suspended"}


def test_suspending_an_unknown_user_adds_no_one(api: FakeApi) -> None:
    api.answers[("GET", "/api/users/bobb")] = ApiError(404, "USER_NOT_FOUND", "No user 'bobb'.")
    result = run(users_app, "suspend", "bobb")
    assert result.exit_code == 1 and [s.method for s in api.sent] == ["GET"]


def test_activate_sets_the_status_active(api: FakeApi) -> None:
    api.answers[("GET", "/api/users/bob")] = {"id": "bob", "status": "suspended", "principals": [], "audit": []}
    api.answers[("PUT", "/api/users/bob")] = {"id": "bob", "status": "active", "principals": []}
    assert run(users_app, "activate", "bob").exit_code == 0
    assert api.sent[-1].body == {"status": "active"}


def test_users_show_prints_status_principals_and_changes(api: FakeApi) -> None:
    audit = [{"at": "2026-11-27T12:00:00.000Z", "actor": "admin", "action": "user.create", "target": "user/bob"}]
    api.answers[("GET", "/api/users/bob")] = {"id": "bob", "status": "active", "principals": [], "audit": audit}
    result = run(users_app, "show", "bob")
    assert "bob" in result.stdout and "active" in result.stdout and "user.create" in result.stdout


def test_forbidden_prints_the_apis_message_and_exits_1(api: FakeApi) -> None:
    api.answers[("PUT", "/api/users/dave")] = ApiError(403, "FORBIDDEN", "Only hookrun admins manage users.")
    result = run(users_app, "add", "dave", "--as", "alice")
    assert (result.exit_code, result.stdout) == (1, "")
    assert "FORBIDDEN: Only hookrun admins manage users." in result.stderr


# members


def test_members_add_puts_the_role(api: FakeApi) -> None:
    answer = {"pipelineId": "demo", "userId": "bob", "role": "runner"}
    api.answers[("PUT", "/api/pipelines/demo/members/bob")] = answer
    result = run(members_app, "add", "demo", "bob", "--role", "runner")
    assert result.exit_code == 0 and "bob is now runner of demo" in result.stdout
    assert api.sent[0].body == {"role": "runner"}


def test_members_add_refuses_an_unknown_role_before_calling(api: FakeApi) -> None:
    result = run(members_app, "add", "demo", "bob", "--role", "god")
    assert result.exit_code == 2 and api.sent == []


def test_last_owner_conflict_exits_1(api: FakeApi) -> None:
    api.answers[("DELETE", "/api/pipelines/demo/members/owen")] = ApiError(409, "LAST_OWNER", "Make another owner.")
    assert run(members_app, "remove", "demo", "owen").exit_code == 1


def test_members_list_prints_users_and_roles(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo/members")] = {"members": [{"userId": "bob", "role": "viewer"}]}
    result = run(members_app, "list", "demo")
    assert "bob" in result.stdout and "viewer" in result.stdout


# webhook


def test_first_enable_prints_the_url_and_says_it_is_shown_once(api: FakeApi) -> None:
    api.answers[("POST", "/api/pipelines/demo/webhook/enable")] = (201, {**STATE, "url": URL})
    result = run(webhook_app, "enable", "demo", "--as", "alice")
    assert result.exit_code == 0
    assert URL in result.stdout and "only this once" in result.stdout and "runs as alice" in result.stdout


def test_a_later_enable_prints_no_url(api: FakeApi) -> None:
    api.answers[("POST", "/api/pipelines/demo/webhook/enable")] = STATE
    result = run(webhook_app, "enable", "demo")
    assert "enabled, runs as alice" in result.stdout and "http" not in result.stdout


def test_disable_posts_and_prints_the_state(api: FakeApi) -> None:
    api.answers[("POST", "/api/pipelines/demo/webhook/disable")] = {**STATE, "enabled": False}
    result = run(webhook_app, "disable", "demo")
    assert result.exit_code == 0 and "disabled" in result.stdout


def test_rotate_prints_the_new_url(api: FakeApi) -> None:
    api.answers[("POST", "/api/pipelines/demo/webhook/rotate")] = {**STATE, "url": URL}
    result = run(webhook_app, "rotate", "demo")
    assert URL in result.stdout and "only this once" in result.stdout


def test_status_explains_a_run_as_user_who_lost_permission(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo/webhook")] = {**STATE, "problem": "RUN_AS_LOST_PERMISSION", "audit": AUDIT}
    result = run(webhook_app, "status", "demo")
    assert "RUN_AS_LOST_PERMISSION" in result.stdout and "disable the webhook" in result.stdout


def test_enable_json_prints_the_api_answer(api: FakeApi) -> None:
    api.answers[("POST", "/api/pipelines/demo/webhook/enable")] = (201, {**STATE, "url": URL})
    assert json.loads(run(webhook_app, "enable", "demo", "--json").stdout) == {**STATE, "url": URL}


# the webhook's signing secret

SECRET_PATH = "/api/pipelines/demo/webhook/secret"


def test_secret_is_asked_for_twice_without_echo_and_put(api: FakeApi) -> None:
    api.answers[("PUT", SECRET_PATH)] = {**STATE, "signed": True}
    result = run(webhook_app, "secret", "demo", "--as", "owen", stdin=f"{SECRET}\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert api.sent[0].body == {"secret": SECRET} and api.sent[0].user == "owen"
    assert "must now be signed" in result.stdout


def test_secret_is_never_printed(api: FakeApi) -> None:
    api.answers[("PUT", SECRET_PATH)] = {**STATE, "signed": True}
    result = run(webhook_app, "secret", "demo", stdin=f"{SECRET}\n{SECRET}\n")
    assert SECRET not in result.output


def test_a_confirmation_that_differs_asks_again(api: FakeApi) -> None:
    api.answers[("PUT", SECRET_PATH)] = {**STATE, "signed": True}
    result = run(webhook_app, "secret", "demo", stdin=f"{SECRET}\nanother-typed-value\n{SECRET}\n{SECRET}\n")
    assert result.exit_code == 0
    assert [s.body for s in api.sent] == [{"secret": SECRET}]


def test_secret_from_an_environment_variable(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    api.answers[("PUT", SECRET_PATH)] = {**STATE, "signed": True}
    result = run(webhook_app, "secret", "demo", "--from-env", "GITHUB_WEBHOOK_SECRET")
    assert result.exit_code == 0 and api.sent[0].body == {"secret": SECRET}
    assert SECRET not in result.output


def test_an_unset_environment_variable_exits_2_before_calling(api: FakeApi) -> None:
    result = run(webhook_app, "secret", "demo", "--from-env", "HOOKRUN_TEST_UNSET_VARIABLE")
    assert result.exit_code == 2 and "HOOKRUN_TEST_UNSET_VARIABLE" in result.stderr and api.sent == []


def test_secret_from_stdin_drops_the_trailing_newline(api: FakeApi) -> None:
    api.answers[("PUT", SECRET_PATH)] = {**STATE, "signed": True}
    result = run(webhook_app, "secret", "demo", "--stdin", stdin=f"{SECRET}\n")
    assert result.exit_code == 0 and api.sent[0].body == {"secret": SECRET}


@pytest.mark.parametrize(
    "options", [["--remove", "--stdin"], ["--remove", "--from-env", "X"], ["--stdin", "--from-env", "X"]]
)
def test_more_than_one_secret_source_exits_2_before_calling(api: FakeApi, options: list[str]) -> None:
    result = run(webhook_app, "secret", "demo", *options, stdin=f"{SECRET}\n")
    assert result.exit_code == 2 and api.sent == []


def test_a_refused_secret_prints_the_apis_error_and_exits_1(api: FakeApi) -> None:
    api.answers[("PUT", SECRET_PATH)] = ApiError(422, "INVALID_REQUEST", "The signing secret must be 16 to 256 long.")
    result = run(webhook_app, "secret", "demo", "--stdin", stdin="short\n")
    assert result.exit_code == 1 and "INVALID_REQUEST" in result.stderr


def test_secret_json_prints_the_apis_answer(api: FakeApi) -> None:
    api.answers[("PUT", SECRET_PATH)] = {**STATE, "signed": True}
    result = run(webhook_app, "secret", "demo", "--stdin", "--json", stdin=SECRET)
    assert json.loads(result.stdout) == {**STATE, "signed": True}


def test_status_shows_the_pipelines_concurrency(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo/webhook")] = {**STATE, "audit": AUDIT}
    concurrency = {"mode": "supersede", "group": "${HOOKRUN_BRANCH}"}
    api.answers[("GET", "/api/pipelines/demo")] = {
        "pipeline": {**PIPELINE, "concurrency": concurrency, "maxRunningRuns": 3}
    }

    shown = run(webhook_app, "status", "demo").stdout
    assert "Overlapping runs: supersede, group ${HOOKRUN_BRANCH}" in shown
    assert "Runs at once: at most 3 not ended" in shown


def test_status_says_when_source_events_must_be_signed(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo/webhook")] = {**STATE, "signed": True, "audit": AUDIT}
    assert "must be signed" in run(webhook_app, "status", "demo").stdout


def test_status_warns_when_source_events_are_taken_unsigned(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines/demo/webhook")] = {**STATE, "signed": False, "audit": AUDIT}
    assert "hookrun webhook secret" in run(webhook_app, "status", "demo").stdout


# deliveries

DELIVERIES_PATH = "/api/pipelines/demo/deliveries"


def test_deliveries_prints_every_field_of_each_delivery(api: FakeApi) -> None:
    api.answers[("GET", DELIVERIES_PATH)] = {"deliveries": DELIVERIES, "nextCursor": None}
    result = run(app, "deliveries", "demo", "--as", "bob")
    assert result.exit_code == 0, result.output
    for shown in ("2026-11-27 12:00:02", "github", "push", "6dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11", "REJECTED"):
        assert shown in result.stdout
    assert "INVALID_SIGNATURE" in result.stdout and "RUN_STARTED" in result.stdout and RUN_ID in result.stdout


def test_deliveries_table_keeps_whole_ids_on_narrow_output(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    api.answers[("GET", DELIVERIES_PATH)] = {"deliveries": DELIVERIES, "nextCursor": None}
    stdout = run(app, "deliveries", "demo").stdout
    assert RUN_ID in stdout and "6dcb09b5-b57a-4f5d-9a53-0c6a8b1f0e11" in stdout and "INVALID_SIGNATURE" in stdout


def test_deliveries_sends_the_limit_and_cursor(api: FakeApi) -> None:
    api.answers[("GET", DELIVERIES_PATH)] = {"deliveries": DELIVERIES, "nextCursor": None}
    run(app, "deliveries", "demo", "--limit", "5", "--cursor", "abc")
    assert api.sent[0].params == {"limit": 5, "cursor": "abc"}


def test_deliveries_says_how_to_get_the_next_page(api: FakeApi) -> None:
    api.answers[("GET", DELIVERIES_PATH)] = {"deliveries": DELIVERIES, "nextCursor": "next-page"}
    assert "hookrun deliveries demo --cursor next-page" in run(app, "deliveries", "demo").stdout


def test_no_deliveries_says_so(api: FakeApi) -> None:
    api.answers[("GET", DELIVERIES_PATH)] = {"deliveries": [], "nextCursor": None}
    result = run(app, "deliveries", "demo")
    assert result.exit_code == 0 and "No deliveries" in result.stdout


def test_deliveries_json_prints_the_apis_answer(api: FakeApi) -> None:
    page = {"deliveries": DELIVERIES, "nextCursor": None}
    api.answers[("GET", DELIVERIES_PATH)] = page
    assert json.loads(run(app, "deliveries", "demo", "--json").stdout) == page


def test_deliveries_refuses_a_limit_over_100_before_calling(api: FakeApi) -> None:
    assert run(app, "deliveries", "demo", "--limit", "101").exit_code == 2 and api.sent == []


def test_deliveries_of_a_pipeline_you_may_not_see_exits_1(api: FakeApi) -> None:
    api.answers[("GET", DELIVERIES_PATH)] = ApiError(404, "PIPELINE_NOT_FOUND", "No pipeline 'demo'.")
    result = run(app, "deliveries", "demo", "--as", "carol")
    assert result.exit_code == 1 and "PIPELINE_NOT_FOUND" in result.stderr


# where the API is


def test_no_api_at_the_endpoint_exits_2(api: FakeApi) -> None:
    api.answers[("GET", "/api/pipelines")] = ApiUnreachable("http://127.0.0.1:9", "the connection failed")
    result = run(pipelines_app, "list", "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "make run" in result.stderr


def test_endpoint_comes_from_hookrun_endpoint(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKRUN_ENDPOINT", "http://127.0.0.1:4000")
    api.answers[("GET", "/api/pipelines")] = {"pipelines": []}
    run(pipelines_app, "list")
    assert api.sent[0].endpoint == "http://127.0.0.1:4000"


def test_stack_option_takes_the_endpoint_from_the_stacks_api_url(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
    monkeypatch.setattr(cli_common, "stack_endpoint", lambda stack: {"hookrun-prod": deployed}[stack])
    api.answers[("GET", "/api/pipelines")] = {"pipelines": []}
    run(pipelines_app, "list", "--stack", "hookrun-prod")
    assert api.sent[0].endpoint == deployed


class FakeCloudFormation:
    def __init__(self, outputs: list[dict[str, str]]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "Outputs": self.outputs}]}


def test_stack_endpoint_is_the_api_url_output_without_its_api_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    api_url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/api"
    fake = FakeCloudFormation([{"OutputKey": "ApiUrl", "OutputValue": api_url}])
    monkeypatch.setattr("boto3.client", lambda service, **_: fake)
    assert cli_common.stack_endpoint("hookrun-prod") == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"


def test_stack_without_an_api_url_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("boto3.client", lambda service, **_: FakeCloudFormation([]))
    with pytest.raises(typer.Exit) as exited:
        cli_common.stack_endpoint("not-hookrun")
    assert exited.value.exit_code == 2


# the webhook's test route

TEST_PATH = "/api/pipelines/demo/webhook/test"
DRY_RUN = {
    "triggered": False,
    "dryRun": True,
    "pipelineId": "demo",
    "decision": "WOULD_RUN",
    "message": "This delivery would start a run of pipeline 'demo'. Dry run: nothing was started.",
    "deliveryId": None,
    "variables": {"abc": "456", "API_KEY": "***"},
    "sourceVariables": {},
    "filters": {},
}


def test_webhook_test_sends_the_data_as_a_variable_webhook_and_prints_the_decision(api: FakeApi) -> None:
    api.answers[("POST", TEST_PATH)] = DRY_RUN
    result = run(webhook_app, "test", "demo", "--data", '{"abc":"456"}', "--as", "alice")
    assert result.exit_code == 0, result.output
    assert api.sent[0].body == {"provider": "webhook", "headers": {}, "body": '{"abc":"456"}'}
    assert "WOULD_RUN" in result.stdout and "456" in result.stdout and "***" in result.stdout


def test_webhook_test_sends_an_event_file_with_its_provider_and_headers(api: FakeApi, tmp_path: Path) -> None:
    api.answers[("POST", TEST_PATH)] = DRY_RUN | {"decision": "BRANCH_FILTERED", "filters": {"events": "push"}}
    (tmp_path / "push.json").write_text('{"ref": "refs/heads/x"}')
    result = run(
        webhook_app, "test", "demo", "--event", str(tmp_path / "push.json"), "--provider", "gitlab",
        "--header", "X-Gitlab-Event: System Hook",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert api.sent[0].body == {
        "provider": "gitlab",
        "headers": {"X-Gitlab-Event": "System Hook"},
        "body": '{"ref": "refs/heads/x"}',
    }
    assert "BRANCH_FILTERED" in result.stdout and "events push" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--data", "{}", "--event", "x.json", "--provider", "github"], ["--event", "x.json"], ["--provider", "gitee"]],
)
def test_webhook_test_refuses_mixed_or_half_options_with_exit_2(api: FakeApi, args: list[str]) -> None:
    result = run(webhook_app, "test", "demo", *args)
    assert result.exit_code == 2 and api.sent == []


def test_webhook_test_json_prints_the_answer(api: FakeApi) -> None:
    api.answers[("POST", TEST_PATH)] = DRY_RUN
    result = run(webhook_app, "test", "demo", "--json")
    assert json.loads(result.stdout) == DRY_RUN and api.sent[0].body["body"] == "{}"
