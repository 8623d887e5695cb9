"""Makes moto's DynamoDB TransactWriteItems cost what the transaction touches, not the table size.

moto backs every transaction up by deep-copying each table it names, once per action, to restore
it if the transaction is cancelled. With thousands of items that is tens of milliseconds per call,
and a broadcast's planning and per-group bookkeeping are transactions: the local stack, the tests
and the benchmarks would measure moto, not this code. Here the backup is of the items the actions
name instead, and a cancelled transaction puts exactly those back: the same outcome, for any table
size. Applied once per process, before moto serves anything.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models.table import Table

_applied = threading.Lock()
_done = False


class _TablesAreNotCopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: whole tables are no longer
    copied (the patched transaction backs up items itself); everything else is, as before."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    name = op.get("TableName")
    if not name or name not in backend.tables:
        return None
    if "Key" in op:
        return name, op["Key"]
    table = backend.tables[name]
    item = op.get("Item", {})
    key = {table.hash_key_attr: item.get(table.hash_key_attr)}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item.get(table.range_key_attr)
    return (name, key) if all(v is not None for v in key.values()) else None


def _restore(backend: Any, name: str, key: dict[str, Any], before: Any) -> None:
    if before is None:
        if backend.get_item(name, key) is not None:
            backend.delete_item(name, key)
    else:
        backend.put_item(name, before.to_json()["Attributes"])


def speed_up_transactions() -> None:
    global _done
    with _applied:
        if _done:
            return
        original = dynamodb_models.DynamoDBBackend.transact_write_items

        @functools.wraps(original)
        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            backups = []
            for action in transact_items:
                for op in action.values():
                    if isinstance(op, dict) and (found := _key_of(self, op)) is not None:
                        name, key = found
                        backups.append((name, key, copy.deepcopy(self.get_item(name, key))))
            try:
                original(self, transact_items)
            except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
                for name, key, before in reversed(backups):
                    _restore(self, name, key, before)
                raise

        dynamodb_models.copy = _TablesAreNotCopied()  # type: ignore[assignment]
        dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items
        _done = True
