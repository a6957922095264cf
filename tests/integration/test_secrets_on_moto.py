"""Signing secrets in Secrets Manager (moto): written by the store, read through Powertools with a cache."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from adapters.secrets import SecretsManagerSigningSecrets, SecretsManagerSigningSecretStore
from tests.conftest import REGION


@pytest.fixture
def client(aws: None) -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


def test_a_written_secret_is_read_back_and_replaced(client: Any) -> None:
    store = SecretsManagerSigningSecretStore(client, "hookrun/test/")
    name = store.put_signing_secret("demo", "first-value")
    assert name == "hookrun/test/pipelines/demo/webhook-signing-secret"
    assert SecretsManagerSigningSecrets().get_signing_secret(name) == "first-value"
    store.put_signing_secret("demo", "second-value")
    assert SecretsManagerSigningSecrets().get_signing_secret(name) == "second-value"


def test_a_deleted_or_missing_secret_reads_as_none(client: Any) -> None:
    store = SecretsManagerSigningSecretStore(client, "hookrun/test/")
    name = store.put_signing_secret("demo", "value")
    store.delete_signing_secret(name)
    store.delete_signing_secret(name)  # deleting twice is fine
    assert (
        SecretsManagerSigningSecrets().get_signing_secret("hookrun/test/pipelines/none/webhook-signing-secret") is None
    )


def test_a_name_still_being_deleted_asks_the_caller_to_retry(client: Any) -> None:
    from domain.errors import Unavailable

    store = SecretsManagerSigningSecretStore(client, "hookrun/test/")

    def still_deleting(**_: Any) -> None:
        raise client.exceptions.InvalidRequestException(
            {"Error": {"Code": "InvalidRequestException", "Message": "scheduled for deletion"}}, "CreateSecret"
        )

    client.create_secret = still_deleting
    with pytest.raises(Unavailable) as caught:
        store.put_signing_secret("demo", "a-new-value-0123456789")
    assert caught.value.retry_after_seconds == 30
