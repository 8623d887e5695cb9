"""History read from the archive, by conversation (the ``ByConversation`` index, see
:mod:`timkit.stores.archive`): pages of messages and system events in order, one entry, and since
when the archive holds a conversation.

Entries are made from what the archive keeps, the callback bodies as they came: a message's body
is its current one (the last modification's, if modified), with when it was edited and recalled.
A recalled message keeps its body: the archive is the record. C2C conversations come with their
read marks (each user's latest C2C read report to the other).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import ValidationError

from timkit.archive import conversation_of
from timkit.models.callbacks import (
    GroupCreated,
    GroupDestroyed,
    GroupEvent,
    GroupInfoChanged,
    GroupMembersExited,
    GroupMembersJoined,
    parse_callback,
    read_identity,
)
from timkit.models.conversations import MAX_TIME, InvalidConversationId, normalise_conversation, parse_conversation
from timkit.models.elements import KNOWN_ELEMENTS, MsgElement, UnknownElem, parse_body
from timkit.models.history import HistoryEntry, HistoryPage, SystemEvent
from timkit.stores.archive import (
    CONVERSATION,
    INDEX_KEY_NAMES,
    MESSAGE_SK,
    SYSTEM_SK,
    TIMELINE,
    Key,
    MessageEvent,
    timeline_range,
)
from timkit.stores.dynamo import plain
from timkit.stores.paging import decode_token, encode_token

MAX_PAGE_SIZE = 100
MAX_MESSAGE_ID = 400


class InvalidHistoryRequest(ValueError):
    """A request history cannot answer as asked; ``field`` names what is wrong (the route's name)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MessageNotFound(LookupError):
    def __init__(self, conversation: str, message_id: str) -> None:
        super().__init__(f"the archive holds no message {message_id} in {conversation}")
        self.message_id = message_id


class Store(Protocol):
    def conversation_page(
        self, conversation: str, lower: str | None, upper: str | None, forward: bool, limit: int, start: Key | None
    ) -> tuple[list[dict[str, Any]], Key | None]: ...

    def entry(self, entry_id: str) -> dict[str, Any] | None: ...

    def latest_report(self, pk: str) -> int | None: ...


def conversation_id(value: str) -> str:
    """The canonical form of a conversation id; InvalidHistoryRequest naming ``conversationId``."""
    try:
        return normalise_conversation(value)
    except InvalidConversationId as exc:
        raise InvalidHistoryRequest("conversationId", str(exc)) from None


class HistoryService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def page(
        self,
        conversation: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        page_size: int = 50,
        next_token: str | None = None,
        newest_first: bool = True,
    ) -> HistoryPage:
        """One page of a conversation's entries sent (or happened) from ``start_time`` to ``end_time``
        (Unix seconds, both inclusive, either open), newest first unless ``newest_first`` is False.
        ``next_token`` (from the page before, with the same conversation and order) goes on where
        that page stopped; the last page has none. InvalidHistoryRequest names a bad argument,
        :class:`~timkit.stores.paging.InvalidToken` a token that is not one this gave."""
        conversation = conversation_id(conversation)
        for field, value in (("startTime", start_time), ("endTime", end_time)):
            if value is not None and not 0 <= value <= MAX_TIME:
                raise InvalidHistoryRequest(field, f"{field} is Unix seconds, 0 to {MAX_TIME}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidHistoryRequest("pageSize", f"pageSize is 1 to {MAX_PAGE_SIZE}")
        if start_time is not None and end_time is not None and start_time > end_time:
            # A range with nothing in it, not a mistake in either bound: each is valid alone, and the
            # published document can state no rule between two parameters.
            return HistoryPage(conversation=conversation, entries=[], read_marks=self._read_marks(conversation))
        lower, upper = timeline_range(start_time, end_time)
        order = "newest" if newest_first else "oldest"

        def ours(key: dict[str, str]) -> bool:
            # A start key outside the query's range is an error in DynamoDB, not an empty page.
            return (
                set(key) == INDEX_KEY_NAMES
                and key[CONVERSATION] == conversation
                and key["sk"] in (MESSAGE_SK, SYSTEM_SK)
                and (lower is None or key[TIMELINE] >= lower)
                and (upper is None or key[TIMELINE] <= upper)
            )

        start = decode_token(next_token, ours, order=order)
        items: list[dict[str, Any]] = []
        # One more than the page, to know whether there is a next one.
        while len(items) <= page_size:
            found, start = self._store.conversation_page(
                conversation, lower, upper, not newest_first, page_size + 1 - len(items), start
            )
            items.extend(found)
            if start is None:
                break
        last: Key | None = None
        if len(items) > page_size:
            items = items[:page_size]
            last = {name: items[-1][name] for name in INDEX_KEY_NAMES}
        elif start is not None:
            last = start
        return HistoryPage(
            conversation=conversation,
            entries=[entry(plain(item), conversation) for item in items],
            next_token=encode_token(last, order=order),
            read_marks=self._read_marks(conversation),
        )

    def get(self, conversation: str, message_id: str) -> HistoryEntry:
        """One entry of the conversation by its id (a message id of models/conversations.py, or a system
        event's ``system:<id>``); MessageNotFound when the archive holds no such entry there."""
        conversation = conversation_id(conversation)
        if (
            not message_id
            or len(message_id) > MAX_MESSAGE_ID
            or message_id.split(":")[0] not in ("c2c", "group", "topic", "system")
        ):
            raise InvalidHistoryRequest(
                "messageId",
                "a message id is c2c:<MsgKey>, group:<GroupId>:<MsgSeq>, "
                "topic:<GroupId>:<TopicId>:<MsgSeq> or system:<id>",
            )
        item = self._store.entry(message_id)
        # Before the backfill an item has no timeline, and maybe a conversation in an older form:
        # its body says which conversation it is in.
        if item is None or _conversation(item) != conversation:
            raise MessageNotFound(conversation, message_id)
        return entry(item, conversation)

    def covers(self, conversation: str) -> int | None:
        """Since when (Unix seconds) the archive holds the conversation: its earliest entry's time;
        None when it holds nothing of it."""
        conversation = conversation_id(conversation)
        items, _ = self._store.conversation_page(conversation, None, None, True, 1, None)
        return entry(plain(items[0]), conversation).time if items else None

    def _read_marks(self, conversation: str) -> dict[str, int]:
        kind, parts = parse_conversation(conversation)
        if kind != "c2c":
            return {}
        marks: dict[str, int] = {}
        for reader, peer in (parts, parts[::-1]):
            if (read := self._store.latest_report(read_identity(reader, peer))) is not None:
                marks[reader] = read
        return marks


def _conversation(item: dict[str, Any]) -> str | None:
    if TIMELINE in item:
        conversation: str = item[CONVERSATION]
        return conversation
    try:
        event = parse_callback(item["command"], item["body"])
    except (KeyError, ValueError):
        return None
    return conversation_of(event) if isinstance(event, MessageEvent) else None


def entry(item: dict[str, Any], conversation: str) -> HistoryEntry:
    """The history entry an archived item (plain values) makes."""
    doc = json.loads(item["body"])
    if item["sk"] == SYSTEM_SK:
        event = parse_callback(item["command"], item["body"])
        assert isinstance(event, GroupEvent)
        millis = event.EventTime if event.EventTime is not None else item["archived_at"] * 1000
        return HistoryEntry(
            id=item["pk"],
            conversation=conversation,
            kind="system",
            sender=event.Operator_Account,
            time=millis // 1000,
            system=system_event(event),
        )
    edited_body = item.get("edited_body")
    custom = item["edited_custom_data"] if "edited_custom_data" in item else doc.get("CloudCustomData")
    seq = doc.get("MsgSeq")
    return HistoryEntry(
        id=item["pk"],
        conversation=conversation,
        sender=item.get("sender") or doc.get("From_Account"),
        time=item.get("msg_time", 0),
        seq=int(seq) if isinstance(seq, int | str) and str(seq).isdigit() else None,
        body=_body(json.loads(edited_body) if edited_body is not None else doc.get("MsgBody", [])),
        cloud_custom_data=custom if isinstance(custom, str) and custom else None,
        edited_at=item.get("edited_at"),
        deleted_at=item.get("deleted_at"),
        deleted_by=item.get("deleted_by"),
    )


def _body(raw: Any) -> list[MsgElement]:
    """A body as these models read it; an element they refuse (archived by an older release) is
    carried as it came, so that one old message cannot break a page."""
    if not isinstance(raw, list):
        return []
    try:
        return parse_body(raw)
    except ValidationError:
        pass
    body: list[MsgElement] = []
    for element in raw:
        try:
            body.extend(parse_body([element]))
        except ValidationError:
            msg_type = element.get("MsgType") if isinstance(element, dict) else None
            content = element.get("MsgContent") if isinstance(element, dict) else element
            # Under its own type name unless that is a known one (whose model refused it).
            name = msg_type if isinstance(msg_type, str) and msg_type not in KNOWN_ELEMENTS else "TIMUnreadableElem"
            body.append(UnknownElem.model_construct(MsgType=name, MsgContent=content))
    return body


def system_event(event: GroupEvent) -> SystemEvent:
    """What a group's callback (docs/protocol.md §13) says happened, as history tells it."""
    if isinstance(event, GroupCreated):
        members = [event.Owner_Account] if event.Owner_Account else []
        members += [m.Member_Account for m in event.MemberList if m.Member_Account not in members]
        return SystemEvent(
            type="thread_created", operator=event.Operator_Account, participants=members, topic=event.Name
        )
    if isinstance(event, GroupMembersJoined):
        return SystemEvent(
            type="participants_added",
            operator=event.Operator_Account,
            participants=[m.Member_Account for m in event.NewMemberList],
        )
    if isinstance(event, GroupMembersExited):
        return SystemEvent(
            type="participants_removed",
            operator=event.Operator_Account,
            participants=[m.Member_Account for m in event.ExitMemberList],
        )
    if isinstance(event, GroupInfoChanged):
        changes = {
            name: value
            for name in ("Name", "Introduction", "Notification", "FaceUrl")
            if isinstance(value := getattr(event, name), str)
        }
        return SystemEvent(
            type="topic_updated" if event.Name is not None else "info_updated",
            operator=event.Operator_Account,
            topic=event.Name,
            changes=changes,
        )
    assert isinstance(event, GroupDestroyed)
    return SystemEvent(
        type="thread_deleted",
        operator=event.Operator_Account,
        participants=[m.Member_Account for m in event.MemberList],
        topic=event.Name,
    )
