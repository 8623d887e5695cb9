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
    C2CModify,
    C2CReadReport,
    C2CRecall,
    CallbackRequest,
    GroupAfterSend,
    GroupEvent,
    GroupFull,
    GroupMemberState,
    GroupModify,
    GroupReadReceipt,
    GroupRecall,
    UserStateChange,
    parse_callback,
)
from timkit.models.conversations import c2c_conversation, group_conversation
from timkit.models.elements import MsgElement, RelayElem
from timkit.models.history import BackfillProgress
from timkit.stores.archive import (
    INDEX_KEY_NAMES,
    MESSAGE_SK,
    SYSTEM_SK,
    EventKind,
    Key,
    MessageEvent,
    Value,
    conflict_sk,
    event_kind,
    event_millis,
    event_sk,
    index_attributes,
    report_sk,
    system_pk,
    timeline,
)
from timkit.stores.paging import decode_token, encode_token

# "conflict": another body under an archived message's identity, first seen; "repeated_conflict":
# that other body again (a redelivery of it: nothing is written, and it is not the message either).
Written = Literal["stored", "duplicate", "conflict", "repeated_conflict"]

# What makes a message the same message: who sent it, where, when and what it says; not the callback
# around it (command, EventTime, unread counts, robots mentioned), which differs between the
# after-send and the bot callback of one message.
# Published to the event bus (timkit.bus) but not archived: nothing said in a conversation, nothing
# its history shows.
NOT_ARCHIVED = (GroupReadReceipt, GroupFull, GroupMemberState, UserStateChange)
_CONTENT_FIELDS = ("From_Account", "To_Account", "GroupId", "TopicId", "MsgTime", "MsgBody", "CloudCustomData")


class Store(Protocol):
    def put_once(self, pk: str, sk: str, attributes: dict[str, Value]) -> dict[str, Any] | None: ...

    def history(self, pk: str) -> list[dict[str, Any]]: ...

    def set_summary(self, pk: str, summary: dict[str, Value], events: int) -> bool: ...

    def untimed_messages(self, start: Key | None, limit: int) -> tuple[list[dict[str, Any]], Key | None]: ...

    def set_timeline(self, pk: str, conversation: str, timeline: str) -> bool: ...


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
    events = sorted((_event_millis(item), item["sk"], item) for item in items if event_kind(item["sk"]))
    summary: dict[str, Value] = {}
    modifications = [item for _, sk, item in events if event_kind(sk) == "MODIFY"]
    recalls = [item for _, sk, item in events if event_kind(sk) == "RECALL"]
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
    return event_millis(item["sk"]) or int(item.get("archived_at", 0)) * 1000


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
        """Archive one callback; one result per item it concerns (none for NOT_ARCHIVED). ``captured``:
        the keys its inline mergers were captured under, by element index (see
        :meth:`timkit.merger.MergerService.capture`)."""
        now = int(self._clock())
        if isinstance(event, MessageEvent):
            inline, keys = _mergers(event.MsgBody)
            content = content_hash(raw_body)
            attrs: dict[str, Value] = {
                "command": event.CallbackCommand,
                "sender": event.From_Account,
                **index_attributes(conversation_of(event), timeline(event)),
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
                **index_attributes(conversation_of(event), timeline(event, now, event_id)),
                "body": raw_body,
                "archived_at": now,
            }
            return [self._put(system_pk(event_id), SYSTEM_SK, attrs)]
        if isinstance(event, C2CReadReport):
            attrs = {"command": event.CallbackCommand, "body": raw_body, "archived_at": now}
            return [self._put(event.identity, report_sk(event.LastReadTime), attrs)]
        if isinstance(event, NOT_ARCHIVED):
            return []
        raise TypeError(f"{event.CallbackCommand} is not archived")

    def _event(self, pk: str, kind: EventKind, event: CallbackRequest, raw_body: str, now: int) -> Written:
        event_time = getattr(event, "EventTime", None) or 0
        sk = event_sk(kind, event_time, _event_id(raw_body))
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
        conflict = {name: value for name, value in attrs.items() if name not in INDEX_KEY_NAMES}
        return "conflict" if self._put(pk, conflict_sk(content), conflict) == "stored" else "repeated_conflict"

    def backfill(
        self, token: str | None, seconds: float, clock: Callable[[], float] = time.monotonic, page: int = 200
    ) -> BackfillProgress:
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
