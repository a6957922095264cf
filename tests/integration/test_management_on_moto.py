"""The management use cases' tests again, on the real adapters: DynamoDB (table from template.yaml) and Secrets
Manager, whose secrets the webhook's own reader reads back."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from adapters.deliveries import DynamoDeliveryLog
from adapters.management import DynamoManagement
from adapters.secrets import SecretsManagerSigningSecrets, SecretsManagerSigningSecretStore
from domain.management import ManagementPorts
from tests.conftest import REGION, TABLE
from tests.unit.test_management import *  # noqa: F403 - the same behaviours, other adapters
from tests.unit.test_management import ReadSecret, seeded


@pytest.fixture
def signing_secrets(aws: None) -> SecretsManagerSigningSecretStore:
    return SecretsManagerSigningSecretStore(boto3.client("secretsmanager", region_name=REGION), "hookrun/test/")


@pytest.fixture
def read_secret(aws: None) -> ReadSecret:
    """The webhook's reader; a new one for every read, so its one-minute cache never hides a change."""
    return lambda name: SecretsManagerSigningSecrets().get_signing_secret(name)


@pytest.fixture
def delivery_log(dynamodb: Any) -> DynamoDeliveryLog:
    return DynamoDeliveryLog(dynamodb, TABLE, time.time)


@pytest.fixture
def ports(
    dynamodb: Any, signing_secrets: SecretsManagerSigningSecretStore, delivery_log: DynamoDeliveryLog
) -> ManagementPorts:
    return seeded(DynamoManagement(dynamodb, TABLE), signing_secrets, delivery_log)


def test_principals_map_to_their_user_and_move_with_it(dynamodb: Any, ports: ManagementPorts) -> None:
    from domain.management import put_user
    from domain.models import UserStatus
    from domain.policy import Caller

    store = DynamoManagement(dynamodb, TABLE)
    admin = Caller("admin", is_admin=True)
    put_user(ports, admin, "alice", UserStatus.ACTIVE, ("arn:aws:iam::123456789012:user/alice",))
    assert store.user_id_for_principal("arn:aws:iam::123456789012:user/alice") == "alice"
    put_user(ports, admin, "alice", UserStatus.ACTIVE, ())
    assert store.user_id_for_principal("arn:aws:iam::123456789012:user/alice") is None


def test_items_keep_the_webhook_hot_path_readable(dynamodb: Any, ports: ManagementPorts) -> None:
    from adapters.dynamodb import DynamoAccessReader, DynamoTriggerReader
    from domain.policy import Caller
    from domain.tokens import hash_token
    from domain.webhook_trigger import enable_webhook

    token = enable_webhook(ports, Caller("alice"), "demo").token or ""
    trigger = DynamoTriggerReader(dynamodb, TABLE).get_trigger(hash_token(token))
    assert trigger is not None and trigger.run_as == "alice"
    access = DynamoAccessReader(dynamodb, TABLE).get_access("demo", "alice")
    assert access.pipeline is not None and access.grant is not None and access.user is not None
