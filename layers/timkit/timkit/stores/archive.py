"""The message archive (DynamoDB): one item per message, one per later event on it.

Layout: ``pk`` is the message identity (``c2c:<MsgKey>``, ``group:<GroupId>:<MsgSeq>`` or, in a
Community group's topic, ``topic:<GroupId>:<TopicId>:<MsgSeq>``);
``sk`` is ``MSG`` for the message itself, ``MSG#CONFLICT#<content hash>`` for another body
delivered under the same identity, and ``<KIND>#<event id>`` for what happened to it later
(modifications, recalls). A group's system events (members joining and leaving, its information
changing, its creation and dismissal) are items of their own: ``pk`` ``system:<event id>``, ``sk``
``SYSTEM``. C2C read reports are under ``read:<reader>:<peer>`` / ``REPORT#<LastReadTime>``.
Every first write is conditional on the item not existing yet, which is what makes a repeated
delivery change nothing.

Messages and system events also carry ``conversation`` (a conversation id, models/history.py) and
``timeline`` (their place in it, :func:`timkit.archive.timeline`): the ``ByConversation`` index
pages a conversation in order. It is sparse: nothing else carries both (conflicting bodies,
events and read reports stay out of it). Items archived before the index existed lack
``timeline`` until the backfill (:meth:`timkit.archive.Archiver.backfill`) gives it to them.
"""

from __future__ import annotations

from typing import Any

import boto3

MESSAGE_SK = "MSG"
CONFLICT_SK_PREFIX = "MSG#CONFLICT#"
SYSTEM_SK = "SYSTEM"
CONVERSATION_INDEX = "ByConversation"
# What the summary of a message's later events sets on its item (absent ones are removed).
SUMMARY_FIELDS = ("edited_at", "edited_body", "edited_custom_data", "deleted_at", "deleted_by")

# What an item's attributes may hold; a mapping is a DynamoDB map of strings.
Value = str | int | bool | dict[str, str]
Key = dict[str, Any]


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
            return plain(exc.response.get("Item", {}))
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
            items.extend(plain(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_summary(self, pk: str, summary: dict[str, Value], events: int) -> bool:
        """Sets what ``events`` later events make of the message (``summary``: some of
        SUMMARY_FIELDS; the others are removed), unless a summary of as many or more is there:
        events are only ever added, so a summary of fewer is older. False when it was not set."""
        names = {f"#{field}": field for field in SUMMARY_FIELDS}
        values: dict[str, Any] = {":events": {"N": str(events)}}
        sets = ["#events = :events"]
        removes = []
        for field in SUMMARY_FIELDS:
            if field in summary:
                sets.append(f"#{field} = :{field}")
                values[f":{field}"] = _attr(summary[field])
            else:
                removes.append(f"#{field}")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": MESSAGE_SK}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#events) OR #events < :events)",
                ExpressionAttributeNames={**names, "#events": "events"},
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self._client.get_item(TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        return plain(found["Item"]) if "Item" in found else None

    def conversation_page(
        self, conversation: str, lower: str | None, upper: str | None, forward: bool, limit: int, start: Key | None
    ) -> tuple[list[dict[str, Any]], Key | None]:
        """Up to ``limit`` entries of a conversation in timeline order (``forward``: oldest first),
        those whose timeline is within ``lower``..``upper`` (inclusive, either open), after the
        entry whose key is ``start``; and the key to go on from, if DynamoDB stopped early (its
        1 MB page). Raw DynamoDB items, keys included."""
        condition = "conversation = :c"
        values: dict[str, Any] = {":c": {"S": conversation}}
        if lower is not None and upper is not None:
            condition += " AND timeline BETWEEN :lo AND :hi"
            values |= {":lo": {"S": lower}, ":hi": {"S": upper}}
        elif lower is not None:
            condition += " AND timeline >= :lo"
            values[":lo"] = {"S": lower}
        elif upper is not None:
            condition += " AND timeline <= :hi"
            values[":hi"] = {"S": upper}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CONVERSATION_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        page = self._client.query(**kwargs)
        return page["Items"], page.get("LastEvaluatedKey")

    def latest_report(self, pk: str) -> int | None:
        """The latest LastReadTime recorded under a ``read:<reader>:<peer>`` identity."""
        page = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :report)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":report": {"S": "REPORT#"}},
            ScanIndexForward=False,
            Limit=1,
        )
        return int(page["Items"][0]["sk"]["S"].removeprefix("REPORT#")) if page["Items"] else None

    def untimed_messages(self, start: Key | None, limit: int) -> tuple[list[dict[str, Any]], Key | None]:
        """Message items without a timeline (archived before the index), from one scan page of
        ``limit`` items; and where the scan goes on (None: it is done)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :msg AND attribute_not_exists(timeline)",
            "ExpressionAttributeValues": {":msg": {"S": MESSAGE_SK}},
            "ProjectionExpression": "pk, sk, #command, #body",
            "ExpressionAttributeNames": {"#command": "command", "#body": "body"},
            "Limit": limit,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        page = self._client.scan(**kwargs)
        return [plain(item) for item in page["Items"]], page.get("LastEvaluatedKey")

    def set_timeline(self, pk: str, conversation: str, timeline: str) -> bool:
        """Puts an archived message into the index, unless it has a timeline by now (written since,
        by a newer release or another backfill): False then."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": MESSAGE_SK}},
                UpdateExpression="SET conversation = :c, timeline = :t",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(timeline)",
                ExpressionAttributeValues={":c": {"S": conversation}, ":t": {"S": timeline}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _attr(value: Value) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: {"S": v} for k, v in value.items()}}
    return {"S": value}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes as plain values."""
    return {name: _plain(value) for name, value in item.items()}


def _plain(attr: dict[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind == "N":
        return int(value)
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    return value
