"""The message archive (DynamoDB): one item per message, one per later event on it. This module
owns the table's layout: every key, index attribute and their formats are made here.

Layout: ``pk`` is the message identity (``c2c:<MsgKey>``, ``group:<GroupId>:<MsgSeq>`` or, in a
Community group's topic, ``topic:<GroupId>:<TopicId>:<MsgSeq>``: the models' ``identity``);
``sk`` is ``MSG`` for the message itself, ``MSG#CONFLICT#<content hash>`` for another body
delivered under the same identity, and ``<KIND>#<EventTime, 15 digits>#<event id>`` for what
happened to it later (modifications, recalls). A group's system events (members joining and
leaving, its information changing, its creation and dismissal) are items of their own: ``pk``
``system:<event id>``, ``sk`` ``SYSTEM``. C2C read reports are under ``read:<reader>:<peer>`` /
``REPORT#<LastReadTime, 12 digits>``. Every first write is conditional on the item not existing
yet, which is what makes a repeated delivery change nothing.

Messages and system events also carry ``conversation`` (a conversation id, models/conversations.py) and
``timeline`` (their place in it, :func:`timeline`): the ``ByConversation`` index pages a
conversation in order. It is sparse: nothing else carries both (conflicting bodies, events and
read reports stay out of it). Items archived before the index existed lack ``timeline`` until the
backfill (:meth:`timkit.archive.Archiver.backfill`) gives it to them.
"""

from __future__ import annotations

from typing import Any, Literal

import boto3

from timkit.models.callbacks import (
    BotC2CMessage,
    C2CAfterSend,
    GroupAfterSend,
    GroupCreated,
    GroupEvent,
    GroupMembersJoined,
)
from timkit.models.conversations import MAX_TIME
from timkit.stores.dynamo import attr, attrs, plain, put_if_absent

MESSAGE_SK = "MSG"
CONFLICT_SK_PREFIX = "MSG#CONFLICT#"
SYSTEM_SK = "SYSTEM"
SYSTEM_PK_PREFIX = "system:"
REPORT_SK_PREFIX = "REPORT#"
EventKind = Literal["MODIFY", "RECALL"]
_EVENT_KINDS: tuple[EventKind, ...] = ("MODIFY", "RECALL")
CONVERSATION_INDEX = "ByConversation"
# The index's key attributes, and what a page's item is known by in it.
CONVERSATION = "conversation"
TIMELINE = "timeline"
INDEX_KEY_NAMES = frozenset({"pk", "sk", CONVERSATION, TIMELINE})
# What the summary of a message's later events sets on its item (absent ones are removed).
SUMMARY_FIELDS = ("edited_at", "edited_body", "edited_custom_data", "deleted_at", "deleted_by")
# The one-character end of a second's timelines: every timeline of second t is "<t>#...", and "#" < "$".
_AFTER_SECOND = "$"
# Within a second, a group's creation and members joining come before its messages, and members
# leaving, information changing and dismissal after them ("!" < digits < "~").
_SYSTEM_FIRST = (GroupCreated, GroupMembersJoined)

# What an item's attributes may hold; a mapping is a DynamoDB map of strings.
Value = str | int | bool | dict[str, str]
Key = dict[str, Any]
MessageEvent = C2CAfterSend | BotC2CMessage | GroupAfterSend  # BotGroupMessage is a GroupAfterSend


def conflict_sk(content_hash: str) -> str:
    return CONFLICT_SK_PREFIX + content_hash


def event_sk(kind: EventKind, event_time: int, event_id: str) -> str:
    return f"{kind}#{event_time:015d}#{event_id}"


def event_kind(sk: str) -> EventKind | None:
    """What an event's item records, by its sort key; None for the message's own items."""
    return next((kind for kind in _EVENT_KINDS if sk.startswith(f"{kind}#")), None)


def event_millis(sk: str) -> int:
    """The EventTime an event's sort key holds, as written (0 when the callback had none)."""
    return int(sk.split("#")[1])


def system_pk(event_id: str) -> str:
    return SYSTEM_PK_PREFIX + event_id


def entry_sk(entry_id: str) -> str:
    """The sort key of a history entry's item, by its id (a message identity or a system event's pk)."""
    return SYSTEM_SK if entry_id.startswith(SYSTEM_PK_PREFIX) else MESSAGE_SK


def report_sk(last_read_time: int) -> str:
    return f"{REPORT_SK_PREFIX}{last_read_time:012d}"


def index_attributes(conversation: str, timeline: str) -> dict[str, Value]:
    """What puts an item into the ``ByConversation`` index."""
    return {CONVERSATION: conversation, TIMELINE: timeline}


def _second(value: int) -> str:
    """A time's part of a timeline: Unix seconds, zero-padded so that timelines sort as times do."""
    return f"{min(max(value, 0), MAX_TIME):010d}"


def timeline_range(start_time: int | None, end_time: int | None) -> tuple[str | None, str | None]:
    """The timelines of entries from ``start_time`` to ``end_time`` (Unix seconds, both inclusive,
    either open), as bounds for :meth:`ArchiveStore.conversation_page`."""
    lower = _second(start_time) if start_time is not None else None
    upper = _second(end_time) + _AFTER_SECOND if end_time is not None else None
    return lower, upper


