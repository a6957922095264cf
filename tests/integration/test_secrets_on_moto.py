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


def test_each_value_is_a_new_secret_and_none_is_overwritten(client: Any) -> None:
    store = SecretsManagerSigningSecretStore(client, "hookrun/test/")
    first = store.put_signing_secret("demo", "first-value")
    second = store.put_signing_secret("demo", "second-value")
    assert first.startswith("hookrun/test/pipelines/demo/webhook-signing-secret-") and first != second
    read = SecretsManagerSigningSecrets().get_signing_secret
    assert (read(first), read(second)) == ("first-value", "second-value")


def test_a_deleted_or_missing_secret_reads_as_none(client: Any) -> None:
    store = SecretsManagerSigningSecretStore(client, "hookrun/test/")
    name = store.put_signing_secret("demo", "value")
    store.delete_signing_secret(name)
    store.delete_signing_secret(name)  # deleting twice is fine
    assert (
        SecretsManagerSigningSecrets().get_signing_secret("hookrun/test/pipelines/none/webhook-signing-secret") is None
    )
