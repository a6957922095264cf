"""hookrun.moto_speed's DynamoDB shortcut answers what moto's own serializer answers, operation by operation.

moto's server serves the calls; each answer of an items operation is rendered both ways and compared. And moto's
server keeps a client's connection for its next calls, whatever their bodies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import ThreadedMotoServer
from werkzeug import serving

from hookrun import moto_speed
from hookrun.moto_speed import dumped_answer
from hookrun.template import create_table

TABLE = f"speed-{uuid.uuid4().hex[:8]}"  # moto's backends outlive a test: a table of this module's own
REQUEST_ID = "x-amzn-requestid"  # random, added to both after the answer is rendered


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[tuple[str, Any, Any]]]]:
    """A DynamoDB client of a moto server, and (action, moto's answer, the dumped answer) for each call."""
    seen: list[tuple[str, Any, Any]] = []
    original = DynamoHandler.serialized

    def serialized(self: DynamoHandler, action_result: Any) -> Any:
        answer = original(self, action_result)
        seen.append((self._get_action(), answer, dumped_answer(self, action_result)))
        return answer

    monkeypatch.setattr(DynamoHandler, "serialized", serialized)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    create_table(client, TABLE)
    yield client, seen
    client.delete_table(TableName=TABLE)
    server.stop()


def key(pk: str, sk: str = "1") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_item_answers_dumped_as_they_are_equal_moto_s_serialized_ones(answers: Any) -> None:
    client, seen = answers
    item = {**key("a"), "n": {"N": "3.5"}, "l": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}]}}
    client.put_item(TableName=TABLE, Item={**item, "m": {"M": {"s": {"SS": ["p", "q"]}}}, "gsi1pk": {"S": "g"}})
    client.get_item(TableName=TABLE, Key=key("a"))
    client.get_item(TableName=TABLE, Key=key("missing"))
    client.update_item(
        TableName=TABLE,
        Key=key("a"),
        UpdateExpression="SET n = :v",
        ExpressionAttributeValues={":v": {"N": "4"}},
        ReturnValues="ALL_NEW",
    )
    client.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
    client.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": "g"}},
    )
    client.batch_get_item(RequestItems={TABLE: {"Keys": [key("a"), key("b")]}})
    client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": key("c")}}]})
    client.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": key("d")}}])
    client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key("a")}}])
    client.scan(TableName=TABLE)

    dumped = [(action, moto, fast) for action, moto, fast in seen if fast is not None]
    assert {action for action, _, _ in dumped} == {
        "PutItem", "GetItem", "UpdateItem", "Query", "BatchGetItem", "BatchWriteItem", "TransactWriteItems",
        "TransactGetItems", "Scan",
    }  # fmt: skip
    for action, (status, headers, body), (fast_status, fast_headers, fast_body) in dumped:
        moto_headers = {name: value for name, value in headers.items() if name != REQUEST_ID}
        assert (fast_status, fast_headers, json.loads(fast_body)) == (status, moto_headers, json.loads(body)), action


def test_a_binary_attribute_takes_moto_s_serializer(answers: Any) -> None:
    client, seen = answers
    client.put_item(TableName=TABLE, Item={**key("bin"), "b": {"B": b"\x00\x01"}})
    read = client.get_item(TableName=TABLE, Key=key("bin"))
    assert read["Item"]["b"]["B"] == b"\x00\x01"
    assert [fast for action, _, fast in seen if action == "GetItem"] == [None]


def test_calls_of_one_client_share_one_connection_and_each_gets_its_own_answer(
    answers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = answers
    for name in ("make_environ", "run_wsgi", "send_header", "setup"):
        monkeypatch.setattr(MotoRequestHandler, name, getattr(MotoRequestHandler, name))  # moto's back afterwards
    monkeypatch.setattr(serving, "selectors", serving.selectors)
    connections: list[Any] = []
    setup = MotoRequestHandler.setup
    monkeypatch.setattr(MotoRequestHandler, "setup", lambda handler: (connections.append(handler), setup(handler)))
    moto_speed._keep_connections_alive()
    client.get_item(TableName=TABLE, Key=key("warm"))  # botocore's pool holds a connection from now on
    before = len(connections)
    for index in range(5):
        client.put_item(TableName=TABLE, Item={**key(f"k{index}"), "v": {"S": "x" * 1000 * index}})
        assert client.get_item(TableName=TABLE, Key=key(f"k{index}"))["Item"]["v"]["S"] == "x" * 1000 * index
    client.describe_table(TableName=TABLE)
    assert len(connections) == before


@pytest.mark.parametrize(
    "members", [["a"], ["run-1", "run-2", "é-ü-✓"], [f"2026-12-06T00:00:{n:02d}Z#run-{n}" for n in range(60)]]
)
def test_a_string_set_measures_and_compares_as_moto_s_members_one_by_one_do(
    members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    # moto's own again after the test: only this patch of moto_speed, not the whole install, in the test process
    monkeypatch.setattr(DynamoType, "cast_value", DynamoType.cast_value)
    monkeypatch.setattr(DynamoType, "size", DynamoType.size)
    moto_speed._measure_sets_at_once()
    value = DynamoType({"SS": members})

    assert value.cast_value == {DynamoType({"S": member}).cast_value for member in members}
    assert value.size() == sum(DynamoType({"S": member}).size() for member in members)
    assert DynamoType({"NS": ["1", "2.50"]}).cast_value == {1, 2.5}  # other sets as moto has them
