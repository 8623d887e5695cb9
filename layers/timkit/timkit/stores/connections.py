"""The WebSocket gateway's open connections (DynamoDB) and API Gateway's management API, which
posts frames to them.

The connections table (key ``pk``, sort key ``sk``, TTL attribute ``expiration``) holds two items
per connection: ``user#<user>`` / ``<connectionId>`` (a user's connections, read by the fan-out)
and ``conn#<connectionId>`` / ``user`` (whose connection it is, read for each frame). Both expire
when API Gateway ends the connection anyway (its 2-hour limit), so a connection whose
``$disconnect`` never came does not stay; until TTL removes them, expired items are not read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from timkit.stores.dynamo import attrs, plain

_OWNER = "user"


def _user_pk(user: str) -> str:
    return f"user#{user}"


def _connection_pk(connection_id: str) -> str:
    return f"conn#{connection_id}"


class ConnectionStore:
    def __init__(self, table: str, client: Any | None = None, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._db = client or boto3.client("dynamodb")
        self._clock = clock

    def add(self, user: str, connection_id: str, lifetime_seconds: int) -> None:
        now = int(self._clock())
        expiration = now + lifetime_seconds
        # Both or neither: a connection the fan-out knows of is one a frame can be answered on.
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": attrs(
                            {"pk": _connection_pk(connection_id), "sk": _OWNER, "user": user, "expiration": expiration}
                        ),
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": attrs(
                            {"pk": _user_pk(user), "sk": connection_id, "since": now, "expiration": expiration}
                        ),
                    }
                },
            ]
        )

    def user_of(self, connection_id: str) -> str | None:
        """Whose open connection ``connection_id`` is; None when it is not (or no longer) open."""
        found = self._db.get_item(
            TableName=self._table, Key=attrs({"pk": _connection_pk(connection_id), "sk": _OWNER}), ConsistentRead=True
        ).get("Item")
        if not found:
            return None
        item = plain(found)
        return str(item["user"]) if item.get("expiration", 0) > self._clock() else None

    def connections(self, user: str) -> list[str]:
        """``user``'s open connections."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": attrs({":pk": _user_pk(user)}),
            "ConsistentRead": True,
        }
        now = self._clock()
        while True:
            page = self._db.query(**kwargs)
            ids += [item["sk"] for item in map(plain, page.get("Items", [])) if item.get("expiration", 0) > now]
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, connection_id: str, user: str | None = None) -> None:
        """Forgets a connection (of ``user``, when the caller knows whose it is); a connection already
        gone is no error."""
        owner = user if user is not None else self.user_of(connection_id)
        keys = [{"pk": _connection_pk(connection_id), "sk": _OWNER}]
        if owner is not None:
            keys.append({"pk": _user_pk(owner), "sk": connection_id})
        for key in keys:
            self._db.delete_item(TableName=self._table, Key=attrs(key))


class ConnectionGone(Exception):
    """The connection is closed (API Gateway's GoneException)."""


class ManagementApi:
    """API Gateway's management API of the WebSocket API (``https://{api}.execute-api.{region}.amazonaws.com/{stage}``)."""

    def __init__(self, endpoint: str, client: Any | None = None) -> None:
        self._api = client or boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)

    def post(self, connection_id: str, data: bytes) -> None:
        """Sends one frame; :class:`ConnectionGone` when the connection is closed."""
        try:
            self._api.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._api.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None
