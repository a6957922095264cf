"""`hookrun pipelines|users|members|webhook ...` and `hookrun deliveries`: manage hookrun through its API."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
import yaml
from rich.table import Table
from rich.text import Text

from domain.models import Role
from hookrun.cli_common import (
    EXIT_USAGE_OR_CONNECTION,
    Session,
    api_command,
    ask,
    console,
    fail_plainly,
    print_table,
    when,
)

AUDIT_ROWS = 10

pipelines_app = typer.Typer(no_args_is_help=True, help="Apply, list, show and delete pipelines.")
users_app = typer.Typer(no_args_is_help=True, help="Add users, suspend and reactivate them (admins only).")
members_app = typer.Typer(no_args_is_help=True, help="Give users a role on a pipeline: owner, runner or viewer.")
webhook_app = typer.Typer(
    no_args_is_help=True,
    help="Enable, disable, rotate, sign or try a pipeline's webhook (a dry run of a sample); show its state.",
)
OUTCOME_STYLES = {
    "RUN_STARTED": "green",
    "REPLAYED": "cyan",
    "FILTERED": "yellow",
    "IGNORED_EVENT": "dim",
    "REJECTED": "bold red",
    "DRY_RUN": "magenta",
}


class SampleProvider(StrEnum):
    GITHUB = "github"
    GITEA = "gitea"
    FORGEJO = "forgejo"
    GITLAB = "gitlab"
    CODEUP = "codeup"
    GITEE = "gitee"


PipelineArgument = Annotated[str, typer.Argument(help="The pipeline id, e.g. demo.")]
UserArgument = Annotated[str, typer.Argument(help="The hookrun user id, e.g. alice.")]


def _pipeline_path(pipeline_id: str, *rest: str) -> str:
    return "/".join(["/api/pipelines", quote(pipeline_id, safe=""), *rest])


def _user_path(user_id: str) -> str:
    return f"/api/users/{quote(user_id, safe='')}"


def _member_path(pipeline_id: str, user_id: str) -> str:
    return _pipeline_path(pipeline_id, "members", quote(user_id, safe=""))


def _say(*parts: str | Text) -> None:
    """Print a line whose ids and names are text, never rich markup."""
    console.print(Text.assemble(*parts))


def _audit_table(entries: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Newest changes (of {len(entries)})", title_justify="left", show_edge=False)
    for column in ("When", "Who", "What", "Details"):
        table.add_column(column)
    for entry in entries[:AUDIT_ROWS]:
        details = ", ".join(f"{name}={value}" for name, value in sorted((entry.get("details") or {}).items()))
        table.add_row(when(entry.get("at")), Text(entry.get("actor", "")), Text(entry.get("action", "")), Text(details))
    return table


def _webhook_summary(state: dict[str, Any]) -> Text:
    if not state.get("runAs"):
        return Text("never enabled", style="dim")
    text = Text("enabled" if state.get("enabled") else "disabled", style="green" if state.get("enabled") else "yellow")
    text.append(f", runs as {state['runAs']}")
    if state.get("problem"):
        text.append(f" ({state['problem']})", style="bold red")
    return text


def _lost_permission_advice(state: dict[str, Any]) -> None:
    if state.get("problem") == "RUN_AS_LOST_PERMISSION":
        _say(
            Text(f"{state['runAs']} can no longer run this pipeline, so its webhook answers 403. ", style="red"),
            "Fix: disable the webhook, then have a user who can run the pipeline enable it; the URL stays the same.",
        )


# pipelines


def _load_pipeline_file(file: Path) -> dict[str, Any]:
    """The pipeline file as a JSON object; exit 2 if it cannot be read as YAML or JSON or names no pipeline."""
    try:
        text = file.read_text(encoding="utf-8")
        document = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        fail_plainly(f"cannot read {file} as a pipeline file: {exc}", code=EXIT_USAGE_OR_CONNECTION)
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        fail_plainly(f"{file} is no pipeline file: it needs a top-level `id`.", code=EXIT_USAGE_OR_CONNECTION)
    return document


@api_command(pipelines_app)
def apply(
    session: Session,
    file: Annotated[
        Path, typer.Option("--file", "-f", exists=True, dir_okay=False, help="The pipeline file, YAML or JSON.")
    ],
) -> None:
    """Create or update the pipeline a file describes; whoever creates a pipeline owns it."""
    document = _load_pipeline_file(file)
    status, answer = ask(lambda: session.api.send("PUT", _pipeline_path(document["id"]), body=document))
    if session.printed(answer):
        return
    _say("Created" if status == 201 else "Updated", " pipeline ", Text(answer["pipeline"]["id"], style="bold"), ".")


@api_command(pipelines_app, "list")
def list_pipelines(
    session: Session,
) -> None:
    """List the pipelines you may see (admins: all), with their webhook's state."""
    answer = ask(lambda: session.api.get("/api/pipelines"))
    if session.printed(answer):
        return
    if not answer["pipelines"]:
        console.print("No pipelines you hold a role on. Apply one with `hookrun pipelines apply -f FILE`.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("Pipeline", "Name", "Webhook"):
        table.add_column(column)
    for pipeline in answer["pipelines"]:
        table.add_row(Text(pipeline["id"], style="bold"), Text(pipeline["name"]), _webhook_summary(pipeline["webhook"]))
    console.print(table)


@api_command(pipelines_app)
def show(
    session: Session,
    pipeline_id: PipelineArgument,
) -> None:
    """Show a pipeline: its stages and jobs, variables, webhook, members and newest changes."""
    answer = ask(lambda: session.api.get(_pipeline_path(pipeline_id)))
    if session.printed(answer):
        return
    pipeline = answer["pipeline"]
    _say(Text(f"Pipeline {pipeline['id']}", style="bold"), f"  {pipeline['name']}")
    _say(f"Created {when(answer['createdAt'])}, updated {when(answer['updatedAt'])}")
    _say("Webhook: ", _webhook_summary(answer["webhook"]))
    _lost_permission_advice(answer["webhook"])
    stages = Table(title="Stages and jobs", title_justify="left", show_edge=False)
    for column in ("Stage", "Job", "Runner", "Timeout", "Script"):
        stages.add_column(column)
    for stage in pipeline["stages"]:
        for job in stage["jobs"]:
            script = Text("\n".join(job["script"]))
            stages.add_row(Text(stage["name"]), Text(job["name"]), job["runner"], f"{job['timeoutSeconds']} s", script)
    console.print(stages)
    if pipeline["variables"]:
        variables = Table(title="Variables", title_justify="left", show_edge=False)
        for column in ("Name", "Type", "Default", "Secret"):
            variables.add_column(column)
        for name, declaration in sorted(pipeline["variables"].items()):
            default = declaration.get("default")
            shown = "" if default is None else default if isinstance(default, str) else json.dumps(default)
            secret = "yes" if declaration.get("secret") else ""
            variables.add_row(Text(name), declaration.get("type", "string"), Text(shown), secret)
        console.print(variables)
    console.print(_members_table(answer["members"]))
    console.print(_audit_table(answer["audit"]))


@api_command(pipelines_app)
def delete(
    session: Session,
    pipeline_id: PipelineArgument,
    *,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a pipeline, its members and its runs and deliveries; its webhook URL dies at once (owners, admins)."""
    if not yes:
        typer.confirm(f"Delete pipeline {pipeline_id}? Its webhook URL stops working at once.", abort=True)
    answer = ask(lambda: session.api.delete(_pipeline_path(pipeline_id)))
    if session.printed(answer):
        return
    _say("Deleted pipeline ", Text(pipeline_id, style="bold"), "; its webhook URL no longer works.")


# users


def _print_user(answer: dict[str, Any]) -> None:
    status = answer["status"]
    _say(Text(f"User {answer['id']}", style="bold"), "  ", Text(status, style="green" if status == "active" else "red"))
    principals = answer.get("principals") or []
    _say("Principals: ", Text(", ".join(principals) if principals else "none (acts only on the local stack)"))


def _set_status(session: Session, user_id: str, status: str) -> None:
    """Give an existing user `status`: the user is looked up first, so a typo adds no one."""
    ask(lambda: session.api.get(_user_path(user_id)))
    answer = ask(lambda: session.api.put(_user_path(user_id), {"status": status}))
    if session.printed(answer):
        return
    _print_user(answer)


@api_command(users_app)
def add(
    session: Session,
    user_id: UserArgument,
    *,
    principal: Annotated[
        list[str] | None,
        typer.Option(
            "--principal", help="An IAM principal ARN that acts as this user on AWS; repeat for more. Replaces them."
        ),
    ] = None,
) -> None:
    """Add a user (active), or set an existing user's principals (admins only)."""
    change = {} if principal is None else {"principals": principal}
    status, answer = ask(lambda: session.api.send("PUT", _user_path(user_id), body=change))
    if session.printed(answer):
        return
    _say("Added" if status == 201 else "Updated", " user ", Text(user_id, style="bold"), ".")
    _print_user(answer)


@api_command(users_app)
def suspend(
    session: Session,
    user_id: UserArgument,
) -> None:
    """Suspend a user: they can do nothing, and webhooks that run as them answer 403 (admins only)."""
    _set_status(session, user_id, "suspended")


@api_command(users_app)
def activate(
    session: Session,
    user_id: UserArgument,
) -> None:
    """Reactivate a suspended user (admins only)."""
    _set_status(session, user_id, "active")


@api_command(users_app, "show")
def show_user(
    session: Session,
    user_id: UserArgument,
) -> None:
    """Show a user: status, principals and newest changes (admins, or the user themself)."""
    answer = ask(lambda: session.api.get(_user_path(user_id)))
    if session.printed(answer):
        return
    _print_user(answer)
    console.print(_audit_table(answer["audit"]))


# members


def _members_table(members: list[dict[str, Any]]) -> Table:
    table = Table(title="Members", title_justify="left", show_edge=False)
    table.add_column("User")
    table.add_column("Role")
    for member in members:
        table.add_row(Text(member["userId"]), member["role"])
    return table


@api_command(members_app, "add")
def add_member(
    session: Session,
    pipeline_id: PipelineArgument,
    user_id: UserArgument,
    *,
    role: Annotated[Role, typer.Option("--role", help="owner: manage it; runner: run it; viewer: see it.")],
) -> None:
    """Give a user a role on a pipeline, or change it (owners and admins)."""
    answer = ask(lambda: session.api.put(_member_path(pipeline_id, user_id), {"role": role.value}))
    if session.printed(answer):
        return
    _say(Text(user_id, style="bold"), f" is now {answer['role']} of ", Text(pipeline_id, style="bold"), ".")


@api_command(members_app, "remove")
def remove_member(
    session: Session,
    pipeline_id: PipelineArgument,
    user_id: UserArgument,
) -> None:
    """Take a user's role on a pipeline away; the last owner stays (owners and admins)."""
    answer = ask(lambda: session.api.delete(_member_path(pipeline_id, user_id)))
    if session.printed(answer):
        return
    _say(Text(user_id, style="bold"), " has no role on ", Text(pipeline_id, style="bold"), " now.")


@api_command(members_app, "list")
def list_members(
    session: Session,
    pipeline_id: PipelineArgument,
) -> None:
    """List a pipeline's members and their roles."""
    answer = ask(lambda: session.api.get(_pipeline_path(pipeline_id, "members")))
    if session.printed(answer):
        return
    console.print(_members_table(answer["members"]))


# webhook


def _print_webhook(pipeline_id: str, state: dict[str, Any]) -> None:
    _say("Webhook of ", Text(pipeline_id, style="bold"), ": ", _webhook_summary(state))
    if state.get("enabledAt"):
        _say(f"Last enabled {when(state['enabledAt'])}; the URL ends in ...{state.get('tokenHint') or ''}")
    if state.get("url"):
        _say("Its URL, shown only this once (keep it; `hookrun webhook rotate` makes a new one):")
        _say("  ", Text(state["url"], style="cyan"))
    if state.get("signed"):
        _say("Source events must be signed with its signing secret.")
    elif "signed" in state and state.get("runAs"):
        _say(
            Text("Source events are taken unsigned: ", style="yellow"),
            "anyone with the URL can send them. Set a signing secret with `hookrun webhook secret`.",
        )
    _lost_permission_advice(state)


def _webhook_action(session: Session, action: str, pipeline_id: str) -> None:
    answer = ask(lambda: session.api.post(_pipeline_path(pipeline_id, "webhook", action)))
    if session.printed(answer):
        return
    _print_webhook(pipeline_id, answer)


@api_command(webhook_app)
def enable(
    session: Session,
    pipeline_id: PipelineArgument,
) -> None:
    """Enable the webhook; it then runs as you. The first enable prints the URL, once; later ones keep it."""
    _webhook_action(session, "enable", pipeline_id)


@api_command(webhook_app)
def disable(
    session: Session,
    pipeline_id: PipelineArgument,
) -> None:
    """Disable the webhook; its URL is kept for the next enable (runners, owners, admins)."""
    _webhook_action(session, "disable", pipeline_id)


@api_command(webhook_app)
def rotate(
    session: Session,
    pipeline_id: PipelineArgument,
) -> None:
    """Replace the webhook's URL: the old one stops working at once; the new one is printed once (owners, admins)."""
    _webhook_action(session, "rotate", pipeline_id)


@api_command(webhook_app)
def status(
    session: Session,
    pipeline_id: PipelineArgument,
) -> None:
    """Show the webhook's state: enabled or not, whom it runs as, whether that user lost permission, and what
    happens when its runs overlap (the pipeline's concurrency) and how many may run at once (maxRunningRuns)."""
    answer = ask(lambda: session.api.get(_pipeline_path(pipeline_id, "webhook")))
    if session.printed(answer):
        return
    _print_webhook(pipeline_id, answer)
    pipeline = ask(lambda: session.api.get(_pipeline_path(pipeline_id))).get("pipeline") or {}
    _say("Overlapping runs: ", concurrency_text(pipeline.get("concurrency") or {}))
    _say("Runs at once: ", f"at most {pipeline.get('maxRunningRuns', 10)} not ended; more are refused (429)")
    console.print(_audit_table(answer["audit"]))


def concurrency_text(concurrency: dict[str, Any]) -> str:
    """`parallel`, `queue (one group per pipeline)`, `supersede, group ${HOOKRUN_BRANCH}`."""
    mode = str(concurrency.get("mode") or "parallel")
    if mode == "parallel":
        return "parallel (every run starts at once)"
    group = concurrency.get("group")
    return f"{mode}, group {group}" if group else f"{mode} (one group per pipeline)"


def _secret_from(from_env: str | None, from_stdin: bool) -> str:
    """The secret from the environment variable, standard input, or a hidden prompt asked twice; never echoed."""
    if from_env is not None:
        value = os.environ.get(from_env)
        if not value:
            fail_plainly(f"the environment variable {from_env} is not set or empty.", code=EXIT_USAGE_OR_CONNECTION)
        return value
    if from_stdin:
        return sys.stdin.read().rstrip("\r\n")
    secret: str = typer.prompt("Signing secret", hide_input=True, confirmation_prompt=True, err=True)
    return secret


@api_command(webhook_app)
def secret(
    session: Session,
    pipeline_id: PipelineArgument,
    *,
    from_env: Annotated[
        str | None, typer.Option("--from-env", metavar="VAR", help="Read the secret from this environment variable.")
    ] = None,
    from_stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the secret from standard input; a trailing newline is dropped.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the signing secret: source events are then taken unsigned.")
    ] = False,
) -> None:
    """Set the webhook's signing secret: source events must then be signed with it (owners, admins).

    The secret (16 to 256 characters) is asked for twice without echo, or read with --from-env VAR or --stdin.
    It is never printed. Set the same secret in the Git provider's webhook settings.
    """
    sources = [name for name, given in (("--from-env", from_env is not None), ("--stdin", from_stdin)) if given]
    if len(sources) > 1 or (remove and sources):
        used = ", ".join(["--remove"] * remove + sources)
        fail_plainly(f"{used}: use at most one of --from-env, --stdin and --remove.", code=EXIT_USAGE_OR_CONNECTION)
    path = _pipeline_path(pipeline_id, "webhook", "secret")
    if remove:
        answer = ask(lambda: session.api.delete(path))
        if session.printed(answer):
            return
        _say("Removed the signing secret of ", Text(pipeline_id, style="bold"), ": source events are taken unsigned.")
        return
    value = _secret_from(from_env, from_stdin)
    answer = ask(lambda: session.api.put(path, {"secret": value}))
    if session.printed(answer):
        return
    _say("Set the signing secret of ", Text(pipeline_id, style="bold"), ": source events must now be signed with it.")
    _say("Set the same secret in the Git provider's webhook settings (GitHub: Secret; GitLab, Codeup: Secret token).")


def _sample(
    data: str | None, event: Path | None, provider: SampleProvider | None, headers: list[str]
) -> dict[str, Any]:
    """The body of POST .../webhook/test from the command's options; usage errors exit 2."""
    if data is not None and event is not None:
        fail_plainly("--data and --event: use one of them.", code=EXIT_USAGE_OR_CONNECTION)
    if (event is None) != (provider is None):
        fail_plainly("--event FILE and --provider NAME go together.", code=EXIT_USAGE_OR_CONNECTION)
    parsed: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            fail_plainly(f"--header {header!r}: write it as 'Name: value'.", code=EXIT_USAGE_OR_CONNECTION)
        parsed[name.strip()] = value.strip()
    if event is not None:
        try:
            body = event.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail_plainly(f"cannot read {event}: {exc}", code=EXIT_USAGE_OR_CONNECTION)
        return {"provider": str(provider), "headers": parsed, "body": body}
    return {"provider": "webhook", "headers": parsed, "body": data if data is not None else "{}"}


def _values_table(title: str, values: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("Name", no_wrap=True)
    table.add_column("Value", overflow="fold")
    for name, value in sorted(values.items()):
        table.add_row(Text(name), Text(value))
    return table


@api_command(webhook_app, "test")
def test_delivery(
    session: Session,
    pipeline_id: PipelineArgument,
    *,
    data: Annotated[
        str | None, typer.Option("--data", metavar="JSON", help="A general or variable webhook's body, e.g. '{}'.")
    ] = None,
    event: Annotated[
        Path | None,
        typer.Option("--event", metavar="FILE", help="A Git provider's event payload (JSON), e.g. a push."),
    ] = None,
    provider: Annotated[
        SampleProvider | None, typer.Option("--provider", help="Who sends --event; its event header is added.")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", metavar="'NAME: VALUE'", help="A header of the sample delivery (repeatable)."),
    ] = None,
) -> None:
    """Try the webhook with a sample delivery: what it would do, as a dry run; nothing starts (owners, runners, admins).

    Without --data or --event the sample is `{}`. It is answered as the webhook's own ?dryRun=true would be.
    """
    body = _sample(data, event, provider, header or [])
    answer = ask(lambda: session.api.post(_pipeline_path(pipeline_id, "webhook", "test"), body))
    if session.printed(answer):
        return
    decision = str(answer.get("decision") or "")
    style = "green" if decision == "WOULD_RUN" else "yellow"
    _say("Dry run of the webhook of ", Text(pipeline_id, style="bold"), ": ", Text(decision, style=style))
    _say(str(answer.get("message") or ""))
    if answer.get("deliveryId"):
        _say("Delivery id: ", Text(str(answer["deliveryId"])))
    filters = answer.get("filters") or {}
    if filters:
        _say("Filters matched: ", ", ".join(f"{name} {value}" for name, value in filters.items()))
    for title, key in (("Variables", "variables"), ("Source variables", "sourceVariables")):
        if answer.get(key):
            console.print(_values_table(title, answer[key]))


# deliveries


def _deliveries_table(deliveries: list[dict[str, Any]]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    # run ids and codes are copied or searched for, so they are never broken; times, events and delivery ids wrap
    table.add_column("Time", min_width=len("2026-11-27"))
    table.add_column("Source", no_wrap=True)
    table.add_column("Event")
    table.add_column("Delivery id", overflow="fold")
    table.add_column("Outcome", no_wrap=True)
    table.add_column("Reason", no_wrap=True)
    table.add_column("Run id", no_wrap=True, min_width=max(len(str(d.get("runId") or "")) for d in deliveries))
    for delivery in deliveries:
        outcome = str(delivery.get("outcome") or "")
        table.add_row(
            when(delivery.get("receivedAt")),
            Text(delivery.get("source") or ""),
            Text(delivery.get("event") or ""),
            Text(delivery.get("deliveryId") or ""),
            Text(outcome, style=OUTCOME_STYLES.get(outcome, "")),
            Text(delivery.get("reason") or ""),
            Text(delivery.get("runId") or ""),
        )
    return table


def deliveries(
    session: Session,
    pipeline_id: PipelineArgument,
    *,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Deliveries per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="The next page: the cursor the previous page printed.")] = None,
) -> None:
    """List the requests to a pipeline's webhook in the last 30 days and what became of each, newest first."""
    page = ask(lambda: session.api.get(_pipeline_path(pipeline_id, "deliveries"), {"limit": limit, "cursor": cursor}))
    if session.printed(page):
        return
    found = page.get("deliveries") or []
    if not found:
        console.print(
            f"No deliveries to the webhook of {pipeline_id} in the last 30 days." if cursor is None else "No more.",
            markup=False,
        )
        return
    print_table(_deliveries_table(found))
    if page.get("nextCursor"):
        console.print(Text(f"More: hookrun deliveries {pipeline_id} --cursor {page['nextCursor']}", style="dim"))
