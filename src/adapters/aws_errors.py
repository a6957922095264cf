"""Turning AWS throttling and outages into the domain's Unavailable error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from domain.errors import Unavailable

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Raise Unavailable when AWS throttles or cannot be reached; let every other error through."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in RETRYABLE_CODES:
            raise Unavailable() from exc
        raise
    except (ConnectionError, HTTPClientError) as exc:
        raise Unavailable() from exc
