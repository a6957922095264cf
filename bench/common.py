"""What every section shares: the row format, statistics, events with the local token, a fake AWS environment."""

from __future__ import annotations

import copy
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
TABLE = "hookrun-bench"


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its unit, and the goal it is read against (None: no goal)."""

    name: str
    value: float | int | None
    unit: str
    goal: str = ""
    met: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Section:
    """What one section measured: rows for the table, notes to print under it, raw data for the JSON."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rows": [row.to_json() for row in self.rows], "notes": self.notes, "data": self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        return cls([Row(**row) for row in data["rows"]], list(data["notes"]), dict(data["data"]))


def at_most(value: float | None, limit: float, unit: str = "") -> tuple[str, bool | None]:
    """The goal text and whether `value` meets it."""
    return f"<= {limit:g}{unit}", None if value is None else value <= limit


def at_least(value: float | None, limit: float, unit: str = "") -> tuple[str, bool | None]:
    return f">= {limit:g}{unit}", None if value is None else value >= limit


def exactly(value: float | None, expected: float) -> tuple[str, bool | None]:
    return f"= {expected:g}", None if value is None else value == expected


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method: a value that was actually observed."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    """An events/ fixture addressed to the webhook with `token` (the fixtures carry a demo token)."""
    event = copy.deepcopy(event)
    old = event["pathParameters"]["token"]
    event["pathParameters"]["token"] = token
    event["path"] = event["path"].replace(old, token)
    event["requestContext"]["path"] = event["requestContext"]["path"].replace(old, token)
    return event


def with_body(event: dict[str, Any], body: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["body"] = body
    return event


def with_query(event: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """The event with these query string parameters (`?dryRun=true`)."""
    changed = {**event, "queryStringParameters": query}
    changed["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return changed


def fake_aws_environment(**extra: str) -> None:
    """No section ever reaches real AWS: fake credentials, a fixed region, no profile or endpoint override."""
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_DEV": "false",
            **extra,
        }
    )
