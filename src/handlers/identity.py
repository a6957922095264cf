"""Who is calling the API: the hookrun user behind a request, and whether it administers hookrun.

On AWS the API sits behind AWS_IAM auth, so the caller is the signed IAM principal (`requestContext.identity.userArn`),
mapped to a hookrun user by the item pk=PRINCIPAL#<arn>, sk=PRINCIPAL. Only the local stack, which has no IAM,
names the acting user with the `X-Hookrun-User` header; anywhere else that header is ignored, so it cannot be forged.
An admin principal that no user is mapped to acts under its own ARN.
"""

from __future__ import annotations

import os
from typing import Protocol

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from domain.errors import ErrorCode
from domain.management import Caller
from domain.models import USER_ID

from .http import RequestRejected

LOCAL_STACK_ENV = "HOOKRUN_LOCAL_STACK"
ADMIN_PRINCIPALS_ENV = "ADMIN_PRINCIPALS"
USER_HEADER = "X-Hookrun-User"
LOCAL_ADMIN = "admin"


class PrincipalReader(Protocol):
    def user_id_for_principal(self, principal_arn: str) -> str | None:
        """The hookrun user id an IAM principal acts as, or None if it is not mapped."""
        ...


def is_local_stack() -> bool:
    """True only on the local stack, which sets HOOKRUN_LOCAL_STACK=1; never on AWS."""
    return os.environ.get(LOCAL_STACK_ENV) == "1"


def caller_id(event: APIGatewayProxyEvent, principals: PrincipalReader) -> str | None:
    """The hookrun user making the request, or None if the request names no known identity."""
    if is_local_stack():
        user_id = (event.headers.get(USER_HEADER) or "").strip()
    else:
        principal_arn = event.request_context.identity.user_arn
        user_id = (principals.user_id_for_principal(principal_arn) if principal_arn else None) or ""
    return user_id if USER_ID.fullmatch(user_id) else None


def is_admin(event: APIGatewayProxyEvent, user_id: str | None) -> bool:
    """Admins read everything: `admin` on the local stack; on AWS, a principal listed in ADMIN_PRINCIPALS."""
    if is_local_stack():
        return user_id == LOCAL_ADMIN
    principal_arn = event.request_context.identity.user_arn
    admins = {arn.strip() for arn in os.environ.get(ADMIN_PRINCIPALS_ENV, "").split(",") if arn.strip()}
    return principal_arn is not None and principal_arn in admins


def identify(event: APIGatewayProxyEvent, principals: PrincipalReader) -> Caller:
    """The caller of an API request as the use cases take it; raises UNAUTHENTICATED when it names nobody."""
    user_id = caller_id(event, principals)
    admin = is_admin(event, user_id)
    principal_arn = event.request_context.identity.user_arn
    if user_id is None and admin and principal_arn:
        user_id = principal_arn
    if user_id is None:
        how = (
            "Name the acting user with the X-Hookrun-User header (hookrun ... --as USER)."
            if is_local_stack()
            else "Sign the request with an IAM principal that is mapped to a hookrun user."
        )
        raise RequestRejected(ErrorCode.UNAUTHENTICATED, f"The request names no hookrun user. {how}")
    return Caller(user_id=user_id, is_admin=admin)
