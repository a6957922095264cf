"""`hookrun config ...`: a default acting user and endpoint in a small file, so `--as` need not be on every call."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from hookrun.cli_common import EXIT_USAGE_OR_CONNECTION, console, fail_plainly
from hookrun.config import KEYS, ConfigError, config_path, read_config, write_config

config_app = typer.Typer(
    no_args_is_help=True,
    help="Keep a default acting user (--as) and endpoint (--endpoint) in a config file; options still win.",
)


class Key(StrEnum):
    USER = "user"
    ENDPOINT = "endpoint"


KeyArgument = Annotated[Key, typer.Argument(help="user (what --as names) or endpoint (what --endpoint names).")]


def _settings() -> dict[str, str]:
    try:
        return read_config()
    except ConfigError as exc:
        fail_plainly(str(exc), code=EXIT_USAGE_OR_CONNECTION)


def _write(settings: dict[str, str]) -> None:
    try:
        write_config(settings)
    except ConfigError as exc:
        fail_plainly(str(exc), code=EXIT_USAGE_OR_CONNECTION)


@config_app.command("set")
def set_value(
    key: KeyArgument, value: Annotated[str, typer.Argument(help="e.g. alice, or http://127.0.0.1:3000")]
) -> None:
    """Set a default: `hookrun config set user alice` makes alice the acting user of every command."""
    if not value.strip():
        fail_plainly(f"the {key} is empty; `hookrun config unset {key}` removes it.", code=EXIT_USAGE_OR_CONNECTION)
    _write({**_settings(), key.value: value.strip()})
    console.print(f"{key} = {value.strip()} (in {config_path()})", markup=False)


@config_app.command("unset")
def unset(key: KeyArgument) -> None:
    """Remove a default."""
    settings = _settings()
    settings.pop(key.value, None)
    _write(settings)
    console.print(f"{key} unset (in {config_path()})", markup=False)


@config_app.command("show")
def show() -> None:
    """Print the defaults and the file that holds them."""
    settings = _settings()
    console.print(f"Config file: {config_path()}", markup=False)
    for key, meaning in KEYS.items():
        console.print(f"{key} = {settings.get(key, '(not set)')}  # {meaning}", markup=False)
