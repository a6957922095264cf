"""The delivery log in DynamoDB: one item per request, kept 30 days (TTL), listed newest first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from domain.deliveries import DELIVERY_RETENTION_DAYS, Delivery, Outcome
from domain.ports import Page

from . import keys
from .aws_errors import unavailable_on_outage
from .dynamodb import DynamoTable
from .pages import newest_first_page

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDeliveryLog(DynamoTable):
    def __init__(self, client: DynamoDBClient, table_name: str, now_epoch: Callable[[], float]) -> None:
        super().__init__(client, table_name)
        self._now_epoch = now_epoch

    def record(self, delivery: Delivery) -> None:
        expires = int(self._now_epoch()) + DELIVERY_RETENTION_DAYS * 24 * 3600
        with unavailable_on_outage():
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": keys.deliveries_pk(delivery.pipeline_id, delivery.incarnation)},
                    "sk": {"S": f"{delivery.received_at}#{_suffix(delivery)}"},
                    "type": {"S": "delivery"},
                    "delivery": {"S": delivery.model_dump_json(by_alias=True, exclude_none=True)},
                    keys.TTL_ATTRIBUTE: {"N": str(expires)},
                },
            )

    def list_deliveries(
        self, pipeline_id: str, limit: int = 20, cursor: str | None = None, incarnation: str = ""
    ) -> Page[Delivery]:
        partition = ("pk", keys.deliveries_pk(pipeline_id, incarnation))
        items, next_cursor = newest_first_page(self._client, self._table, partition, limit, cursor)
        return [Delivery.model_validate_json(item["delivery"]["S"]) for item in items], next_cursor


def _suffix(delivery: Delivery) -> str:
    # the workflow may write a run's start more than once (retries, its failure path): they are one item
    return delivery.run_id if delivery.outcome is Outcome.RUN_STARTED and delivery.run_id else uuid.uuid4().hex[:8]
