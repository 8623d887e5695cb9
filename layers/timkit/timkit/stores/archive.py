"""The message archive (DynamoDB): one item per message, one per later event on it.

Layout: ``pk`` is the message identity (``c2c:<MsgKey>``, ``group:<GroupId>:<MsgSeq>`` or, in a
Community group's topic, ``topic:<GroupId>:<TopicId>:<MsgSeq>``);
``sk`` is ``MSG`` for the message itself, ``MSG#CONFLICT#<content hash>`` for another body
delivered under the same identity, and ``<KIND>#<event id>`` for what happened to it later
(modifications, recalls). Every write is conditional on the item not existing yet, which is what
makes a repeated delivery change nothing.
"""

from __future__ import annotations

from typing import Any

import boto3

MESSAGE_SK = "MSG"
CONFLICT_SK_PREFIX = "MSG#CONFLICT#"

# What an item's attributes may hold; a mapping is a DynamoDB map of strings.
Value = str | int | bool | dict[str, str]


class ArchiveStore:
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = table
        self._client = client or boto3.client("dynamodb")

    def put_once(self, pk: str, sk: str, attributes: dict[str, Value]) -> dict[str, Any] | None:
        """Write the item unless it exists: None when this call wrote it, else the item that is
        there (plain values), so the caller can tell a repeat from another body."""
        item = {"pk": {"S": pk}, "sk": {"S": sk}} | {name: _attr(value) for name, value in attributes.items()}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            return {k: _plain(v) for k, v in exc.response.get("Item", {}).items()}
        return None

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


def _attr(value: Value) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: {"S": v} for k, v in value.items()}}
    return {"S": value}


def _plain(attr: dict[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind == "N":
        return int(value)
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    return value
