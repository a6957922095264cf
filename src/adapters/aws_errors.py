"""Turning AWS throttling and outages into the domain's Unavailable error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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


@contextmanager
def ignoring(code: str) -> Iterator[None]:
    """Let the AWS error `code` pass: what the call was for is so already (say, a secret that is gone)."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) != code:
            raise


def written(write: Callable[[], object]) -> bool:
    """Make a conditional DynamoDB write, Unavailable on an outage; False if its condition did not hold."""
    try:
        with unavailable_on_outage():
            write()
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def delete_secret(client: Any, name: str) -> None:
    """Delete a Secrets Manager secret at once, with no recovery window; one that is gone already is fine."""
    with unavailable_on_outage(), ignoring("ResourceNotFoundException"):
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
