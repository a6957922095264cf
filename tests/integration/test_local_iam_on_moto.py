"""The local stack's IAM stand-in on moto: a user header signs as that user's principal, mapped in the table."""

from __future__ import annotations

from typing import Any

from adapters.management import DynamoManagement
from hookrun.local_iam import LocalIam, principal_of
from tests.conftest import TABLE


def test_a_header_signs_as_its_users_principal_which_the_api_maps_back_to_the_user(dynamodb: Any) -> None:
    arn = LocalIam(lambda: dynamodb, TABLE).user_arn("carol")
    assert arn == principal_of("carol")
    assert DynamoManagement(dynamodb, TABLE).user_id_for_principal(arn) == "carol"


def test_a_principal_mapped_before_is_kept_across_starts(dynamodb: Any) -> None:
    LocalIam(lambda: dynamodb, TABLE).user_arn("carol")
    assert LocalIam(lambda: dynamodb, TABLE).user_arn("carol") == principal_of("carol")


def test_no_header_or_one_naming_no_user_id_is_unsigned(dynamodb: Any) -> None:
    iam = LocalIam(lambda: dynamodb, TABLE)
    assert [iam.user_arn(None), iam.user_arn(""), iam.user_arn("not a user id!")] == [None, None, None]
