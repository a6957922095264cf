"""Domain errors. Each carries a stable code; the handlers map codes to HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass


class HookrunError(Exception):
    code = "HOOKRUN_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WebhookNotFound(HookrunError):
    code = "WEBHOOK_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__(
            "No webhook trigger matches this URL. Check the URL, or ask a pipeline owner for the current one."
        )


class WebhookDisabled(HookrunError):
    code = "WEBHOOK_DISABLED"

    def __init__(self) -> None:
        super().__init__(
            "This webhook trigger is disabled. A user who can run the pipeline must enable it before it starts runs."
        )


class InsufficientPermissions(HookrunError):
    code = "INSUFFICIENT_PERMISSIONS"

    def __init__(self, run_as: str, pipeline_id: str) -> None:
        super().__init__(
            f"The webhook runs as user '{run_as}', who can no longer run pipeline '{pipeline_id}'. "
            "Disable the webhook trigger, then have a user who can run the pipeline enable it again; "
            "the webhook URL stays the same."
        )
        self.run_as = run_as
        self.pipeline_id = pipeline_id


@dataclass(frozen=True)
class VariableProblem:
    name: str
    reason: str


class InvalidVariables(HookrunError):
    code = "INVALID_VARIABLES"

    def __init__(self, problems: list[VariableProblem]) -> None:
        super().__init__(f"{len(problems)} variable(s) were rejected; see 'errors' for each one.")
        self.problems = problems


class Unavailable(HookrunError):
    """A backing service is throttling or down; the caller should retry later."""

    code = "UNAVAILABLE"

    def __init__(self, retry_after_seconds: int = 5) -> None:
        super().__init__("hookrun is busy or a backing service is unavailable. Retry after the given delay.")
        self.retry_after_seconds = retry_after_seconds


class RunAlreadyStarted(HookrunError):
    """The run id was started before: a redelivery, not a new run."""

    code = "RUN_ALREADY_STARTED"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Run {run_id} was already started.")
        self.run_id = run_id


class IdempotencyKeyReused(HookrunError):
    """A delivery id or Idempotency-Key that already named a run started by a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"This delivery id or Idempotency-Key already started run {run_id} with a different request (another "
            "body, or through a URL since rotated), so nothing was started. Send a new Idempotency-Key for a new run; "
            "repeat the original request to replay it."
        )
        self.run_id = run_id


class Unauthenticated(HookrunError):
    code = "UNAUTHENTICATED"

    def __init__(self) -> None:
        super().__init__(
            "The request carries no identity hookrun knows. Sign it with the credentials of a hookrun user."
        )


class Forbidden(HookrunError):
    code = "FORBIDDEN"


class NotFound(HookrunError):
    """A named resource does not exist (or the caller may not know that it does)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Conflict(HookrunError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidRequest(HookrunError):
    """A management request whose body does not fit its schema; `problems` lists each."""

    code = "INVALID_REQUEST"

    def __init__(self, message: str, problems: list[VariableProblem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class InvalidCursor(HookrunError):
    """A pagination cursor that this API did not hand out (or handed out for another list)."""

    code = "INVALID_CURSOR"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this API returned for this list. List again without 'cursor'.")


class BadRequest(HookrunError):
    """A request whose body or headers cannot be read: the code says which rule it broke."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidSignature(HookrunError):
    """`checked` says which header and which content type were checked, e.g. from sources.signature_checked."""

    code = "INVALID_SIGNATURE"

    def __init__(self, checked: str = "") -> None:
        super().__init__(
            "The event's signature is missing or wrong"
            + (f": {checked}." if checked else ".")
            + " Set the same secret in the Git provider's webhook settings as with 'hookrun webhook secret'."
        )
