"""Where moto differs from AWS in ways this project's local stack, tests and benchmarks would
measure or trip over, one patch each, applied once per process before moto serves anything.
Each patch has a test in tests/unit/test_moto_upstream.py showing moto's own behaviour: when one
fails after a moto upgrade, moto has fixed that behaviour and the patch goes.

* DynamoDB applies each item request atomically; moto does not lock, so two threads' conditional
  updates of one item (two workers taking the last slot of a rate window) can both pass. A lock
  around each item request gives that atomicity, no more: work spread over two requests still races.
* moto backs a TransactWriteItems up by deep-copying every table it names, once per action, to
  restore it if the transaction is cancelled: tens of milliseconds per call with a few thousand
  items. The backup is of the items the actions name instead; a cancelled transaction puts exactly
  those back. The same outcome, at any table size.
* moto's SQS works out every attribute of a queue, three of them a pass over all its messages, to
  read one: the retention period for each message it hands out, whether a FIFO queue deduplicates
  by content for each message sent. On a broadcast's queue of a few thousand items, that was
  seconds per receive, and most of a minute to plan the broadcast. A queue's attributes are worked
  out when each is read instead. And it reads the clock twice per message to list the ones it may
  hand out, on every receive: once per listing now.
* moto's server finds the service a request is for by listing its own package directory and then
  trying a few hundred URL patterns, under one lock, for every request: a fifth of the local
  stack's time under load. The answer depends on the host name alone and is kept per host.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from moto.core.utils import camelcase_to_underscores, unix_time_millis
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Queue

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


class _QueueAttributes(Mapping[str, Any]):
    """What moto's ``Queue.attributes`` holds, each value worked out only when it is read."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            names += queue.KMS_ATTRIBUTES
        self._names = tuple(dict.fromkeys(names))

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        value = getattr(self._queue, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and value:
            return json.dumps(value)
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _available(self: Queue) -> list[Any]:
    """``Queue.messages``: the messages neither in flight nor delayed, by one reading of the clock."""
    now = unix_time_millis()
    return [message for message in self._messages if message.visible_at < now and message.delayed_until <= now]


def _cached_per_host(original: Callable[[Any, str | None], Any]) -> Callable[[Any, str | None], Any]:
    found: dict[str | None, Any] = {}

    @functools.wraps(original)
    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # Called under the dispatcher's lock: the dictionary needs no lock of its own.
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    return get_backend_for_host


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
        Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]
        Queue.messages = property(_available)  # type: ignore[assignment,method-assign]
        dispatcher = DomainDispatcherApplication
        dispatcher.get_backend_for_host = _cached_per_host(dispatcher.get_backend_for_host)  # type: ignore[method-assign]
        _done = True