def timeline(event: MessageEvent | GroupEvent, archived_at: int = 0, event_id: str = "") -> str:
    """Where an entry sits in its conversation: ``<MsgTime>#<order>``, the order total within a
    second: a group's ``MsgSeq`` (one sequence for the whole group); a C2C message's ``MsgSeq`` and
    ``MsgRandom`` (what its ``MsgKey`` is made of), after the millisecond its callback fired
    (``EventTime``, within the send's second; 000 without one): each side of a one-to-one chat
    counts its own ``MsgSeq``, and a reply (a bot's, say) often comes within the second; for a
    system event, its milliseconds (``EventTime``, else the time it was archived) and its id.
    Seconds fit ten digits until 2286; C2C MsgSeq and MsgRandom are 32-bit, a group's MsgSeq up to 64."""
    if isinstance(event, GroupEvent):
        millis = event.EventTime if event.EventTime is not None else archived_at * 1000
        first = "!" if isinstance(event, _SYSTEM_FIRST) else "~"
        return f"{_second(millis // 1000)}#{first}{millis % 1000:03d}#{event_id}"
    if isinstance(event, GroupAfterSend):
        return f"{_second(event.MsgTime)}#{max(event.MsgSeq, 0):020d}"
    millis = min(max((event.EventTime or 0) - event.MsgTime * 1000, 0), 999) if event.EventTime else 0
    return f"{_second(event.MsgTime)}#{millis:03d}#{event.MsgSeq:010d}#{event.MsgRandom:010d}"


def _key(pk: str, sk: str) -> Key:
    return attrs({"pk": pk, "sk": sk})


class ArchiveStore:
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = table
        self._client = client or boto3.client("dynamodb")

    def put_once(self, pk: str, sk: str, attributes: dict[str, Value]) -> dict[str, Any] | None:
        """Write the item unless it exists: None when this call wrote it, else the item that is
        there (plain values), so the caller can tell a repeat from another body."""
        item = _key(pk, sk) | attrs(attributes)
        return put_if_absent(self._client, self._table, item, "pk")

    def history(self, pk: str) -> list[dict[str, Any]]:
        """The message and its events, in sort-key order, as plain values."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": attrs({":pk": pk}),
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
        values: dict[str, Any] = {":events": attr(events)}
        sets = ["#events = :events"]
        removes = []
        for field in SUMMARY_FIELDS:
            if field in summary:
                sets.append(f"#{field} = :{field}")
                values[f":{field}"] = attr(summary[field])
            else:
                removes.append(f"#{field}")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(pk, MESSAGE_SK),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#events) OR #events < :events)",
                ExpressionAttributeNames={**names, "#events": "events"},
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        """A history entry's item (a message, or a system event), by its id; plain values."""
        found = self._client.get_item(TableName=self._table, Key=_key(entry_id, entry_sk(entry_id)))
        return plain(found["Item"]) if "Item" in found else None

    def conversation_page(
        self, conversation: str, lower: str | None, upper: str | None, forward: bool, limit: int, start: Key | None
    ) -> tuple[list[dict[str, Any]], Key | None]:
        """Up to ``limit`` entries of a conversation in timeline order (``forward``: oldest first),
        those whose timeline is within ``lower``..``upper`` (inclusive, either open), after the
        entry whose key is ``start``; and the key to go on from, if DynamoDB stopped early (its
        1 MB page). Raw DynamoDB items, keys included."""
        condition = f"{CONVERSATION} = :c"
        if lower is not None and upper is not None:
            condition += f" AND {TIMELINE} BETWEEN :lo AND :hi"
        elif lower is not None:
            condition += f" AND {TIMELINE} >= :lo"
        elif upper is not None:
            condition += f" AND {TIMELINE} <= :hi"
        values = attrs({":c": conversation, ":lo": lower, ":hi": upper})
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
            ExpressionAttributeValues=attrs({":pk": pk, ":report": REPORT_SK_PREFIX}),
            ScanIndexForward=False,
            Limit=1,
        )
        return int(plain(page["Items"][0])["sk"].removeprefix(REPORT_SK_PREFIX)) if page["Items"] else None

    def untimed_messages(self, start: Key | None, limit: int) -> tuple[list[dict[str, Any]], Key | None]:
        """Message items without a timeline (archived before the index), from one scan page of
        ``limit`` items; and where the scan goes on (None: it is done)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": f"sk = :msg AND attribute_not_exists({TIMELINE})",
            "ExpressionAttributeValues": attrs({":msg": MESSAGE_SK}),
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
                Key=_key(pk, MESSAGE_SK),
                UpdateExpression=f"SET {CONVERSATION} = :c, {TIMELINE} = :t",
                ConditionExpression=f"attribute_exists(pk) AND attribute_not_exists({TIMELINE})",
                ExpressionAttributeValues=attrs({":c": conversation, ":t": timeline}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
