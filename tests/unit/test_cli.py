"""The command line as a whole: its version, and the options every API command shares (declared once)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import typer
from typer.testing import CliRunner

from hookrun.cli import app

LOCAL_COMMANDS = {"dev", "invoke", "ui"}  # with `config ...`: they talk to no hookrun API, or find it their own way
SHARED = {"--json", "--endpoint", "--stack", "--as"}


def commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command below `group` by its full name (`pipelines list`)."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer brings its own click)
            found |= commands(command, f"{prefix}{name} ")
        else:
            found[prefix + name] = command
    return found


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"hookrun {version('hookrun')}\n")


def test_every_api_command_takes_the_shared_options() -> None:
    every = commands(typer.main.get_group(app))
    api_commands = {n: c for n, c in every.items() if n not in LOCAL_COMMANDS and not n.startswith("config ")}
    assert {"pipelines list", "runs show", "deliveries", "webhook test"} <= set(api_commands)
    for name, command in api_commands.items():
        options = {option for parameter in command.params for option in parameter.opts}
        assert options >= SHARED, name
