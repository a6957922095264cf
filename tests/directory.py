"""Writes pipelines, users, grants and triggers straight into the table: the tests' and benchmarks' seeding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters import keys
from adapters.aws_errors import unavailable_on_outage
from adapters.dynamodb import (
    Item,
    grant_to_item,
    pipeline_to_item,
    secret_defaults_item,
    trigger_to_item,
    user_to_item,
)
from domain.models import Grant, Pipeline, Role, Trigger, User
from domain.tokens import hash_token, token_hint
from hookrun.local_iam import LocalIam
from tests.support import DEMO_TOKEN, demo_pipeline

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDirectory:
    """Writes pipelines, users, grants and triggers (seeding and management)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _put(self, item: Item) -> None:
        with unavailable_on_outage():
            self._client.put_item(TableName=self._table, Item=item)

    def save_pipeline(self, pipeline: Pipeline, token_hash: str | None = None) -> None:
        self._put(pipeline_to_item(pipeline, token_hash))
        if (secrets := secret_defaults_item(pipeline)) is not None:
            self._put(secrets)

    def save_user(self, user: User) -> None:
        self._put(user_to_item(user))

    def save_grant(self, grant: Grant) -> None:
        self._put(grant_to_item(grant))

    def save_trigger(self, trigger: Trigger) -> None:
        self._put(trigger_to_item(trigger))

    def delete_grant(self, pipeline_id: str, user_id: str) -> None:
        with unavailable_on_outage():
            self._client.delete_item(TableName=self._table, Key=keys.grant_key(pipeline_id, user_id))


def seed_demo(directory: DynamoDirectory, roles: dict[str, Role]) -> None:
    """Pipeline demo with these users' roles, its webhook enabled (token DEMO_TOKEN) and running as alice."""
    directory.save_pipeline(demo_pipeline(), token_hash=hash_token(DEMO_TOKEN))
    for user_id, role in roles.items():
        directory.save_user(User(id=user_id))
        directory.save_grant(Grant(pipeline_id="demo", user_id=user_id, role=role))
    directory.save_trigger(demo_trigger())


def demo_trigger(**changes: Any) -> Trigger:
    """demo's webhook trigger (token DEMO_TOKEN), enabled and running as alice, with these `changes`."""
    return Trigger(
        token_hash=hash_token(DEMO_TOKEN),
        pipeline_id="demo",
        enabled=True,
        run_as="alice",
        enabled_at="2026-11-27T12:00:00.000Z",
        token_hint=token_hint(DEMO_TOKEN),
    ).model_copy(update=changes)


def map_local_principals(
    dynamodb: Any, table: str, users: tuple[str, ...] = ("admin", "owen", "alice", "bob", "carol")
) -> None:
    """Requests signed as the local API Gateway signs them: each user's local principal, mapped in the table."""
    iam = LocalIam(lambda: dynamodb, table)
    for user in users:
        iam.user_arn(user)
