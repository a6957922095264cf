"""What every hookrun command shares: the consoles and the `--endpoint` option."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

DEFAULT_ENDPOINT = "http://127.0.0.1:3000"

console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint",
        envvar="HOOKRUN_ENDPOINT",
        help="The hookrun API: the local stack's URL, or a deployed stack's.",
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` as an error and exit with `code`."""
    err_console.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)
