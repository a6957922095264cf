"""`hookrun runs ...`: follow pipeline runs through the run API: status, job output, live progress, history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hookrun.cli_common import (
    EXIT_USAGE_OR_CONNECTION,
    Session,
    api_command,
    ask,
    console,
    err_console,
    fail_plainly,
    print_json,
    print_table,
    refused,
    unreachable,
    when,
)
from hookrun.client import ApiError, ApiUnreachable, CannotSign, HookrunClient
from hookrun.terminal import terminal_safe

FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"})
STATUS_STYLES = {
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "CANCELLED": "red",
    "RUNNING": "yellow",
    "QUEUED": "cyan",
    "PENDING": "dim",
    "SKIPPED": "dim",
}
EXIT_TIMEOUT_OR_ERROR = EXIT_USAGE_OR_CONNECTION

runs_app = typer.Typer(no_args_is_help=True, help="Follow pipeline runs: status, job output, live progress, history.")

RunIdArgument = Annotated[str, typer.Argument(help="The run id, e.g. run-001...; the webhook's answer names it.")]


def _call(api: HookrunClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's answer; an error or an absent API ends the command with a message on stderr."""
    return ask(lambda: api.get(path, params))


def _run_path(run_id: str) -> str:
    return f"/api/runs/{quote(run_id, safe='')}"


def _run_status(run: dict[str, Any]) -> Text:
    """A run's status, with SUPERSEDED told apart from other cancels."""
    if run.get("status") == "CANCELLED" and run.get("reason") == "SUPERSEDED":
        return Text("CANCELLED · SUPERSEDED", style=STATUS_STYLES["CANCELLED"])
    return _status(run.get("status"))


def _status(status: str | None) -> Text:
    return Text(status or "", style=STATUS_STYLES.get(status or "", ""))


def _duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return ""
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    if milliseconds < 60_000:
        return f"{milliseconds / 1000:.1f} s"
    minutes, seconds = divmod(milliseconds // 1000, 60)
    return f"{minutes} min {seconds:02d} s"


def _took(started_at: str | None, finished_at: str | None) -> str:
    if not started_at or not finished_at:
        return ""
    elapsed = datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)
    return _duration(int(elapsed.total_seconds() * 1000))


def _exit_code(job: dict[str, Any]) -> str:
    return "" if job.get("exitCode") is None else str(job["exitCode"])


