"""The `hookrun` command line: the local stack (`dev`), `invoke`, and the command groups of other modules."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.logging import RichHandler
from rich.markup import escape

from hookrun.cli_common import (
    DEFAULT_ENDPOINT,
    EXIT_USAGE_OR_CONNECTION,
    LocalEndpointOption,
    api_command,
    configured,
    console,
    err_console,
    fail,
)
from hookrun.cli_config import config_app
from hookrun.cli_manage import deliveries, members_app, pipelines_app, users_app, webhook_app
from hookrun.cli_runs import runs_app
from hookrun.cli_ui import ui
from hookrun.local_data import DEFAULT_DATA_FOLDER
from hookrun.template import TEMPLATE_PATH

INVOKE_READ_TIMEOUT = 960  # Lambda's longest timeout (900 s) and a margin

app = typer.Typer(name="hookrun", no_args_is_help=True, help="Start CI/CD pipeline runs from a webhook.")

app.add_typer(runs_app, name="runs")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(users_app, name="users")
app.add_typer(members_app, name="members")
app.add_typer(webhook_app, name="webhook")
app.add_typer(config_app, name="config")
api_command(app)(deliveries)
app.command()(ui)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hookrun {version()}")
        raise typer.Exit(0)


def version() -> str:
    """The installed hookrun's version (pyproject.toml's)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hookrun")
    except PackageNotFoundError:
        return "unknown (not installed: run `make .venv/.synced` in the checkout)"


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print hookrun's version and exit."),
    ] = False,
) -> None:
    """Start CI/CD pipeline runs from a webhook. Exit codes: 0 done, 1 the API refused, 2 bad usage or no API."""


@app.command()
def dev(
    *,
    port: Annotated[int, typer.Option(help="Port of the local API Gateway; 0 picks a free one.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            file_okay=False,
            help="The data folder: the stack's state is kept there across restarts.",
            show_default=".hookrun/ in the checkout",
        ),
    ] = DEFAULT_DATA_FOLDER,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start empty: the data folder's saved state is replaced.")
    ] = False,
    template: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="The SAM template to run, e.g. with a policy changed; its CodeUri and DefinitionUri are relative to"
            " its folder.",
            show_default="template.yaml in the checkout",
        ),
    ] = TEMPLATE_PATH,
    functions: Annotated[
        Path | None,
        typer.Option(
            "--functions",
            exists=True,
            dir_okay=False,
            help="Another SAM template whose functions run beside template.yaml's (the tests' probe functions).",
        ),
    ] = None,
) -> None:
    """Run hookrun on this machine: moto, the functions and state machine of template.yaml, a local API Gateway."""
    from hookrun.banner import StackFacts, banner
    from hookrun.template import checkout_problem

    if problem := checkout_problem():
        fail(escape(problem), code=EXIT_USAGE_OR_CONNECTION)
    from hookrun.local_data import DataFolder, DataFolderError
    from hookrun.local_stack import LocalStack, PortUnavailable

    logging.basicConfig(
        level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False)]
    )
    # not under "hookrun": Powertools' root-handler filter drops records of loggers named like its service
    logging.getLogger("local").setLevel(logging.INFO)
    # the line per request of the local API Gateway, written plain: rendering it with rich took ~9% of the stack
    # process's CPU under `make bench`'s load, in the process that answers the webhooks' AWS calls
    access = logging.StreamHandler(sys.stderr)
    access.setFormatter(logging.Formatter("%(asctime)s  %(message)s", datefmt="%H:%M:%S"))
    api_log = logging.getLogger("local.api")
    api_log.addHandler(access)
    api_log.propagate = False
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())

    stack = LocalStack(
        port=port, host=host, data=DataFolder(data, fresh=fresh), template=template.resolve(), more_functions=functions
    )
    try:
        stack.start()
    except PortUnavailable as exc:
        fail(f"{escape(str(exc))}. Pick another port with --port.")
    except DataFolderError as exc:
        fail(f"{escape(str(exc))} ({exc.code})")
    try:
        url = stack.webhook_url
        facts = StackFacts(
            endpoint=stack.endpoint,
            webhook_url=url if stack.webhook_token else None,
            data=data,
            restored=stack.restored,
            runs_stopped=stack.runs_stopped if stack.restored else 0,
        )
        for line in banner(facts):
            console.print(line, markup=False)
        print(f"HOOKRUN_ENDPOINT={stack.endpoint}", flush=True)
        if stack.webhook_token:
            print(f"HOOKRUN_WEBHOOK_URL={url}", flush=True)
        print("HOOKRUN_READY", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        stack.stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    console.print("hookrun local stack stopped.")
    # the state is written: moto's interpreter ending runs in flight (the next start records them FAILED) and the
    # finalization of moto's heap (seconds on a busy machine) are not waited for
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def invoke(
    function: Annotated[str, typer.Argument(help="A function's logical id in template.yaml, e.g. WebhookFunction.")],
    event: Annotated[
        Path | None,
        typer.Option("--event", "-e", exists=True, dir_okay=False, help="A JSON event, e.g. events/*.json."),
    ] = None,
    endpoint: LocalEndpointOption = DEFAULT_ENDPOINT,
) -> None:
    """Invoke one function of the running local stack with an event and print its result, like `sam local invoke`."""
    from hookrun.local_api import FunctionFailed
    from hookrun.local_stack import aws_client, invoke_function

    info = _local_stack_info(configured(endpoint, None)[0])
    names: dict[str, str] = info["functions"]
    if function not in names:
        fail(escape(f"no function {function!r} in template.yaml; choose one of: {', '.join(sorted(names))}."), code=2)
    try:
        payload = json.loads(event.read_text(encoding="utf-8")) if event else {}
    except ValueError as exc:
        fail(escape(f"{event} is not valid JSON: {exc}"), code=2)
    client = aws_client("lambda", info["motoEndpoint"], read_timeout=INVOKE_READ_TIMEOUT)
    try:
        result = invoke_function(client, names[function], payload)
    except FunctionFailed as exc:
        fail(escape(f"{function} failed: {exc}"))
    console.print_json(data=result)


def _local_stack_info(endpoint: str) -> dict[str, Any]:
    """What the local stack at `endpoint` says about itself; exits with a clear message if none answers."""
    from hookrun.local_api import LOCAL_INFO_PATH  # here: the gateway's werkzeug is no import of every command

    try:
        response = requests.get(endpoint.rstrip("/") + LOCAL_INFO_PATH, timeout=5)
    except requests.RequestException:
        fail(
            f"no local stack answers at {endpoint}. Start one with `make run` (or `hookrun dev`), or pass --endpoint.",
            code=EXIT_USAGE_OR_CONNECTION,
        )
    try:
        info = response.json()
    except ValueError:
        info = None
    if response.status_code != 200 or not isinstance(info, dict) or not {"motoEndpoint", "functions"} <= info.keys():
        fail(
            f"{endpoint} answers, but is not a hookrun local stack"
            f" (GET {LOCAL_INFO_PATH} gave {response.status_code}).",
            code=EXIT_USAGE_OR_CONNECTION,
        )
    return info
