"""ConcurrencyGroups on DynamoDB: a lock item taken and released by conditional writes, and waiter items."""

from __future__ import annotations

from typing import Any

from domain.ports import GroupLock

from . import keys
from .aws_errors import unavailable_on_outage, written
from .dynamodb import DynamoTable

_LOCK = "LOCK"


def _waiter_key(group: str, created_at: str, run_id: str) -> keys.Key:
    return keys.key(keys.group_pk(group), f"WAIT#{created_at}#{run_id}")


class DynamoGroups(DynamoTable):
    def add_waiter(self, group: str, created_at: str, run_id: str) -> None:
        item = {**_waiter_key(group, created_at, run_id), "type": {"S": "group-waiter"}, "runId": {"S": run_id}}
        with unavailable_on_outage():
            self._client.put_item(TableName=self._table, Item=item)

    def waiters(self, group: str) -> list[tuple[str, str]]:
        with unavailable_on_outage():
            items = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :wait)",
                ExpressionAttributeValues={":pk": {"S": keys.group_pk(group)}, ":wait": {"S": "WAIT#"}},
                ConsistentRead=True,
            ).get("Items", [])
        found = []
        for item in items:
            created_at, _, run_id = item["sk"]["S"].removeprefix("WAIT#").rpartition("#")
            found.append((created_at, run_id))
        return found

    def remove_waiter(self, group: str, created_at: str, run_id: str) -> None:
        with unavailable_on_outage():
            self._client.delete_item(TableName=self._table, Key=_waiter_key(group, created_at, run_id))

    def lock(self, group: str) -> GroupLock | None:
        with unavailable_on_outage():
            item = self._client.get_item(
                TableName=self._table, Key=keys.key(keys.group_pk(group), _LOCK), ConsistentRead=True
            ).get("Item")
        return GroupLock(item["owner"]["S"], item["leaseUntil"]["S"]) if item else None

    def take_lock(self, group: str, run_id: str, lease_until: str, replacing: str | None) -> bool:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if replacing is None
            else {
                "ConditionExpression": "#owner = :previous",
                "ExpressionAttributeValues": {":previous": {"S": replacing}},
            }
        )
        if replacing is not None:
            condition["ExpressionAttributeNames"] = {"#owner": "owner"}
        item = {
            **keys.key(keys.group_pk(group), _LOCK),
            "type": {"S": "group-lock"},
            "owner": {"S": run_id},
            "leaseUntil": {"S": lease_until},
        }
        return written(lambda: self._client.put_item(TableName=self._table, Item=item, **condition))

    def release_lock(self, group: str, run_id: str) -> None:
        written(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key=keys.key(keys.group_pk(group), _LOCK),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": run_id}},
            )
        )  # another run holds the lock: nothing to free