def _jobs(run: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (stage, job) of a run, in run order."""
    for stage in run.get("stages") or []:
        for job in stage.get("jobs") or []:
            yield stage, job


def _summary(run: dict[str, Any]) -> Text:
    """Who ran what, when, and how it ended, in a few lines."""
    text = Text.assemble(("Run ", "bold"), (run["runId"], "bold"), "  ", _run_status(run))
    if run.get("pipelineId"):
        text.append(f"\nPipeline: {run.get('pipelineName') or run['pipelineId']} ({run['pipelineId']})")
    trigger = run.get("trigger") or {}
    if trigger:
        text.append(f"\nTriggered by: {trigger.get('kind')}, runs as {trigger.get('runAs')}")
    if run.get("createdAt"):
        took = _took(run.get("startedAt"), run.get("finishedAt"))
        text.append(f"\nCreated {when(run['createdAt'])}" + (f", took {took}" if took else ""))
    if run.get("cancelledBy"):
        text.append(f"\nCancelled by {run['cancelledBy']} {when(run.get('cancelledAt'))}")
    if run.get("reason"):
        text.append(f"\nReason: {run['reason']}", style="red")
    return text


def _variables_table(variables: dict[str, str]) -> Table:
    table = Table(title="Variables", title_justify="left", show_edge=False)
    table.add_column("Name", style="bold")
    table.add_column("Value")
    for name, value in sorted(variables.items()):
        table.add_row(Text(name), Text(value))
    return table


def _stages_table(run: dict[str, Any]) -> Table:
    table = Table(title="Stages and jobs", title_justify="left", show_edge=False)
    for column in ("Stage", "Job", "Status"):
        table.add_column(column)
    table.add_column("Exit", justify="right")
    table.add_column("Duration", justify="right")
    for stage in run.get("stages") or []:
        took = _took(stage.get("startedAt"), stage.get("finishedAt"))
        table.add_row(Text(stage["name"], style="bold"), "", _status(stage.get("status")), "", took)
        for job in stage.get("jobs") or []:
            table.add_row(
                "", Text(job["name"]), _status(job.get("status")), _exit_code(job), _duration(job.get("durationMs"))
            )
    return table


def _progress(run: dict[str, Any]) -> Group:
    if not run.get("stages"):
        return Group(_summary(run), Text("Waiting for the run to start...", style="dim"))
    return Group(_summary(run), _stages_table(run))


@api_command(runs_app)
def show(
    session: Session,
    run_id: RunIdArgument,
) -> None:
    """Show a run: its status, variables (secrets as ***), and each stage and job with exit code and duration."""
    run = _call(session.api, _run_path(run_id))
    if session.printed(run):
        return
    console.print(_summary(run))
    if run.get("variables"):
        console.print(_variables_table(run["variables"]))
    if run.get("stages"):
        console.print(_stages_table(run))
    else:
        console.print("No stages recorded yet: the run is queued.", style="dim")


@api_command(runs_app)
def logs(
    session: Session,
    run_id: RunIdArgument,
    *,
    job: Annotated[
        str | None, typer.Option("--job", help="Only this job: its name, or STAGE/JOB when names repeat.")
    ] = None,
) -> None:
    """Print the output of a run's jobs, in run order, each under a header; with --job, that job's output alone."""
    run = _call(session.api, _run_path(run_id))
    jobs = list(_jobs(run))
    if job is not None:
        wanted = [(s, j) for s, j in jobs if job in {j["name"], f"{s['name']}/{j['name']}"}]
        if not wanted:
            names = ", ".join(f"{s['name']}/{j['name']}" for s, j in jobs) or "none yet"
            fail_plainly(f"run {run_id} has no job {job!r}; its jobs are: {names}.")
        jobs = wanted
    if session.printed(
        [
            {
                "stage": s["name"],
                "job": j["name"],
                "status": j.get("status"),
                "exitCode": j.get("exitCode"),
                "output": j.get("output") or "",
            }
            for s, j in jobs
        ]
    ):
        return
    if not jobs:
        err_console.print(f"Run {run_id} has no jobs yet (it is {run.get('status')}).", markup=False)
        return
    for stage, one in jobs:
        if len(jobs) > 1:
            exit_code = f", exit {_exit_code(one)}" if _exit_code(one) else ""
            console.rule(Text(f"{stage['name']} / {one['name']} ({one.get('status')}{exit_code})"), align="left")
        output = terminal_safe(one.get("output") or "")
        typer.echo(output, nl=not output.endswith("\n"))


def _look(client: HookrunClient, run_id: str) -> dict[str, Any] | None:
    """The run as it is now, or None if the API is throttled: that is no answer about the run, so look again."""
    try:
        return client.get(_run_path(run_id))
    except ApiUnreachable as exc:
        unreachable(exc)
    except CannotSign as exc:
        fail_plainly(str(exc), code=EXIT_TIMEOUT_OR_ERROR)
    except ApiError as exc:
        if exc.code == "UNAVAILABLE":
            return None
        refused(exc)


def _follow(
    client: HookrunClient, run_id: str, deadline: float, interval: float, live: Live | None
) -> dict[str, Any] | None:
    """Look at the run every `interval` s until it ends or `deadline` passes; the last run seen, if any."""
    run: dict[str, Any] | None = None
    while True:
        run = _look(client, run_id) or run
        if run is not None and live is not None:
            live.update(_progress(run), refresh=True)
        if (run is not None and run.get("status") in FINISHED) or time.monotonic() >= deadline:
            return run
        time.sleep(interval)


@api_command(runs_app)
def watch(
    session: Session,
    run_id: RunIdArgument,
    *,
    interval: Annotated[float, typer.Option(min=0, help="Seconds between two looks at the run.")] = 1.0,
    timeout: Annotated[float, typer.Option(min=0, help="Give up (exit 2) after this many seconds.")] = 600,
) -> None:
    """Follow a run's stages and jobs live until it ends.

    Exit 0 if it succeeded, 1 if it failed or was cancelled (or the API refused), 2 if no API answers or the run
    is still going after --timeout.
    """
    _watch(session.api, run_id, interval=interval, timeout=timeout, as_json=session.as_json)


def _watch(api: HookrunClient, run_id: str, *, interval: float, timeout: float, as_json: bool) -> None:
    live = None if as_json else Live(console=console, auto_refresh=False)
    with live or nullcontext():
        run = _follow(api, run_id, time.monotonic() + timeout, interval, live)
    if live is not None and not console.is_terminal:
        console.line()  # rich ends a live display with a newline only on a terminal
    if as_json and run is not None:
        print_json(run)
    if run is None or run.get("status") not in FINISHED:
        status = run.get("status") if run is not None else "unanswered (the API is busy)"
        fail_plainly(f"run {run_id} is still {status} after {timeout:g} s.", code=EXIT_TIMEOUT_OR_ERROR)
    raise typer.Exit(0 if run.get("status") == "SUCCEEDED" else 1)


def _trigger_text(run: dict[str, Any]) -> Text:
    trigger = run.get("trigger") or {}
    return Text(str(trigger.get("kind") or ""))


def _ref(run: dict[str, Any]) -> Text:
    """A push's branch, or a tag push's tag (`tag v1.0`); empty for other runs."""
    trigger = run.get("trigger") or {}
    if trigger.get("tag"):
        return Text(f"tag {trigger['tag']}")
    return Text(str(trigger.get("branch") or ""))


def _matches(run: dict[str, Any], status: str | None, branch: str | None) -> bool:
    trigger = run.get("trigger") or {}
    return (status is None or run.get("status") == status.upper()) and (
        branch is None or trigger.get("branch") == branch
    )


PAGES_READ_WHEN_FILTERING = 10  # at most this many pages of 100 runs are read for one filtered page


def _filtered_page(
    api: HookrunClient, path: str, limit: int, cursor: str | None, *, status: str | None, branch: str | None
) -> dict[str, Any]:
    """A page of runs that pass the filters, newest first: pages of the API are read until `limit` runs pass."""
    found: list[dict[str, Any]] = []
    for _ in range(PAGES_READ_WHEN_FILTERING):
        page = _call(api, path, {"limit": 100, "cursor": cursor})
        found.extend(run for run in page.get("runs") or [] if _matches(run, status, branch))
        cursor = page.get("nextCursor")
        if len(found) >= limit or not cursor:
            break
    return {"runs": found, "nextCursor": cursor}


@api_command(runs_app, "list")
def list_runs(
    session: Session,
    pipeline: Annotated[str, typer.Argument(help="The pipeline id, e.g. demo.")],
    *,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Runs per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="The next page: the cursor the previous page printed.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only runs in this status, e.g. FAILED or SUCCEEDED.")
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only runs of pushes to this branch.")] = None,
) -> None:
    """List a pipeline's runs, newest first, a page at a time: status, trigger, branch, commit, run-as, times.

    With --status or --branch, the runs are read 100 at a time (up to 1,000) until --limit of them pass.
    """
    path = f"/api/pipelines/{quote(pipeline, safe='')}/runs"
    if status is None and branch is None:
        page = _call(session.api, path, {"limit": limit, "cursor": cursor})
    else:
        page = _filtered_page(session.api, path, limit, cursor, status=status, branch=branch)
    if session.printed(page):
        return
    runs = page.get("runs") or []
    filtered = " that pass the filters" if status is not None or branch is not None else ""
    if not runs:
        console.print(
            f"No runs of {pipeline}{filtered} yet." if cursor is None else f"No more runs{filtered}.", markup=False
        )
    else:
        print_table(_runs_table(runs))
    if page.get("nextCursor"):
        more = f"hookrun runs list {pipeline} --cursor {page['nextCursor']}"
        more += f" --status {status}" if status else ""
        more += f" --branch {branch}" if branch else ""
        console.print(Text(f"More: {more}", style="dim"))


def _runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    # run ids are copied from here, so they are never shortened; times and reasons wrap instead
    table.add_column("Run", no_wrap=True, min_width=max(len(str(run.get("runId", ""))) for run in runs))
    table.add_column("Status", no_wrap=True, min_width=len("SUCCEEDED"))
    table.add_column("Trigger", no_wrap=True)
    table.add_column("Branch")
    table.add_column("Commit", no_wrap=True)
    table.add_column("Run as", no_wrap=True)
    table.add_column("Created", min_width=len("2026-11-27"))
    table.add_column("Took", no_wrap=True)
    table.add_column("Reason")
    for run in runs:
        trigger = run.get("trigger") or {}
        table.add_row(
            Text(run["runId"]),
            _run_status(run),
            _trigger_text(run),
            _ref(run),
            Text(str(trigger.get("commitSha") or "")[:7]),
            Text(str(trigger.get("runAs") or "")),
            when(run.get("createdAt")),
            _took(run.get("startedAt"), run.get("finishedAt")),
            Text(run.get("reason") or ""),
        )
    return table


def _variables_of(fields: list[str]) -> dict[str, str]:
    """`-f NAME=VALUE` options as variables; exit 2 for one without `=`."""
    variables: dict[str, str] = {}
    for field in fields:
        name, equals, value = field.partition("=")
        if not equals or not name:
            fail_plainly(f"-f {field!r}: write it as NAME=VALUE.", code=EXIT_USAGE_OR_CONNECTION)
        variables[name] = value
    return variables


@api_command(runs_app, "start")
def start(
    session: Session,
    pipeline: Annotated[str, typer.Argument(help="The pipeline id, e.g. demo.")],
    *,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field", "-f", metavar="NAME=VALUE", help="A variable for this run (repeatable); values are coerced."
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--watch", help="Follow the run until it ends; the exit code is then `runs watch`'s.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=0, help="With --watch: give up (exit 2) after this many seconds.")
    ] = 600,
) -> None:
    """Start a run of a pipeline as you (owners and runners), like its webhook with these variables.

    The variables follow the webhook's rules (declared names, types, choices, secrets masked in the answer).
    """
    variables = _variables_of(field or [])
    accepted = ask(
        lambda: session.api.post(f"/api/pipelines/{quote(pipeline, safe='')}/runs", {"variables": variables})
    )
    if not follow and session.printed(accepted):
        return
    if not session.as_json:
        run_id = str(accepted["runId"])
        console.print(Text.assemble("Started run ", (run_id, "bold"), f" of {accepted['pipelineId']}."))
        if accepted.get("variables"):
            console.print(_variables_table(accepted["variables"]))
        if not follow:
            console.print(Text(f"Follow it: hookrun runs watch {run_id}", style="dim"))
            return
    _watch(session.api, str(accepted["runId"]), interval=1.0, timeout=timeout, as_json=session.as_json)


@api_command(runs_app)
def cancel(
    session: Session,
    run_id: RunIdArgument,
) -> None:
    """Cancel a run: its execution stops, it and its running jobs end CANCELLED (owners, runners, admins)."""
    run = ask(lambda: session.api.post(f"{_run_path(run_id)}/cancel"))
    if session.printed(run):
        return
    console.print(Text.assemble("Run ", (run_id, "bold"), " ", _run_status(run)))


@api_command(runs_app)
def rerun(
    session: Session,
    run_id: RunIdArgument,
    failed: Annotated[
        bool, typer.Option("--failed", help="Run again from the first stage that did not succeed; reuse the others.")
    ] = False,
) -> None:
    """Re-run a run: a new run with the same variables and commit, as you (owners and runners)."""
    started = ask(
        lambda: session.api.request("POST", f"{_run_path(run_id)}/rerun", params={"from": "failed" if failed else None})
    )
    if session.printed(started):
        return
    console.print(Text.assemble("Started ", (started["runId"], "bold"), f", a re-run of {run_id}"))
    if started.get("reusedStages"):
        console.print(f"The first {started['reusedStages']} stage(s) are reused from {run_id}.", markup=False)
    console.print(Text(f"hookrun runs watch {started['runId']}", style="dim"))
