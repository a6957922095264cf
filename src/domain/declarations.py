"""A pipeline's variable declarations: names, types, defaults, and the names no job may be given."""

from __future__ import annotations

import math
import re
from enum import StrEnum

from pydantic import model_validator

from .base import MAX_VALUE_LENGTH, Model

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_SAFE_NUMBER = 2**53
_NUMBER_TEXT = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


# Names that change how bash or the dynamic loader behave before a job's first line runs (BASH_ENV is sourced,
# PS4 is expanded, LD_PRELOAD is loaded...): no pipeline may declare them and no caller may send them.
RESERVED_NAMES = frozenset(
    {
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "IFS",
        "PROMPT_COMMAND",
        "CDPATH",
        "GLOBIGNORE",
        "BASH_XTRACEFD",
        "EXECIGNORE",
        "PATH",
        "HOME",
        "TMPDIR",
        "SHELL",
    }
)
RESERVED_PREFIXES = ("LD_", "BASH_FUNC_")


def is_reserved_name(name: str) -> bool:
    """True for names a job's environment must not take from a pipeline or a caller."""
    return name.upper() in RESERVED_NAMES or name.upper().startswith(RESERVED_PREFIXES)


class VariableType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"


Scalar = str | int | float | bool


class VariableDeclaration(Model):
    """A variable a pipeline declares: its type, default, and whether it is secret."""

    type: VariableType = VariableType.STRING
    default: Scalar | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    required: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _choices_and_default_fit_type(self) -> VariableDeclaration:
        if self.type is VariableType.CHOICE and not self.choices:
            raise ValueError("a choice variable needs a non-empty 'choices' list")
        if self.type is not VariableType.CHOICE and self.choices:
            raise ValueError("'choices' is only allowed on variables of type choice")
        if self.default is not None:
            self.render(self.default)
        return self

    def render(self, value: object) -> str:
        """Coerce `value` to this variable's type and render it for a job's environment.

        Raises ValueError with a reason a caller can read.
        """
        if value is None:
            raise ValueError("null is not allowed; leave the variable out to use its default")
        if isinstance(value, dict | list | tuple):
            raise ValueError("nested values are not allowed; send a string, number or boolean")
        if self.type is VariableType.NUMBER:
            text = _render_number(value)
        elif self.type is VariableType.BOOLEAN:
            text = _render_boolean(value)
        else:
            text = _render_text(value)
            if self.type is VariableType.CHOICE and text not in self.choices:
                # a secret variable's choices are as secret as its value
                raise ValueError(
                    "must be one of the choices the pipeline declares"
                    if self.secret
                    else f"must be one of: {', '.join(self.choices)}"
                )
        if len(text) > MAX_VALUE_LENGTH:
            raise ValueError(f"longer than {MAX_VALUE_LENGTH} characters")
        if "\x00" in text:
            raise ValueError("contains a NUL character")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("contains invalid Unicode (a lone surrogate)") from None
        return text


def _render_number(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value.strip()):
            raise ValueError("must be a number")
        number: float = float(value.strip())
    elif isinstance(value, int | float):
        number = value
    else:
        raise ValueError("must be a number")
    # compare before any float conversion: an int of 400 digits has no float and would overflow
    if (isinstance(number, float) and not math.isfinite(number)) or abs(number) > MAX_SAFE_NUMBER:
        raise ValueError(f"number out of range (at most {MAX_SAFE_NUMBER} in magnitude)")
    if float(number).is_integer():
        return str(int(number))
    return repr(float(number))


def _render_boolean(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower()
    raise ValueError("must be a boolean: true or false")


def _render_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _render_number(value)
    if isinstance(value, str):
        return value
    raise ValueError("must be a string, number or boolean")
