"""Every error code of the API with its HTTP status and usual message, and the domain errors that carry them.

To add a code: one line in ErrorCode (`NAME = status, "a sentence that says what to do"`) and one row in the
README's error table of the routes that answer it; tests/unit/test_error_registry.py checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, unique


@unique  # two codes with the same status and message would silently become one: fail at import instead
class ErrorCode(Enum):
    """A code clients switch on: its HTTP status, and the message used when the raiser has nothing to add."""

    status: int
    message: str

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message

    WEBHOOK_NOT_FOUND = 404, "No webhook trigger matches this URL. Check the URL, or ask a pipeline owner for it."
    WEBHOOK_DISABLED = 403, "This webhook trigger is disabled. A user who can run the pipeline must enable it."
    INSUFFICIENT_PERMISSIONS = 403, "The webhook's run-as user can no longer run the pipeline. Enable it again."
    INVALID_JSON = 400, "The request body is not valid JSON (UTF-8, no duplicate keys, no NaN or Infinity)."
    UNSUPPORTED_MEDIA_TYPE = 415, "Send the body as JSON with the header 'Content-Type: application/json'."
    PAYLOAD_TOO_LARGE = 413, "The request body is too large. Send less."
    INVALID_VARIABLES = 422, "Some variables were rejected; see 'errors' for each one."
    INVALID_SIGNATURE = 401, "The event's signature is missing or wrong."
    INVALID_SOURCE_EVENT = 400, "The source event cannot be read. Redeliver it from the provider's webhook settings."
    INVALID_DELIVERY_ID = 400, "The delivery id header must be at most 200 printable ASCII characters."
    INVALID_IDEMPOTENCY_KEY = 400, "The Idempotency-Key header must be at most 200 printable ASCII characters."
    INVALID_PARAMETER = 400, "A query parameter has a value this route does not take."
    IDEMPOTENCY_KEY_REUSED = 409, "This key already started a run with a different request. Send a new key."
    UNSUPPORTED_QUERY = 400, "The webhook takes no query parameter but dryRun. Send variables in the JSON body."
    UNAVAILABLE = 503, "hookrun is busy or a backing service is unavailable. Retry after the given delay."
    NOT_FOUND = 404, "No such route. The README lists the routes."
    METHOD_NOT_ALLOWED = 405, "This route does not take this method; the 'Allow' header lists those it takes."
    BAD_REQUEST = 400, "The request is not HTTP/1.1 that can be read one way only. Send one well-formed request."
    URI_TOO_LONG = 414, "The request line is over 64 KiB. Send a shorter URL."
    HEADERS_TOO_LARGE = 431, "A header line is over 64 KiB, or there are over 100 headers. Send fewer, shorter ones."
    HTTP_VERSION_NOT_SUPPORTED = 505, "Only HTTP/1.x is served. Send an HTTP/1.1 request."
    INTERNAL_ERROR = 502, "The function behind this route failed; its log says why. Retry, with any Idempotency-Key."
    UNAUTHENTICATED = 401, "The request carries no identity hookrun knows. Sign it with a hookrun user's credentials."
    FORBIDDEN = 403, "Your role or status does not allow this. Ask a pipeline owner or a hookrun admin."
    PIPELINE_NOT_FOUND = 404, "No pipeline with this id, or you hold no role on it. Check the pipeline id."
    USER_NOT_FOUND = 404, "No user with this id. Check the user id; an admin adds users with PUT /api/users/{userId}."
    MEMBER_NOT_FOUND = 404, "The user holds no role on this pipeline."
    RUN_NOT_FOUND = 404, "No run with this id that you may see. Check the run id."
    INVALID_CURSOR = 400, "The cursor is not one this API returned for this list. List again without 'cursor'."
    INVALID_REQUEST = 422, "The request body does not fit; see 'errors' for each field."
    INVALID_PIPELINE = 422, "The pipeline does not fit the file format; see 'errors' for each field."
    PIPELINE_EXISTS = 409, "The id is taken by a pipeline you hold no role on. Choose another id."
    LAST_OWNER = 409, "This is the pipeline's last owner. Make another owner first."
    PRINCIPAL_TAKEN = 409, "One of these principals already acts as another hookrun user."
    CONFLICT = 409, "Another change to the same resource happened at once. Try again."
    RUN_FINISHED = 409, "The run has already ended; there is nothing to cancel. Re-run it to run it again."
    SECRETS_EXPIRED = 409, "The run's secret values are no longer kept, so it cannot be re-run: trigger it again."
    RUN_LIMIT_REACHED = 429, "The pipeline runs as many runs as its maxRunningRuns allows. Retry once one has ended."


@dataclass(frozen=True)
class VariableProblem:
    name: str
    reason: str


class HookrunError(Exception):
    """A rejection with its code; `message` is the code's own unless this case says more, `problems` name fields."""

    def __init__(
        self, error: ErrorCode, message: str | None = None, problems: list[VariableProblem] | None = None
    ) -> None:
        self.error = error
        self.message = message or error.message
        self.problems = problems or []
        super().__init__(self.message)

    @property
    def code(self) -> str:
        return self.error.name

    @property
    def status(self) -> int:
        return self.error.status


