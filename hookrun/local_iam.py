"""The local stack's stand-in for API Gateway's IAM authorizer: `X-Hookrun-User: NAME` signs as a local principal.

On AWS, AWS_IAM puts the signing principal's ARN in `requestContext.identity.userArn`, and the API maps it to a
hookrun user by its PRINCIPAL item. Locally there is no IAM: the local API Gateway names NAME's local principal
there, and keeps the item that maps it to NAME, so the API function has one path for both (the admin's principal is
the stack's AdminPrincipals).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from adapters.management import principal_item
from domain.models import USER_ID

LOCAL_ACCOUNT = "123456789012"  # moto's default account
USER_HEADER = "X-Hookrun-User"
_PREFIX = f"arn:aws:iam::{LOCAL_ACCOUNT}:user/hookrun-local/"


def principal_of(user_id: str) -> str:
    """The IAM principal a local user signs as."""
    return _PREFIX + user_id


class LocalIam:
    """Names the principal of the user in a request's X-Hookrun-User header, mapped to that user in the table."""

    def __init__(self, dynamodb: Callable[[], Any], table_name: str) -> None:
        self._dynamodb = dynamodb  # made on first use: the gateway starts before moto does
        self._table = table_name
        self._mapped: set[str] = set()
        self._lock = threading.Lock()

    def user_arn(self, header: str | None) -> str | None:
        """The principal the request signs as; None (unsigned) without a header or with one that names no user id."""
        user_id = (header or "").strip()
        if not USER_ID.fullmatch(user_id):
            return None
        principal = principal_of(user_id)
        with self._lock:
            if user_id not in self._mapped:
                self._map(principal, user_id)
                self._mapped.add(user_id)
        return principal

    def _map(self, principal: str, user_id: str) -> None:
        try:
            self._dynamodb().put_item(
                TableName=self._table,
                Item=principal_item(principal, user_id),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:  # mapped before (by an earlier start of the stack): keep it
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
