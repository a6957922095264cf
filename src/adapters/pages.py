"""Pages of a partition, newest first, and the opaque cursors that continue them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidCursor
from domain.ports import Page

from .aws_errors import unavailable_on_outage

Item = dict[str, Any]
MAX_PAGE_SIZE = 100


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None, partition: tuple[str, str]) -> dict[str, Any] | None:
    """The start key a cursor stands for, if it is a key of the list `partition` (attribute, value) names."""
    if not cursor:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    name, value = partition
    if (
        not isinstance(decoded, dict)
        or not decoded.keys() <= {"pk", "sk", "gsi1pk", "gsi1sk"}
        or not all(isinstance(v, dict) and isinstance(v.get("S"), str) and len(v) == 1 for v in decoded.values())
        or decoded.get(name) != {"S": value}
    ):
        raise InvalidCursor()
    return decoded


def newest_first_page(
    client: Any, table: str, partition: tuple[str, str], limit: int, cursor: str | None, *, index: str | None = None
) -> Page[Item]:
    """One page of a partition (`(key attribute, value)`), newest first, and the cursor of the next page."""
    name, value = partition
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": f"{name} = :pk",
        "ExpressionAttributeValues": {":pk": {"S": value}},
        "ScanIndexForward": False,
        "Limit": max(1, min(limit, MAX_PAGE_SIZE)),
    }
    if index:
        query["IndexName"] = index
    start = decode_cursor(cursor, partition)
    if start:
        query["ExclusiveStartKey"] = start
    with unavailable_on_outage():
        page = client.query(**query)
    return list(page.get("Items", [])), encode_cursor(page.get("LastEvaluatedKey"))
