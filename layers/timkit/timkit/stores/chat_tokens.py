"""Idempotency records of the thread API's creates and sends (DynamoDB).

One item per token, in the admin API's IdempotencyTable (key ``id``, TTL attribute
``expiration``) under ids of their own (``chat-create#...``, ``chat-send#...``), which never meet
the ``<function>#<hash>`` ids Powertools writes there. What an item holds and how
:mod:`timkit.chat` moves it through its states is described there; this module only reads and
writes it, every write conditional.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from timkit.stores.dynamo import attrs, plain, put_if_absent

# Longer than any retry an operator or a queue makes, far longer than Tencent's 5-minute Random
# window (docs/protocol.md §6.4); DynamoDB deletes expired items within days.
RECORD_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class TokenRecord:
    key: str
    fingerprint: str
    state: str  # "pending" or "done"
    started_at: int
    lease_until: int
    random: int
    result: str | None


class ChatTokenStore:
    def __init__(self, table: str, client: Any | None = None, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._db = client or boto3.client("dynamodb")
        self._clock = clock

    def begin(self, key: str, fingerprint: str, random: int, lease_seconds: int) -> TokenRecord | None:
        """Records a new attempt (pending, leased); None when this call wrote it, else the record
        that is there."""
        now = int(self._clock())
        item = attrs(
            {
                "id": key,
                "fingerprint": fingerprint,
                "state": "pending",
                "started_at": now,
                "lease_until": now + lease_seconds,
                "random": random,
                "expiration": now + RECORD_TTL_SECONDS,
            }
        )
        old = put_if_absent(self._db, self._table, item, "id")
        if old is None:
            return None
        if old:
            return _record(old)
        # Rare: the condition failed on an item deleted since; read it (None: try again).
        return self.get(key) or self.begin(key, fingerprint, random, lease_seconds)

    def get(self, key: str) -> TokenRecord | None:
        found = self._db.get_item(TableName=self._table, Key=_key(key), ConsistentRead=True).get("Item")
        return _record(plain(found)) if found else None

    def take_over(self, record: TokenRecord, lease_seconds: int) -> bool:
        """Leases a pending record whose lease has run out (its attempt crashed or gave up); False
        when another attempt took it first or finished it."""
        now = int(self._clock())
        return self._update(
            record.key,
            "SET lease_until = :new",
            "#state = :pending AND lease_until = :old",
            {":new": now + lease_seconds, ":old": record.lease_until},
        )

    def finish(self, key: str, result: str) -> None:
        """The operation is done: ``result`` (a message id, a thread's outcome) answers every repeat."""
        self._update(key, "SET #state = :done, #result = :result", None, {":done": "done", ":result": result})

    def release(self, key: str) -> None:
        """The attempt ended without knowing whether Tencent did it: a repeat may recover at once."""
        self._update(key, "SET lease_until = :zero", "#state = :pending", {":zero": 0})

    def _update(self, key: str, expression: str, condition: str | None, values: dict[str, Any]) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {
                name: name[1:] for name in ("#state", "#result") if name in expression or name in (condition or "")
            },
        }
        if condition:
            kwargs["ConditionExpression"] = condition
            if ":pending" in condition:
                values[":pending"] = "pending"
        kwargs["ExpressionAttributeValues"] = attrs(values)
        if not kwargs["ExpressionAttributeNames"]:
            del kwargs["ExpressionAttributeNames"]
        try:
            self._db.update_item(**kwargs)
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _key(key: str) -> dict[str, Any]:
    return attrs({"id": key})


def _record(found: dict[str, Any]) -> TokenRecord:
    """A record from its plain values."""
    return TokenRecord(
        key=found["id"],
        fingerprint=found.get("fingerprint", ""),
        state=found.get("state", "pending"),
        started_at=found.get("started_at", 0),
        lease_until=found.get("lease_until", 0),
        random=found.get("random", 0),
        result=found.get("result"),
    )
