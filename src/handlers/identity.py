"""Who is calling the API: the hookrun user behind a request, and whether it administers hookrun.

The API sits behind AWS_IAM auth, so the caller is the signed IAM principal (`requestContext.identity.userArn`),
mapped to a hookrun user by the item pk=PRINCIPAL#<arn>, sk=PRINCIPAL; principals listed in AdminPrincipals are
admins, and one that no user is mapped to acts under its own ARN. The local stack's API Gateway plays the IAM
authorizer (hookrun/local_iam.py), so this module has one path; any `X-Hookrun-User` header is never read here.
"""

from __future__ import annotations

from typing import Protocol

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from domain.errors import ErrorCode
from domain.models import USER_ID
from domain.policy import Caller

from .http import RequestRejected


class PrincipalReader(Protocol):
    def user_id_for_principal(self, principal_arn: str) -> str | None:
        """The hookrun user id an IAM principal acts as, or None if it is not mapped."""
        ...


def caller_id(event: APIGatewayProxyEvent, principals: PrincipalReader) -> str | None:
    """The hookrun user the request's principal is mapped to, or None if it names no known identity."""
    principal_arn = event.request_context.identity.user_arn
    user_id = (principals.user_id_for_principal(principal_arn) if principal_arn else None) or ""
    return user_id if USER_ID.fullmatch(user_id) else None


def is_admin(event: APIGatewayProxyEvent, admins: frozenset[str]) -> bool:
    """Admins see and manage everything: the principals listed in AdminPrincipals."""
    principal_arn = event.request_context.identity.user_arn
    return principal_arn is not None and principal_arn in admins


def identify(event: APIGatewayProxyEvent, principals: PrincipalReader, admins: frozenset[str]) -> Caller:
    """The caller of an API request as the use cases take it; raises UNAUTHENTICATED when it names nobody."""
    user_id = caller_id(event, principals)
    admin = is_admin(event, admins)
    principal_arn = event.request_context.identity.user_arn
    if user_id is None and admin and principal_arn:
        user_id = principal_arn
    if user_id is None:
        raise RequestRejected(
            ErrorCode.UNAUTHENTICATED,
            "The request names no hookrun user. Sign it with an IAM principal mapped to a hookrun user "
            "(on the local stack: name the user with the X-Hookrun-User header, hookrun ... --as USER).",
        )
    return Caller(user_id=user_id, is_admin=admin)
