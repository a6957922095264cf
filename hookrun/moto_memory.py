"""Bound what moto keeps in memory, so the local stack's memory stays flat however many runs it serves.

Two of moto's habits keep every item the stack ever wrote, several times over (found by counting moto's live
`Item` objects after a soak: ~40 per run, against 5 items per run in the table):
- every model instance moto ever creates (`BaseModel.__new__`) is appended to a class-wide list, kept for its
  `/moto-api/data.json` dump; among them is each copy of a table, so nothing a copy holds is ever freed. hookrun
  does not read that dump: instances are not listed;
- `TransactWriteItems` deep-copies every table it writes to before it starts, to put the copy back if one of its
  writes fails: a whole table's worth of objects (time and memory) per transaction, growing with every run kept.
  The items the transaction names are copied instead, and put back if it fails. Writes are serialized by
  `local_data`'s write lock, so no other write can come between the copy and the put-back.
Neither changes what moto answers.
"""

from __future__ import annotations

import copy
import gc
import threading
from typing import Any

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's model tracking and DynamoDB transactions; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _forget_model_instances()
        _undo_transactions_by_item()
        _installed = True


def _forget_model_instances() -> None:
    from moto.core.common_models import BaseModel

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = staticmethod(new)  # type: ignore[method-assign]


class _TablesAsTheyAre:
    """moto's DynamoDB models' `copy` module, except that a table is not copied (see `_undo_transactions_by_item`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _undo_transactions_by_item() -> None:
    from moto.dynamodb import models

    from hookrun.local_data import dynamodb_writes

    original = models.DynamoDBBackend.transact_write_items
    models.copy = _TablesAsTheyAre()  # type: ignore[assignment, attr-defined]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with dynamodb_writes:
            before = _items_named(self, transact_items)
            try:
                original(self, transact_items)
            except BaseException:
                for table, hash_key, range_key, item in reversed(before):
                    _put_back(table, hash_key, range_key, item)
                raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _items_named(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for each item a transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    named = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table: Any = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue  # moto refuses the transaction before it writes
            key = op.get("Item") if op_type == "Put" else op.get("Key")
            names = [table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
            if not isinstance(key, dict) or any(name not in key for name in names):
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_key, range_key)
            named.append((table, hash_key, range_key, None if item is None else copy.deepcopy(item)))
    return named


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    partition = table.items.get(hash_key)
    if item is not None:
        table.items.setdefault(hash_key, {})[range_key] = item
    elif partition is not None:
        partition.pop(range_key, None)
        if not partition:
            del table.items[hash_key]


def settle_heap() -> None:
    """Leave the objects the stack made while starting (moto's and botocore's models, ~370k) out of every later
    garbage collection: a full collection walked them all, stopping every thread of the process for ~200 ms, and
    did three times in a 30 s load, which made most of the webhooks' slowest answers."""
    gc.collect()
    gc.freeze()
