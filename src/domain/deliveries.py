"""The delivery log: every request to a known webhook URL leaves a record of what became of it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from enum import StrEnum

from .models import Model

DELIVERY_RETENTION_DAYS = 30


class Outcome(StrEnum):
    RUN_STARTED = "RUN_STARTED"
    REPLAYED = "REPLAYED"
    FILTERED = "FILTERED"
    IGNORED_EVENT = "IGNORED_EVENT"
    REJECTED = "REJECTED"
    DRY_RUN = "DRY_RUN"


class Delivery(Model):
    """One request to a pipeline's webhook: no token, secret or body is ever kept here."""

    pipeline_id: str
    incarnation: str = ""  # the pipeline's: where the record is kept
    received_at: str
    source: str  # webhook, github, gitlab, codeup, gitee
    event: str | None = None
    # the provider's delivery id, the caller's Idempotency-Key, or the key derived from a push without either
    delivery_id: str | None = None
    outcome: Outcome
    reason: str | None = None  # an error code, why an event was filtered, or a dry run's decision
    run_id: str | None = None
    run_as: str | None = None


def run_id_for_delivery(pipeline_id: str, delivery_id: str, incarnation: str = "") -> str:
    """The run id a delivery decides: the same delivery to the same pipeline always names the same run.

    The pipeline's incarnation is part of it: a pipeline made again with a deleted one's id replays none of its runs.
    """
    scope = f"{pipeline_id}\n{incarnation}" if incarnation else pipeline_id
    digest = hashlib.sha256(f"{scope}\n{delivery_id}".encode()).hexdigest()
    return f"run-{digest[:29]}"


def request_digest(token: str, source: str, values: Mapping[str, object]) -> str:
    """What a delivery asks for (its source, and its variables or its push's built-ins), as an HMAC keyed by the
    webhook's token: equal for a replay of the same request, and useless to whoever reads execution history.
    """
    canonical = json.dumps({"source": source, "values": values}, sort_keys=True, separators=(",", ":"))
    return hmac.new(token.encode(), canonical.encode(), hashlib.sha256).hexdigest()
