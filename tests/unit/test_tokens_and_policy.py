import hashlib
import os

import pytest

from domain.models import Grant, Role, User, UserStatus
from domain.policy import can_run, can_view
from domain.tokens import hash_token, is_well_formed, new_token, token_hint


def test_new_token_is_well_formed_and_unique() -> None:
    first, second = new_token(os.urandom), new_token(os.urandom)
    assert is_well_formed(first) and is_well_formed(second)
    assert first != second


def test_token_hash_is_sha256_hex() -> None:
    assert hash_token("hr_x") == hashlib.sha256(b"hr_x").hexdigest()


def test_malformed_tokens_are_recognised() -> None:
    for token in ["", "hr_", "hr_short", "xx_" + "a" * 43, "hr_" + "a" * 42 + "!", "hr_" + "a" * 44]:
        assert not is_well_formed(token)


def test_token_hint_is_the_last_four_characters() -> None:
    assert token_hint("hr_abcdWXYZ") == "WXYZ"


def grant(role: Role) -> Grant:
    return Grant(pipeline_id="demo", user_id="alice", role=role)


def test_runners_and_owners_may_run() -> None:
    alice = User(id="alice")
    assert can_run(alice, grant(Role.RUNNER))
    assert can_run(alice, grant(Role.OWNER))


def test_viewers_without_grant_and_suspended_or_missing_users_may_not_run() -> None:
    alice = User(id="alice")
    assert not can_run(alice, grant(Role.VIEWER))
    assert not can_run(alice, None)
    assert not can_run(User(id="alice", status=UserStatus.SUSPENDED), grant(Role.OWNER))
    assert not can_run(None, grant(Role.OWNER))


def test_a_grant_of_another_user_does_not_count() -> None:
    assert not can_run(User(id="bob"), grant(Role.OWNER))


@pytest.mark.parametrize("role", list(Role))
def test_active_user_with_any_role_can_view(role: Role) -> None:
    assert can_view(User(id="bob"), Grant(pipeline_id="demo", user_id="bob", role=role))


def test_suspended_user_cannot_view() -> None:
    user = User(id="bob", status=UserStatus.SUSPENDED)
    assert not can_view(user, Grant(pipeline_id="demo", user_id="bob", role=Role.OWNER))


def test_user_without_a_grant_cannot_view() -> None:
    assert not can_view(User(id="bob"), None)


def test_missing_user_cannot_view() -> None:
    assert not can_view(None, Grant(pipeline_id="demo", user_id="bob", role=Role.OWNER))


def test_grant_of_another_user_does_not_let_view() -> None:
    assert not can_view(User(id="bob"), Grant(pipeline_id="demo", user_id="alice", role=Role.OWNER))


def test_a_token_with_a_trailing_newline_is_malformed() -> None:
    assert not is_well_formed(new_token(os.urandom) + "\n")
