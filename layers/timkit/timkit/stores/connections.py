"""The WebSocket gateway's open connections (DynamoDB) and API Gateway's management API, which
posts frames to them.

The connections table (key ``pk``, sort key ``sk``, TTL attribute ``expiration``) holds, per
connection, ``conn#<connectionId>`` / ``user`` (whose connection it is, read for each frame) and,
per user, ``user#<user>`` / ``connections``, the set of the user's connection ids (read for many
users at once by the fan-out: a batch read per 100 recipients, not a query per recipient). Both
expire when API Gateway ends a connection anyway (its 2-hour limit), so what a connection whose
``$disconnect`` never came leaves does not stay: its id in a set is removed when a post finds it
gone, or when the user's connections are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import boto3
from botocore.config import Config

from timkit.stores.dynamo import attrs, plain

_OWNER = "user"
_CONNECTIONS = "connections"
# BatchGetItem reads at most 100 keys per call.
_BATCH = 100


def _user_key(user: str) -> dict[str, Any]:
    return attrs({"pk": f"user#{user}", "sk": _CONNECTIONS})


def _connection_key(connection_id: str) -> dict[str, Any]:
    return attrs({"pk": f"conn#{connection_id}", "sk": _OWNER})


class ConnectionStore:
    def __init__(self, table: str, client: Any | None = None, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._db = client or boto3.client("dynamodb")
        self._clock = clock

    def add(self, user: str, connection_id: str, lifetime_seconds: int) -> None:
        expiration = int(self._clock()) + lifetime_seconds
        # Both or neither: a connection the fan-out knows of is one a frame can be answered on.
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_connection_key(connection_id),
                            **attrs({"user": user, "expiration": expiration}),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _user_key(user),
                        "UpdateExpression": "ADD ids :id SET expiration = :expiration",
                        "ExpressionAttributeValues": {
                            ":id": {"SS": [connection_id]},
                            ":expiration": {"N": str(expiration)},
                        },
                    }
                },
            ]
        )

    def user_of(self, connection_id: str) -> str | None:
        """Whose open connection ``connection_id`` is; None when it is not (or no longer) open."""
        found = self._db.get_item(TableName=self._table, Key=_connection_key(connection_id), ConsistentRead=True).get(
            "Item"
        )
        if not found:
            return None
        item = plain(found)
        return str(item["user"]) if item.get("expiration", 0) > self._clock() else None

    def connections(self, user: str) -> list[str]:
        """``user``'s connections (some may have gone since without a ``$disconnect``)."""
        return self.connections_of([user]).get(user, [])

    def connections_of(self, users: Iterable[str]) -> dict[str, list[str]]:
        """The connections of each of ``users`` that has any."""
        wanted = sorted(set(users))
        found: dict[str, list[str]] = {}
        now = self._clock()
        for start in range(0, len(wanted), _BATCH):
            request: dict[str, Any] = {self._table: {"Keys": [_user_key(u) for u in wanted[start : start + _BATCH]]}}
            while request:
                page = self._db.batch_get_item(RequestItems=request)
                for item in map(plain, page.get("Responses", {}).get(self._table, [])):
                    if item.get("ids") and item.get("expiration", 0) > now:
                        found[item["pk"].removeprefix("user#")] = sorted(item["ids"])
                request = page.get("UnprocessedKeys") or {}
        return found

    def open_connections(self, user: str) -> list[str]:
        """``user``'s connections that are still open; the others are forgotten on the way."""
        ids = self.connections(user)
        if not ids:
            return []
        live: set[str] = set()
        for start in range(0, len(ids), _BATCH):
            keys = [_connection_key(i) for i in ids[start : start + _BATCH]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                page = self._db.batch_get_item(RequestItems=request)
                now = self._clock()
                live |= {
                    item["pk"].removeprefix("conn#")
                    for item in map(plain, page.get("Responses", {}).get(self._table, []))
                    if item.get("expiration", 0) > now
                }
                request = page.get("UnprocessedKeys") or {}
        for gone in set(ids) - live:
            self._forget(user, gone)
        return [i for i in ids if i in live]

    def remove(self, connection_id: str, user: str | None = None) -> None:
        """Forgets a connection (of ``user``, when the caller knows whose it is); a connection already
        gone is no error."""
        owner = user if user is not None else self.user_of(connection_id)
        self._db.delete_item(TableName=self._table, Key=_connection_key(connection_id))
        if owner is not None:
            self._forget(owner, connection_id)

    def _forget(self, user: str, connection_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_user_key(user),
            UpdateExpression="DELETE ids :id",
            ExpressionAttributeValues={":id": {"SS": [connection_id]}},
        )


class ConnectionGone(Exception):
    """The connection is closed (API Gateway's GoneException)."""


class ManagementApi:
    """API Gateway's management API of the WebSocket API (``https://{api}.execute-api.{region}.amazonaws.com/{stage}``)."""

    def __init__(self, endpoint: str, client: Any | None = None, posters: int = 10) -> None:
        # A pooled connection per poster: the fan-out posts from that many threads at once.
        config = Config(max_pool_connections=posters)
        self._api = client or boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=config)

    def post(self, connection_id: str, data: bytes) -> None:
        """Sends one frame; :class:`ConnectionGone` when the connection is closed."""
        try:
            self._api.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._api.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None
