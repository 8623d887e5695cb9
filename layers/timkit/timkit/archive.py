"""What the event processor archives for each asynchronous callback.

Messages are archived once, keyed by ``MsgKey`` (C2C) or ``GroupId`` (+ ``TopicId``) + ``MsgSeq``
(group); the after-send and the bot callback of one message land on the same key, so whichever
comes second changes nothing. Another body under an archived message's identity is not the same
message delivered again: Tencent's ``Sign`` covers the time and not the body, so anyone holding a
signed URL can post one for a minute. It is kept beside the first (which stays as it was) and
reported as a conflict. Modifications and recalls are recorded against the message under an id
derived from the event itself, so a repeated delivery is recognised too.

History reads the archive by conversation (:mod:`timkit.history`): messages and a group's system
events carry their conversation and a ``timeline`` (see :func:`timeline`), and a message's item
keeps a summary of its modifications and recalls. SQS keeps no order, so an event may be archived
before its message: the summary is recomputed from the message's partition whenever either side
is archived (also for a repeated delivery, which completes a summary a failure left undone), and
written on condition that no summary of as many events or more is there, so that a stale
recompute never overwrites a newer one.

Items archived before the index existed are backfilled (:meth:`Archiver.backfill`), not written
both ways: the index needs one ``timeline`` format, and the backfill computes it from the body
every item keeps.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from timkit.models.callbacks import (
    BotC2CMessage,
    C2CAfterSend,
    C2CModify,
    C2CReadReport,
    C2CRecall,
    CallbackRequest,
    GroupAfterSend,
    GroupCreated,
    GroupEvent,
    GroupMembersJoined,
    GroupModify,
    GroupRecall,
    parse_callback,
)
from timkit.models.elements import MsgElement, RelayElem
from timkit.models.history import MAX_TIME, BackfillProgress, c2c_conversation, group_conversation
from timkit.stores.archive import CONFLICT_SK_PREFIX, MESSAGE_SK, SYSTEM_SK, Key, Value
from timkit.stores.paging import decode_token, encode_token

Written = Literal["stored", "duplicate", "conflict"]

# What makes a message the same message: who sent it, where, when and what it says; not the callback
# around it (command, EventTime, unread counts, robots mentioned), which differs between the
# after-send and the bot callback of one message.
_CONTENT_FIELDS = ("From_Account", "To_Account", "GroupId", "TopicId", "MsgTime", "MsgBody", "CloudCustomData")


MessageEvent = C2CAfterSend | BotC2CMessage | GroupAfterSend  # BotGroupMessage is a GroupAfterSend
EVENT_PREFIXES = ("MODIFY#", "RECALL#")
# Seconds fit ten digits until 2286; C2C MsgSeq and MsgRandom are 32-bit, a group's MsgSeq up to 64.
# Within a second, a group's creation and members joining come before its messages, and members
# leaving, information changing and dismissal after them ("!" < digits < "~").
_SYSTEM_FIRST = (GroupCreated, GroupMembersJoined)


class Store(Protocol):
    def put_once(self, pk: str, sk: str, attributes: dict[str, Value]) -> dict[str, Any] | None: ...

    def history(self, pk: str) -> list[dict[str, Any]]: ...

    def set_summary(self, pk: str, summary: dict[str, Value], events: int) -> bool: ...

    def untimed_messages(self, start: Key | None, limit: int) -> tuple[list[dict[str, Any]], Key | None]: ...

    def set_timeline(self, pk: str, conversation: str, timeline: str) -> bool: ...


def second(value: int) -> str:
    """A time's part of a timeline: Unix seconds, zero-padded so that timelines sort as times do."""
    return f"{min(max(value, 0), MAX_TIME):010d}"


def timeline(event: MessageEvent | GroupEvent, archived_at: int = 0, event_id: str = "") -> str:
    """Where an entry sits in its conversation: ``<MsgTime>#<order>``, the order total within a
    second: a group's ``MsgSeq`` (one sequence for the whole group); a C2C message's ``MsgSeq`` and
    ``MsgRandom`` (what its ``MsgKey`` is made of), after the millisecond its callback fired
    (``EventTime``, within the send's second; 000 without one): each side of a one-to-one chat
    counts its own ``MsgSeq``, and a reply (a bot's, say) often comes within the second; for a
    system event, its milliseconds (``EventTime``, else the time it was archived) and its id."""
    if isinstance(event, GroupEvent):
        millis = event.EventTime if event.EventTime is not None else archived_at * 1000
        first = "!" if isinstance(event, _SYSTEM_FIRST) else "~"
        return f"{second(millis // 1000)}#{first}{millis % 1000:03d}#{event_id}"
    if isinstance(event, GroupAfterSend):
        return f"{second(event.MsgTime)}#{max(event.MsgSeq, 0):020d}"
    millis = min(max((event.EventTime or 0) - event.MsgTime * 1000, 0), 999) if event.EventTime else 0
    return f"{second(event.MsgTime)}#{millis:03d}#{event.MsgSeq:010d}#{event.MsgRandom:010d}"


