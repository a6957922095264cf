"""The CLI's small config file: a default acting user and endpoint, so `--as` and `--endpoint` need not be repeated.

It lives at `$HOOKRUN_CONFIG`, else `$XDG_CONFIG_HOME/hookrun/config.toml` (`~/.config/hookrun/config.toml`).
An option on the command line or its environment variable (HOOKRUN_USER, HOOKRUN_ENDPOINT) wins over it.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

KEYS = {
    "user": "the hookrun user to act as on the local stack (what --as names)",
    "endpoint": "the hookrun API to talk to (what --endpoint names)",
}


class ConfigError(Exception):
    """The config file cannot be read or written; the message says which file and why."""


def config_path() -> Path:
    explicit = os.environ.get("HOOKRUN_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hookrun" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The settings in the file (none if it does not exist)."""
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}. Fix it, or delete it.") from exc
    return {key: value for key, value in data.items() if key in KEYS and isinstance(value, str)}


def write_config(settings: dict[str, str], path: Path | None = None) -> Path:
    """Write the settings (a TOML file of plain strings), readable by this machine's user only."""
    path = path or config_path()
    # JSON's string escapes are valid TOML basic strings
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(settings.items()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write the config file {path}: {exc}. Set HOOKRUN_CONFIG to another file.") from exc
    return path
