"""RunSlots on DynamoDB: one item per pipeline incarnation whose string set holds a slot per run not ended.

Taking a slot is one UpdateItem, `ADD` under the condition that the set has fewer members than the limit, so
concurrent webhooks never hold more; freeing is a `DELETE` from the set, which is idempotent. A race-free count
needs one conditional write; a query of RUNNING runs would let two webhooks both see room.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from domain.ports import SlotTake

from . import keys
from .aws_errors import error_code, unavailable_on_outage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_NAMES = {"#slots": "slots"}
# room for one more, or the slot is this run's already (a retried take)
_ROOM = "attribute_not_exists(#slots) OR size(#slots) < :limit OR contains(#slots, :one)"


class DynamoRunSlots:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def take_slot(self, pipeline_id: str, incarnation: str, slot: str, limit: int) -> SlotTake:
        try:
            with unavailable_on_outage():
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=keys.run_slots_key(pipeline_id, incarnation),
                    UpdateExpression="ADD #slots :slot",
                    ConditionExpression=_ROOM,
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={
                        ":slot": {"SS": [slot]},
                        ":one": {"S": slot},
                        ":limit": {"N": str(limit)},
                    },
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            response: dict[str, Any] = dict(exc.response)
            item = response.get("Item") or {}  # the item as the refused write found it
            return SlotTake(taken=False, held=tuple(sorted(item.get("slots", {}).get("SS", []))))
        before = answer.get("Attributes", {}).get("slots", {}).get("SS", [])
        return SlotTake(taken=True, held_already=slot in before)

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
