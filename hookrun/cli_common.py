"""What every hookrun command shares: the consoles, the options that say where the API is and who acts, errors."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hookrun.client import ApiError, ApiUnreachable, CannotSign, HookrunClient
from hookrun.config import ConfigError, read_config

DEFAULT_ENDPOINT = "http://127.0.0.1:3000"
EXIT_API_ERROR = 1
EXIT_USAGE_OR_CONNECTION = 2

console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

_endpoint_given = False  # --endpoint or HOOKRUN_ENDPOINT named one: it wins over the config file's


def _remember_endpoint(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    global _endpoint_given
    source = ctx.get_parameter_source(param.name or "endpoint")
    _endpoint_given = source is not None and source.name != "DEFAULT"
    return value


EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint",
        envvar="HOOKRUN_ENDPOINT",
        callback=_remember_endpoint,
        help="The hookrun API: the local stack's URL, or a deployed stack's (requests to it are signed with SigV4).",
    ),
]
LocalEndpointOption = Annotated[
    str,
    typer.Option("--endpoint", envvar="HOOKRUN_ENDPOINT", callback=_remember_endpoint, help="The local stack's URL."),
]
StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        envvar="HOOKRUN_STACK",
        help="A deployed stack's name: its CloudFormation output ApiUrl is the endpoint (instead of --endpoint).",
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="HOOKRUN_USER",
        help="The hookrun user to act as; the local stack reads it from the X-Hookrun-User header.",
    ),
]
_printing_json = False  # a command's --json: its refusals print the API's whole error body too


def _remember_json(value: bool) -> bool:
    global _printing_json
    _printing_json = value
    return value


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the API's JSON instead of tables (a refusal's whole body too).", callback=_remember_json
    ),
]

# What to do on the command line about a refusal, beyond the API's own message
REMEDIES = {
    "UNAUTHENTICATED": "Name the acting user: --as USER, HOOKRUN_USER, or once with `hookrun config set user USER`.",
    "PIPELINE_NOT_FOUND": "`hookrun pipelines list` shows the pipelines you may see.",
    "RUN_NOT_FOUND": "`hookrun runs list PIPELINE` shows the runs you may see.",
    "INVALID_CURSOR": "List again without --cursor.",
    "INVALID_VARIABLES": "`hookrun pipelines show PIPELINE` lists its variables, their types and defaults.",
}


def fail(message: str, code: int = EXIT_API_ERROR) -> NoReturn:
    """Print `message` (rich markup) as an error and exit with `code`."""
    err_console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


def fail_plainly(message: str, code: int = EXIT_API_ERROR) -> NoReturn:
    """Print `message` as an error, its text never taken for markup (ids and API messages are text)."""
    fail(escape(message), code=code)


def unreachable(exc: ApiUnreachable) -> NoReturn:
    fail_plainly(
        f"no hookrun API at {exc.endpoint} ({exc.reason}). Start one with `make run`, or pass --endpoint.",
        code=EXIT_USAGE_OR_CONNECTION,
    )


Answer = TypeVar("Answer")


def refused(exc: ApiError) -> NoReturn:
    """End the command on an API refusal (exit 1): its code, message, every listed problem and what to do.

    With --json, the API's whole error body goes to standard output as well, for scripts.
    """
    if _printing_json:
        print_json(exc.body)
    err_console.print(Text.assemble(("Error: ", "bold red"), f"{exc.code}: {exc.message}"))
    if exc.errors:
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("Name", style="bold", overflow="fold")
        table.add_column("Problem", overflow="fold")
        for problem in exc.errors:
            table.add_row(Text(str(problem.get("name", ""))), Text(str(problem.get("reason", ""))))
        err_console.print(table)
    if exc.code in REMEDIES:
        err_console.print(REMEDIES[exc.code], markup=False)
    raise typer.Exit(EXIT_API_ERROR)


def ask(request: Callable[[], Answer]) -> Answer:
    """What `request()` answers; an API error ends the command (exit 1), an API out of reach too (exit 2)."""
    try:
        return request()
    except ApiUnreachable as exc:
        unreachable(exc)
    except CannotSign as exc:
        fail_plainly(str(exc), code=EXIT_USAGE_OR_CONNECTION)
    except ApiError as exc:
        refused(exc)


def stack_endpoint(stack: str) -> str:
    """A deployed stack's API: its CloudFormation output ApiUrl without the trailing /api (the client adds paths)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cloudformation: Any = boto3.client("cloudformation")
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        fail_plainly(f"cannot read stack {stack!r}: {exc}", code=EXIT_USAGE_OR_CONNECTION)
    outputs = {output["OutputKey"]: output["OutputValue"] for output in found.get("Outputs", [])}
    if "ApiUrl" not in outputs:
        fail_plainly(f"stack {stack!r} has no ApiUrl output; is it a hookrun stack?", code=EXIT_USAGE_OR_CONNECTION)
    return str(outputs["ApiUrl"]).removesuffix("/").removesuffix("/api")


