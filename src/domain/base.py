"""What every domain model shares: the strict pydantic base and the limits on values."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

MAX_VALUE_LENGTH = 4096


class Model(BaseModel):
    """Strict base: camelCase on the wire, snake_case in code, unknown fields rejected."""

    model_config = ConfigDict(
        # validators are built on a model's first use, not at import: a cold start pays only for the models it uses
        defer_build=True,
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        alias_generator=lambda name: re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name),
    )
