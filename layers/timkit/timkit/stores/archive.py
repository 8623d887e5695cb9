"""The message archive (DynamoDB): one item per message, one per later event on it.

Layout: ``pk`` is the message identity (``c2c:<MsgKey>`` or ``group:<GroupId>:<MsgSeq>``);
``sk`` is ``MSG`` for the message itself and ``<KIND>#<event id>`` for what happened to it later
(modifications, recalls). Every write is conditional on the item not existing yet, which is what
makes a repeated delivery change nothing.
"""

from __future__ import annotations

from typing import Any

import boto3

MESSAGE_SK = "MSG"


class ArchiveStore:
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = table
        self._client = client or boto3.client("dynamodb")

    def put_once(self, pk: str, sk: str, attributes: dict[str, str | int | bool]) -> bool:
        """Write the item unless it exists. True when this call wrote it."""
        item = {"pk": {"S": pk}, "sk": {"S": sk}} | {name: _attr(value) for name, value in attributes.items()}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def history(self, pk: str) -> list[dict[str, Any]]:
        """The message and its events, in sort-key order, as plain values."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**kwargs)
            items.extend({k: _plain(v) for k, v in item.items()} for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _attr(value: str | int | bool) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": value}


def _plain(attr: dict[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind == "N":
        return int(value)
    return value