def configured(endpoint: str, user: str | None) -> tuple[str, str | None]:
    """The endpoint and user a command acts with: its options (or their environment variables), else the config file's.

    An endpoint counts as given when --endpoint or HOOKRUN_ENDPOINT named it, even if it names the default.
    """
    endpoint_given = _endpoint_given
    if user is not None and endpoint_given:
        return endpoint, user
    try:
        settings = read_config()
    except ConfigError as exc:
        fail_plainly(str(exc), code=EXIT_USAGE_OR_CONNECTION)
    return (endpoint if endpoint_given else settings.get("endpoint", endpoint)), user or settings.get("user")


def client(endpoint: str, user: str | None, stack: str | None = None) -> HookrunClient:
    """The API client for a command's options: --stack's API if given, else --endpoint (or the config file's)."""
    endpoint, user = configured(endpoint, user)
    return HookrunClient(stack_endpoint(stack) if stack else endpoint, user)


def print_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def print_table(table: Table) -> None:
    """Print a table; piped or redirected, at its natural width, so nothing is cut short for grep or a file."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    Console(width=max(console.width, natural), soft_wrap=True, highlight=False).print(table)


def when(timestamp: str | None) -> str:
    """An API timestamp as the tables show it: `2026-11-27 12:00:03`, UTC."""
    return timestamp.replace("T", " ")[:19] if timestamp else ""


@dataclass
class Session:
    """What the options every API command shares give it: the client (made on first use) and the output form."""

    endpoint: str
    stack: str | None
    user: str | None
    as_json: bool

    @functools.cached_property
    def api(self) -> HookrunClient:
        return client(self.endpoint, self.user, self.stack)

    def printed(self, answer: Any) -> bool:
        """Whether the answer went out as JSON (--json): the one place that chooses between JSON and tables."""
        if self.as_json:
            print_json(answer)
        return self.as_json


_SHARED = [
    inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption),
    inspect.Parameter("endpoint", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_ENDPOINT, annotation=EndpointOption),
    inspect.Parameter("stack", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=StackOption),
    inspect.Parameter("user", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=UserOption),
]
Command = TypeVar("Command", bound=Callable[..., None])


def api_command(app: typer.Typer, name: str | None = None) -> Callable[[Command], Command]:
    """Register `command(session, ...)` on `app` with the options every API command takes, declared here once:
    --json, --endpoint, --stack and --as, turned into the Session it is called with."""

    def register(command: Command) -> Command:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]  # all but the session

        @functools.wraps(command)
        def run(*args: Any, as_json: bool, endpoint: str, stack: str | None, user: str | None, **kwargs: Any) -> None:
            command(Session(endpoint, stack, user, as_json), *args, **kwargs)

        parameters = [*own, *_SHARED]
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        app.command(name)(run)
        return command

    return register
