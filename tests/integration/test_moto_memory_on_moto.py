"""hookrun.moto_memory: moto keeps no copy of a table per transaction, and a failed transaction still writes nothing.

On moto in this process, with the table of template.yaml.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.dynamo_type import Item

from hookrun import moto_memory
from tests.conftest import TABLE


@pytest.fixture(autouse=True)
def _installed() -> None:
    moto_memory.install()


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(pk: str, n: int) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**key(pk), "n": {"N": str(n)}}}}


def update(pk: str, n: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(pk),
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": {"N": str(n)}},
        }
    }


def delete(pk: str) -> dict[str, Any]:
    return {"Delete": {"TableName": TABLE, "Key": key(pk)}}


def missing(pk: str) -> dict[str, Any]:
    """A condition that fails: the item must exist, and does not."""
    return {"ConditionCheck": {"TableName": TABLE, "Key": key(pk), "ConditionExpression": "attribute_exists(pk)"}}


def items(dynamodb: Any) -> dict[str, str]:
    return {i["pk"]["S"]: i["n"]["N"] for i in dynamodb.scan(TableName=TABLE)["Items"]}


@pytest.mark.parametrize(
    "writes",
    [
        pytest.param([update("kept", 2), put("new", 1)], id="update-and-put"),
        pytest.param([delete("kept"), put("new", 1)], id="delete-and-put"),
        pytest.param([put("kept", 9), update("new", 3)], id="put-over-and-update-into-being"),
    ],
)
def test_a_transaction_that_fails_leaves_every_item_it_named_as_it_was(dynamodb: Any, writes: list[Any]) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**key("kept"), "n": {"N": "1"}})
    dynamodb.put_item(TableName=TABLE, Item={**key("other"), "n": {"N": "5"}})

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[*writes, missing("absent")])

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(dynamodb) == {"kept": "1", "other": "5"}
    assert "new" not in {
        i["pk"]["S"]
        for i in dynamodb.query(
            TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "new"}}
        )["Items"]
    }


def test_a_transaction_that_succeeds_writes_every_item(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**key("kept"), "n": {"N": "1"}})

    dynamodb.transact_write_items(TransactItems=[update("kept", 2), put("new", 1), delete("never-was")])

    assert items(dynamodb) == {"kept": "2", "new": "1"}


def live_items() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Item)


def test_transactions_keep_no_copy_of_the_table(dynamodb: Any) -> None:
    for n in range(40):
        dynamodb.put_item(TableName=TABLE, Item={**key(f"item-{n}"), "n": {"N": "0"}})
    before = live_items()

    for n in range(30):
        dynamodb.transact_write_items(TransactItems=[update(f"item-{n}", 1), put(f"added-{n}", 1)])

    # 30 items added; moto alone kept a copy of the 40-odd items per transaction (1200 and more)
    assert live_items() - before <= 30 + 10
    assert len(items(dynamodb)) == 70
