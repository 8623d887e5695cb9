"""Where moto differs from AWS in ways this project's local stack, tests and benchmarks would
measure or trip over, one patch each, applied once per process before moto serves anything.

* DynamoDB applies each item request atomically; moto does not lock, so two threads' conditional
  updates of one item (two workers taking the last slot of a rate window) can both pass. A lock
  around each item request gives that atomicity, no more: work spread over two requests still races.
* moto backs a TransactWriteItems up by deep-copying every table it names, once per action, to
  restore it if the transaction is cancelled: tens of milliseconds per call with a few thousand
  items. The backup is of the items the actions name instead; a cancelled transaction puts exactly
  those back. The same outcome, at any table size.
* moto's SQS works out every attribute of a queue (a pass over all its messages each) to read the
  retention period, once per message it hands out: seconds per receive on a broadcast's queue.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.core.utils import unix_time
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models.table import Table
from moto.sqs.models import SQSBackend

_applied = threading.Lock()
_done = False
# One lock for every DynamoDB item request of the process (moto's backends are process-wide).
_ITEM_LOCK = threading.RLock()
_ITEM_REQUESTS = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


class _TablesAreNotCopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: whole tables are no longer
    copied (transactions back up their items themselves); everything else is, as before."""

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


def _item_backed_up(original: Callable[..., None]) -> Callable[..., None]:
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

    return transact_write_items


def _locked(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def request(*args: Any, **kwargs: Any) -> Any:
        with _ITEM_LOCK:
            return original(*args, **kwargs)

    return request


def _retained(self: SQSBackend, queue_name: str, message: Any) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > unix_time()


def patch_moto() -> None:
    global _done
    with _applied:
        if _done:
            return
        backend = dynamodb_models.DynamoDBBackend
        backend.transact_write_items = _item_backed_up(backend.transact_write_items)
        dynamodb_models.copy = _TablesAreNotCopied()  # type: ignore[assignment]
        for name in _ITEM_REQUESTS:
            setattr(backend, name, _locked(getattr(backend, name)))
        SQSBackend.is_message_valid_based_on_retention_period = _retained
        _done = True