class WebhookNotFound(HookrunError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.WEBHOOK_NOT_FOUND)


class WebhookDisabled(HookrunError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.WEBHOOK_DISABLED)


class InsufficientPermissions(HookrunError):
    def __init__(self, run_as: str, pipeline_id: str) -> None:
        super().__init__(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            f"The webhook runs as user '{run_as}', who can no longer run pipeline '{pipeline_id}'. "
            "Disable the webhook trigger, then have a user who can run the pipeline enable it again; "
            "the webhook URL stays the same.",
        )
        self.run_as = run_as
        self.pipeline_id = pipeline_id


class InvalidVariables(HookrunError):
    def __init__(self, problems: list[VariableProblem]) -> None:
        super().__init__(
            ErrorCode.INVALID_VARIABLES,
            f"{len(problems)} variable(s) were rejected; see 'errors' for each one.",
            problems,
        )


class Unavailable(HookrunError):
    """A backing service is throttling or down; the caller should retry later."""

    def __init__(self, retry_after_seconds: int = 5) -> None:
        super().__init__(ErrorCode.UNAVAILABLE)
        self.retry_after_seconds = retry_after_seconds


class RunLimitReached(HookrunError):
    """The pipeline already has `limit` runs that have not ended: this one is not started (nothing is kept of it)."""

    def __init__(self, pipeline_id: str, limit: int, retry_after_seconds: int = 30) -> None:
        super().__init__(
            ErrorCode.RUN_LIMIT_REACHED,
            f"Pipeline '{pipeline_id}' already has {limit} runs that have not ended, its limit (maxRunningRuns: "
            f"{limit}), so this one was not started. Retry once one of them has ended, cancel one, or have a pipeline "
            "owner raise maxRunningRuns in the pipeline file.",
        )
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds


class RunAlreadyStarted(Exception):
    """The run id was started before: a redelivery, not a new run (the webhook answers it as a replay)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run {run_id} was already started.")
        self.run_id = run_id


class IdempotencyKeyReused(HookrunError):
    """A delivery id or Idempotency-Key that already named a run started by a different request."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            f"This delivery id or Idempotency-Key already started run {run_id} with a different request (another "
            "body, or through a URL since rotated), so nothing was started. Send a new Idempotency-Key for a new run; "
            "repeat the original request to replay it.",
        )
        self.run_id = run_id


class Unauthenticated(HookrunError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED, message)


class Forbidden(HookrunError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(ErrorCode.FORBIDDEN, message)


class NotFound(HookrunError):
    """A named resource does not exist (or the caller may not know that it does)."""


class Conflict(HookrunError):
    """A write that lost to another one, or to what is stored."""


class InvalidRequest(HookrunError):
    """A management request whose body does not fit its schema; `problems` lists each."""

    def __init__(self, message: str, problems: list[VariableProblem] | None = None) -> None:
        super().__init__(ErrorCode.INVALID_REQUEST, message, problems)


class InvalidCursor(HookrunError):
    """A pagination cursor that this API did not hand out (or handed out for another list)."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.INVALID_CURSOR)


class BadRequest(HookrunError):
    """A request whose body or headers cannot be read: the code says which rule it broke."""


class InvalidSignature(HookrunError):
    """`checked` says which header and which content type were checked, e.g. from sources.signature_checked."""

    def __init__(self, checked: str = "") -> None:
        super().__init__(
            ErrorCode.INVALID_SIGNATURE,
            "The event's signature is missing or wrong"
            + (f": {checked}." if checked else ".")
            + " Set the same secret in the Git provider's webhook settings as with 'hookrun webhook secret'.",
        )