def conversation_of(event: MessageEvent | GroupEvent) -> str:
    if isinstance(event, GroupEvent):
        return group_conversation(event.GroupId)
    if isinstance(event, GroupAfterSend):
        return group_conversation(event.GroupId, event.TopicId)
    return c2c_conversation(event.From_Account, event.To_Account)


def system_id(raw_body: str) -> str:
    """A system event's id: of its content, however the JSON is laid out (the callbacks have none)."""
    canonical = json.dumps(json.loads(raw_body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def summarise(items: list[dict[str, Any]]) -> tuple[dict[str, Value], int]:
    """What a message's later events (its partition's MODIFY and RECALL items, plain values) make
    of it, and how many there are: the last modification's time, body and CloudCustomData (when it
    carries one), the first recall's time and who recalled it. Times are Unix seconds, from
    ``EventTime`` (ms) or, without one, when the event was archived; events at the same time are
    taken in sort-key order, so every recompute of the same items gives the same summary."""
    events = sorted(
        (_event_millis(item), item["sk"], item) for item in items if item["sk"].startswith(EVENT_PREFIXES)
    )
    summary: dict[str, Value] = {}
    modifications = [item for _, sk, item in events if sk.startswith("MODIFY#")]
    recalls = [item for _, sk, item in events if sk.startswith("RECALL#")]
    if modifications:
        last = modifications[-1]
        doc = json.loads(last["body"])
        summary["edited_at"] = _event_millis(last) // 1000
        summary["edited_body"] = json.dumps(doc.get("MsgBody", []), ensure_ascii=False)
        if isinstance(doc.get("CloudCustomData"), str):
            summary["edited_custom_data"] = doc["CloudCustomData"]
    if recalls:
        first = recalls[0]
        doc = json.loads(first["body"])
        summary["deleted_at"] = _event_millis(first) // 1000
        # A group recall names who recalled; in C2C only the sender can recall (docs/protocol.md §13.7).
        by = doc.get("Operator_Account") or doc.get("From_Account")
        if isinstance(by, str) and by:
            summary["deleted_by"] = by
    return summary, len(events)


def _event_millis(item: dict[str, Any]) -> int:
    # The sort key holds EventTime as written (0 when the callback had none).
    millis = int(item["sk"].split("#")[1])
    return millis or int(item.get("archived_at", 0)) * 1000


def _event_id(raw_body: str) -> str:
    return hashlib.sha256(raw_body.encode()).hexdigest()[:32]


def content_hash(raw_body: str) -> str:
    """The hash of a message's content, from the body as it came (not from the models, so that
    it stays the same across releases); an absent field and an empty one count alike."""
    doc = json.loads(raw_body)
    content = {name: doc[name] for name in _CONTENT_FIELDS if doc.get(name)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def _mergers(body: list[MsgElement]) -> tuple[int, list[str]]:
    """Inline mergers (their MsgList is stored with the message) and stored-elsewhere keys."""
    inline, keys = 0, []
    for elem in body:
        if isinstance(elem, RelayElem):
            if elem.MsgContent.MsgList is not None:
                inline += 1
            elif elem.MsgContent.JsonMsgKey:
                keys.append(elem.MsgContent.JsonMsgKey)
    return inline, keys


class Archiver:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def archive(
        self, event: CallbackRequest, raw_body: str, captured: Mapping[int, str] | None = None
    ) -> list[Written]:
        """Archive one callback; one result per item it concerns. ``captured``: the keys its inline
        mergers were captured under, by element index (see :meth:`timkit.merger.MergerService.capture`)."""
        now = int(self._clock())
        if isinstance(event, MessageEvent):
            inline, keys = _mergers(event.MsgBody)
            content = content_hash(raw_body)
            attrs: dict[str, Value] = {
                "command": event.CallbackCommand,
                "sender": event.From_Account,
                "conversation": conversation_of(event),
                "timeline": timeline(event),
                "msg_time": event.MsgTime,
                "body": raw_body,
                "content_hash": content,
                "archived_at": now,
                "inline_mergers": inline,
            }
            if keys:
                attrs["merger_keys"] = ",".join(keys)
            if captured:
                # Captured keys are derived with a secret: whoever reads the archive hands them out.
                attrs["captured_mergers"] = {str(index): key for index, key in captured.items()}
            return [self._put_message(event.identity, content, attrs)]
        if isinstance(event, C2CModify | GroupModify):
            return [self._event(event.identity, "MODIFY", event, raw_body, now)]
        if isinstance(event, C2CRecall):
            return [self._event(event.identity, "RECALL", event, raw_body, now)]
        if isinstance(event, GroupRecall):
            return [self._event(identity, "RECALL", event, raw_body, now) for identity in event.identities]
        if isinstance(event, GroupEvent):
            event_id = system_id(raw_body)
            attrs = {
                "command": event.CallbackCommand,
                "conversation": conversation_of(event),
                "timeline": timeline(event, now, event_id),
                "body": raw_body,
                "archived_at": now,
            }
            return [self._put(f"system:{event_id}", SYSTEM_SK, attrs)]
        if isinstance(event, C2CReadReport):
            sk = f"REPORT#{event.LastReadTime:012d}"
            attrs = {"command": event.CallbackCommand, "body": raw_body, "archived_at": now}
            return [self._put(event.identity, sk, attrs)]
        raise TypeError(f"{event.CallbackCommand} is not archived")

    def _event(self, pk: str, kind: str, event: CallbackRequest, raw_body: str, now: int) -> Written:
        event_time = getattr(event, "EventTime", None) or 0
        sk = f"{kind}#{event_time:015d}#{_event_id(raw_body)}"
        written = self._put(pk, sk, {"command": event.CallbackCommand, "body": raw_body, "archived_at": now})
        self.summarise(pk)
        return written

    def summarise(self, pk: str) -> None:
        """Brings the message's summary up to what its partition holds (nothing while the message
        itself is not archived: archiving it summarises)."""
        items = self._store.history(pk)
        if not any(item["sk"] == MESSAGE_SK for item in items):
            return
        summary, count = summarise(items)
        if count:
            self._store.set_summary(pk, summary, count)

    def _put(self, pk: str, sk: str, attrs: dict[str, Value]) -> Written:
        return "stored" if self._store.put_once(pk, sk, attrs) is None else "duplicate"

    def _put_message(self, pk: str, content: str, attrs: dict[str, Value]) -> Written:
        archived = self._store.put_once(pk, MESSAGE_SK, attrs)
        # Its events may have come first.
        self.summarise(pk)
        if archived is None:
            return "stored"
        # Items archived before content hashes were kept have their body to hash.
        if (archived.get("content_hash") or content_hash(archived["body"])) == content:
            return "duplicate"
        # Under its own key, written once: the same other body again is a duplicate of it. Out of
        # the history index: it is not a message of the conversation, only a claim to be one.
        conflict = {name: value for name, value in attrs.items() if name not in ("conversation", "timeline")}
        return "conflict" if self._put(pk, CONFLICT_SK_PREFIX + content, conflict) == "stored" else "duplicate"

    def backfill(self, token: str | None, seconds: float, clock: Callable[[], float] = time.monotonic,
                 page: int = 200) -> BackfillProgress:
        """Gives messages archived before the history index their conversation (in today's form)
        and timeline, computed from the body they were archived with, and their summary; for
        ``seconds`` or until the table is done. Resumable: ``next_token`` is where to go on. A
        message that has a timeline by then (archived again since) is left as it is."""
        start = decode_token(token, lambda key: set(key) == {"pk", "sk"})
        progress = BackfillProgress()
        deadline = clock() + seconds
        while True:
            items, start = self._store.untimed_messages(start, page)
            for item in items:
                progress.scanned += 1
                try:
                    event = parse_callback(item["command"], item["body"])
                except (KeyError, ValueError, ValidationError):  # ValidationError is a ValueError too
                    progress.note_unreadable(item["pk"])
                    continue
                if not isinstance(event, MessageEvent):
                    progress.note_unreadable(item["pk"])
                    continue
                if self._store.set_timeline(item["pk"], conversation_of(event), timeline(event)):
                    progress.updated += 1
                    self.summarise(item["pk"])
            if start is None or clock() >= deadline:
                break
        progress.next_token = encode_token(start)
        progress.done = start is None
        return progress
