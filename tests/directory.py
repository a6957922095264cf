"""Writes pipelines, users, grants and triggers straight into the table: the tests' and benchmarks' seeding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters import keys
from adapters.aws_errors import unavailable_on_outage
from adapters.dynamodb import Item, grant_to_item, pipeline_to_item, trigger_to_item, user_to_item
from domain.models import Grant, Pipeline, Trigger, User

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

    def save_user(self, user: User) -> None:
        self._put(user_to_item(user))

    def save_grant(self, grant: Grant) -> None:
        self._put(grant_to_item(grant))

    def save_trigger(self, trigger: Trigger) -> None:
        self._put(trigger_to_item(trigger))

    def delete_grant(self, pipeline_id: str, user_id: str) -> None:
        with unavailable_on_outage():
            self._client.delete_item(TableName=self._table, Key=keys.grant_key(pipeline_id, user_id))
