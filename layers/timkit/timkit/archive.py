"""What the event processor archives for each asynchronous callback.

Messages are archived once, keyed by ``MsgKey`` (C2C) or ``GroupId`` + ``MsgSeq`` (group); the
after-send and the bot callback of one message land on the same key, so whichever comes second
changes nothing. Modifications and recalls are recorded against the message under an id derived
from the event itself, so a repeated delivery is recognised too.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Literal, Protocol

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
)
from timkit.models.elements import MsgElement, RelayElem
from timkit.stores.archive import MESSAGE_SK

Written = Literal["stored", "duplicate"]


class Store(Protocol):
    def put_once(self, pk: str, sk: str, attributes: dict[str, str | int | bool]) -> bool: ...


def _event_id(raw_body: str) -> str:
    return hashlib.sha256(raw_body.encode()).hexdigest()[:32]


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

    def archive(self, event: CallbackRequest, raw_body: str) -> list[Written]:
        """Archive one callback; one result per item it concerns."""
        now = int(self._clock())
        if isinstance(event, C2CAfterSend | BotC2CMessage | GroupAfterSend):  # BotGroupMessage is a GroupAfterSend
            inline, keys = _mergers(event.MsgBody)
            attrs: dict[str, str | int | bool] = {
                "command": event.CallbackCommand,
                "sender": event.From_Account,
                "conversation": _conversation(event),
                "msg_time": event.MsgTime,
                "body": raw_body,
                "archived_at": now,
                "inline_mergers": inline,
            }
            if keys:
                attrs["merger_keys"] = ",".join(keys)
            return [self._put(event.identity, MESSAGE_SK, attrs)]
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

    def _put(self, pk: str, sk: str, attrs: dict[str, str | int | bool]) -> Written:
        return "stored" if self._store.put_once(pk, sk, attrs) else "duplicate"


def _conversation(event: C2CAfterSend | BotC2CMessage | GroupAfterSend | BotGroupMessage) -> str:
    if isinstance(event, GroupAfterSend):
        return f"group:{event.GroupId}"
    first, second = sorted((event.From_Account, event.To_Account))
    return f"c2c:{first}:{second}"
