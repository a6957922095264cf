"""The management use cases' tests again, on the DynamoDB adapter (table from template.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.management import DynamoManagement
from domain.management import ManagementPorts
from tests.conftest import TABLE
from tests.unit.test_management import *  # noqa: F403 - the same behaviours, another store
from tests.unit.test_management import seeded


@pytest.fixture
def ports(dynamodb: Any) -> ManagementPorts:
    return seeded(DynamoManagement(dynamodb, TABLE))


def test_principals_map_to_their_user_and_move_with_it(dynamodb: Any, ports: ManagementPorts) -> None:
    from domain.management import Caller, put_user
    from domain.models import UserStatus

    store = DynamoManagement(dynamodb, TABLE)
    admin = Caller("admin", is_admin=True)
    put_user(ports, admin, "alice", UserStatus.ACTIVE, ("arn:aws:iam::123456789012:user/alice",))
    assert store.user_id_for_principal("arn:aws:iam::123456789012:user/alice") == "alice"
    put_user(ports, admin, "alice", UserStatus.ACTIVE, ())
    assert store.user_id_for_principal("arn:aws:iam::123456789012:user/alice") is None


def test_items_keep_the_webhook_hot_path_readable(dynamodb: Any, ports: ManagementPorts) -> None:
    from adapters.dynamodb import DynamoAccessReader, DynamoTriggerReader
    from domain.management import Caller, enable_webhook
    from domain.tokens import hash_token

    token = enable_webhook(ports, Caller("alice"), "demo").token or ""
    trigger = DynamoTriggerReader(dynamodb, TABLE).get_trigger(hash_token(token))
    assert trigger is not None and trigger.run_as == "alice"
    access = DynamoAccessReader(dynamodb, TABLE).get_access("demo", "alice")
    assert access.pipeline is not None and access.grant is not None and access.user is not None
