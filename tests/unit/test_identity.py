"""Who is calling: the hookrun user mapped to the signing IAM principal, and whether it is an admin."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from domain.policy import Caller
from handlers.http import RequestRejected
from handlers.identity import caller_id, identify, is_admin
from hookrun.local_iam import principal_of
from tests.support import api_event

ALICE_ARN = "arn:aws:iam::123456789012:user/alice"


class Principals:
    def __init__(self, users_by_arn: dict[str, str]) -> None:
        self.users_by_arn = users_by_arn
        self.asked: list[str] = []

    def user_id_for_principal(self, principal_arn: str) -> str | None:
        self.asked.append(principal_arn)
        return self.users_by_arn.get(principal_arn)


def event(user: str | None = "alice", user_arn: str | None = ALICE_ARN) -> APIGatewayProxyEvent:
    return APIGatewayProxyEvent(api_event("api-get-run.json", user=user, user_arn=user_arn))


NO_ADMINS: frozenset[str] = frozenset()


def test_the_caller_is_the_user_mapped_to_the_iam_principal() -> None:
    assert caller_id(event(user="mallory"), Principals({ALICE_ARN: "alice"})) == "alice"


def test_the_user_header_is_never_read() -> None:
    principals = Principals({})
    assert caller_id(event(user="bob", user_arn=None), principals) is None
    assert principals.asked == []


def test_a_principal_mapped_to_a_malformed_user_id_is_nobody() -> None:
    assert caller_id(event(), Principals({ALICE_ARN: "x" * 500})) is None


def test_an_admin_is_a_principal_listed_in_admin_principals() -> None:
    admins = frozenset({"arn:aws:iam::123456789012:role/ops", ALICE_ARN})
    assert is_admin(event(user="nobody"), admins)
    assert not is_admin(event(user_arn="arn:aws:iam::123456789012:user/bob"), admins)


def test_a_header_naming_admin_makes_no_admin() -> None:
    assert not is_admin(event(user="admin", user_arn=None), frozenset({principal_of("admin")}))


def test_admin_principal_without_a_user_acts_under_its_arn() -> None:
    assert identify(event(), Principals({}), frozenset({ALICE_ARN})) == Caller(ALICE_ARN, is_admin=True)


def test_admin_principal_with_a_user_acts_as_that_user() -> None:
    assert identify(event(), Principals({ALICE_ARN: "alice"}), frozenset({ALICE_ARN})) == Caller("alice", is_admin=True)


def test_unmapped_principal_is_unauthenticated() -> None:
    with pytest.raises(RequestRejected) as raised:
        identify(event(user="admin"), Principals({}), NO_ADMINS)
    assert raised.value.code == "UNAUTHENTICATED"


def test_the_local_admin_is_an_admin_through_admin_principals() -> None:
    signed = event(user="admin", user_arn=principal_of("admin"))
    admins = frozenset({principal_of("admin")})
    assert identify(signed, Principals({principal_of("admin"): "admin"}), admins) == Caller("admin", is_admin=True)
