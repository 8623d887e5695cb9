"""What the event processor archives for each asynchronous callback.

Messages are archived once, keyed by ``MsgKey`` (C2C) or ``GroupId`` (+ ``TopicId``) + ``MsgSeq``
(group); the after-send and the bot callback of one message land on the same key, so whichever
comes second changes nothing. Another body under an archived message's identity is not the same
message delivered again: Tencent's ``Sign`` covers the time and not the body, so anyone holding a
signed URL can post one for a minute. It is kept beside the first (which stays as it was) and
reported as a conflict. Modifications and recalls are recorded against the message under an id
derived from the event itself, so a repeated delivery is recognised too.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from timkit.models.callbacks import (
    BotC2CMessage,
    BotGroupMessage,
    C2CAfterSend,
    C2CModify,
    C2CReadReport,
    C2CRecall,
    CallbackRequest,
    GroupAfterSend,
    GroupModify,
    GroupRecall,
    group_conversation,
)
from timkit.models.elements import MsgElement, RelayElem
from timkit.stores.archive import CONFLICT_SK_PREFIX, MESSAGE_SK, Value

Written = Literal["stored", "duplicate", "conflict"]

# What makes a message the same message: who sent it, where, when and what it says; not the callback
# around it (command, EventTime, unread counts, robots mentioned), which differs between the
# after-send and the bot callback of one message.
_CONTENT_FIELDS = ("From_Account", "To_Account", "GroupId", "TopicId", "MsgTime", "MsgBody", "CloudCustomData")


class Store(Protocol):
    def put_once(self, pk: str, sk: str, attributes: dict[str, Value]) -> dict[str, Any] | None: ...


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
        if isinstance(event, C2CAfterSend | BotC2CMessage | GroupAfterSend):  # BotGroupMessage is a GroupAfterSend
            inline, keys = _mergers(event.MsgBody)
            content = content_hash(raw_body)
            attrs: dict[str, Value] = {
                "command": event.CallbackCommand,
                "sender": event.From_Account,
                "conversation": _conversation(event),
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
        if isinstance(event, C2CReadReport):
            sk = f"REPORT#{event.LastReadTime:012d}"
            attrs = {"command": event.CallbackCommand, "body": raw_body, "archived_at": now}
            return [self._put(event.identity, sk, attrs)]
        raise TypeError(f"{event.CallbackCommand} is not archived")

    def _event(self, pk: str, kind: str, event: CallbackRequest, raw_body: str, now: int) -> Written:
        event_time = getattr(event, "EventTime", None) or 0
        sk = f"{kind}#{event_time:015d}#{_event_id(raw_body)}"
        return self._put(pk, sk, {"command": event.CallbackCommand, "body": raw_body, "archived_at": now})

    def _put(self, pk: str, sk: str, attrs: dict[str, Value]) -> Written:
        return "stored" if self._store.put_once(pk, sk, attrs) is None else "duplicate"

    def _put_message(self, pk: str, content: str, attrs: dict[str, Value]) -> Written:
        archived = self._store.put_once(pk, MESSAGE_SK, attrs)
        if archived is None:
            return "stored"
        # Items archived before content hashes were kept have their body to hash.
        if (archived.get("content_hash") or content_hash(archived["body"])) == content:
            return "duplicate"
        # Under its own key, written once: the same other body again is a duplicate of it.
        return "conflict" if self._put(pk, CONFLICT_SK_PREFIX + content, attrs) == "stored" else "duplicate"


def _conversation(event: C2CAfterSend | BotC2CMessage | GroupAfterSend | BotGroupMessage) -> str:
    if isinstance(event, GroupAfterSend):
        return group_conversation(event.GroupId, event.TopicId)
    first, second = sorted((event.From_Account, event.To_Account))
    return f"c2c:{first}:{second}"
