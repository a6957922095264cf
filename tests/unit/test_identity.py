"""Who is calling: the caller's hookrun user and admin standing, on the local stack and on AWS."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from domain.policy import Caller
from handlers.http import RequestRejected
from handlers.identity import caller_id, identify, is_admin
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


@pytest.fixture
def local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKRUN_LOCAL_STACK", "1")


@pytest.fixture
def on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOKRUN_LOCAL_STACK", raising=False)
    monkeypatch.delenv("ADMIN_PRINCIPALS", raising=False)


def test_local_stack_caller_is_the_header_user(local_stack: None) -> None:
    principals = Principals({})
    assert caller_id(event(user="bob"), principals) == "bob"
    assert principals.asked == []


def test_local_stack_caller_with_a_malformed_user_header_is_nobody(local_stack: None) -> None:
    assert caller_id(event(user="x" * 500), Principals({})) is None


def test_aws_caller_is_the_user_mapped_to_the_iam_principal(on_aws: None) -> None:
    assert caller_id(event(user="mallory"), Principals({ALICE_ARN: "alice"})) == "alice"


def test_aws_caller_without_a_principal_is_nobody(on_aws: None) -> None:
    principals = Principals({})
    assert caller_id(event(user_arn=None), principals) is None
    assert principals.asked == []


def test_local_admin_is_the_user_named_admin(local_stack: None) -> None:
    assert is_admin(event(user="admin"), "admin")
    assert not is_admin(event(user="alice"), "alice")


def test_aws_admin_is_a_principal_listed_in_admin_principals(on_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", f"arn:aws:iam::123456789012:role/ops,{ALICE_ARN}")
    assert is_admin(event(user="nobody"), None)
    assert not is_admin(event(user_arn="arn:aws:iam::123456789012:user/bob"), None)


def test_header_named_admin_is_no_admin_on_aws(on_aws: None) -> None:
    assert not is_admin(event(user="admin"), "admin")


def test_admin_principal_without_a_user_acts_under_its_arn(on_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", ALICE_ARN)
    assert identify(event(), Principals({})) == Caller(ALICE_ARN, is_admin=True)


def test_admin_principal_with_a_user_acts_as_that_user(on_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PRINCIPALS", ALICE_ARN)
    assert identify(event(), Principals({ALICE_ARN: "alice"})) == Caller("alice", is_admin=True)


def test_unmapped_principal_is_unauthenticated(on_aws: None) -> None:
    with pytest.raises(RequestRejected) as raised:
        identify(event(user="admin"), Principals({}))
    assert raised.value.code == "UNAUTHENTICATED"


def test_local_admin_is_an_admin_caller(local_stack: None) -> None:
    assert identify(event(user="admin"), Principals({})) == Caller("admin", is_admin=True)
