"""RunSlots on DynamoDB: one item per pipeline incarnation whose string set holds a slot per run not ended.

Taking a slot is one UpdateItem, `ADD` under the condition that the set has fewer members than the limit, so
concurrent webhooks never hold more; freeing is a `DELETE` from the set, which is idempotent. A race-free count
needs one conditional write; a query of RUNNING runs would let two webhooks both see room.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from domain.ports import SlotTake

from . import keys
from .aws_errors import error_code, unavailable_on_outage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_NAMES = {"#slots": "slots"}
_KEPT_LIMIT = {"#slots": "slots", "#limit": "limit"}
# room for one more, or the slot is this run's already (a retried take)
_ROOM = "attribute_not_exists(#slots) OR size(#slots) < :limit OR contains(#slots, :one)"
# the same by the limit kept with the slots (written with the pipeline); none kept: refused, taken by its limit then
_ROOM_BY_KEPT_LIMIT = (
    "contains(#slots, :one) OR (attribute_exists(#limit)"
    " AND (attribute_not_exists(#slots) OR (size(#slots) < #limit AND size(#slots) < :ceiling)))"
)


class DynamoRunSlots:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._executor: ThreadPoolExecutor | None = None

    def take_slot(self, pipeline_id: str, incarnation: str, slot: str, limit: int) -> SlotTake:
        # the limit is kept for the next webhook's take alongside its pipeline read
        return self._take(pipeline_id, incarnation, slot, "SET #limit = :limit ADD #slots :slot", _ROOM, limit=limit)

    def begin_take(self, pipeline_id: str, incarnation: str, slot: str, ceiling: int) -> Callable[[], SlotTake]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="run-slots")
        take = partial(self._take, pipeline_id, incarnation, slot, "ADD #slots :slot", _ROOM_BY_KEPT_LIMIT)
        # the caller's context goes along (its logger keys, a test's call recorder)
        return self._executor.submit(contextvars.copy_context().run, take, ceiling=ceiling).result

    def _take(
        self, pipeline_id: str, incarnation: str, slot: str, update: str, condition: str, **limits: int
    ) -> SlotTake:
        values: dict[str, Any] = {":slot": {"SS": [slot]}, ":one": {"S": slot}}
        values |= {f":{name}": {"N": str(value)} for name, value in limits.items()}
        try:
            with unavailable_on_outage():
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=keys.run_slots_key(pipeline_id, incarnation),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=_KEPT_LIMIT,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            response: dict[str, Any] = dict(exc.response)
            item = response.get("Item") or {}  # the item as the refused write found it
            return SlotTake(taken=False, held=tuple(sorted(item.get("slots", {}).get("SS", []))), limit=_limit(item))
        before = answer.get("Attributes", {})
        return SlotTake(taken=True, held_already=slot in before.get("slots", {}).get("SS", []), limit=_limit(before))

    def free_slots(self, pipeline_id: str, incarnation: str, slots: Sequence[str]) -> None:
        if not slots:
            return
        try:
            with unavailable_on_outage():
                self._client.update_item(
                    TableName=self._table,
                    Key=keys.run_slots_key(pipeline_id, incarnation),
                    UpdateExpression="DELETE #slots :slots",
                    # no item, no slot: a deleted pipeline's runs ending later do not make it again
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={":slots": {"SS": list(dict.fromkeys(slots))}},
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise


def _limit(item: dict[str, Any]) -> int | None:
    """The limit kept with the slots, as the take found it."""
    kept = item.get("limit", {}).get("N")
    return int(kept) if kept is not None else None
