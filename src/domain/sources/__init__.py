"""Source webhooks: Git push and tag events from GitHub (and Gitea/Forgejo), GitLab, Codeup and Gitee.

The pipeline's one webhook URL also receives code-source events. This package tells them apart from general
webhooks and reads them, one job per module: `providers` (each provider's differences), `headers` (provider, event,
delivery id), `signatures`, `parsing` (a push or tag out of the payload), `filters` (the pipeline's source
settings) and `built_ins` (the run's HOOKRUN_* variables); `inbound` reads a whole webhook request once with all of
them, a variable webhook's body included. Pure: headers and the raw body come in, values and decisions go out.
"""

from .built_ins import built_in_variables
from .events import InvalidSourceEvent, SourceEvent
from .filters import Decision, SkipReason, SourceSettings, decide, glob_to_regex
from .headers import delivery_id, detect_source, event_name, idempotency_key
from .inbound import Expectations, Inbound, read_inbound
from .parsing import DERIVED_KEY_PREFIX, derived_idempotency_key, parse_source_event
from .providers import EventKind, Provider
from .signatures import signature_checked, verify_signature

__all__ = [
    "DERIVED_KEY_PREFIX",
    "Decision",
    "EventKind",
    "Expectations",
    "Inbound",
    "InvalidSourceEvent",
    "Provider",
    "SkipReason",
    "SourceEvent",
    "SourceSettings",
    "built_in_variables",
    "decide",
    "delivery_id",
    "derived_idempotency_key",
    "detect_source",
    "event_name",
    "glob_to_regex",
    "idempotency_key",
    "parse_source_event",
    "read_inbound",
    "signature_checked",
    "verify_signature",
]
