"""Stand-ins for the chatbot stream engine's tests: a fake clock, a fake REST client that answers
as Tencent does (``MsgKey`` as ``seq_random_time``, group ``MsgSeq``, ``StreamMsgID``) and records
every call with the clock's time, a scripted model feed, and a settings object."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from timkit.chatbot.providers import ChatMessage, Generation, ProviderError
from timkit.chatbot.turn import END, FeedItem
from timkit.models.chatbot import Turn
from timkit.models.elements import dump_body
from timkit.models.rest import Reply, SendGroupMsgReply, SendMsgReply, SendStreamReply
from timkit.tim.errors import TimError

START = 1000.0
BOT = "@RBT#assistant"
C2C_TURN = Turn(bot=BOT, kind="c2c", user="alice", identity="c2c:alice:1_2_3", text="What is up?")
GROUP_TURN = Turn(
    bot=BOT, kind="group", user="alice", group_id="@TGS#demo", identity="group:@TGS#demo:7", text="@assistant hi"
)


class Clock:
    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@dataclass
class Call:
    time: float
    api: str
    body: dict[str, Any]
    # A send's handle for its modifications: the MsgKey (C2C) or MsgSeq (group).
    handle: Any = None

    @property
    def payload(self) -> dict[str, Any]:
        """The chatbot payload of a custom-element body (decoded ``Data``)."""
        [elem] = self.body["MsgBody"]
        assert elem["MsgType"] == "TIMCustomElem"
        return json.loads(elem["MsgContent"]["Data"])

    @property
    def stream(self) -> dict[str, Any]:
        [elem] = self.body["MsgBody"]
        assert elem["MsgType"] == "TIMStreamElem"
        return elem["MsgContent"]


class FakeRest:
    """The TimRestClient methods the writers use. ``fail[api]`` raises (once per listed error)."""

    def __init__(self, clock: Clock, latency: float = 0.0) -> None:
        self.clock = clock
        self.latency = latency
        self.calls: list[Call] = []
        self.fail: dict[str, list[Exception]] = {}
        self._seq = itertools.count(41)
        self._streams = itertools.count(1)

    def _record(self, api: str, request: Any) -> Call:
        body = request.model_dump(mode="json", exclude_none=True, exclude={"MsgBody"})
        body["MsgBody"] = dump_body(request.MsgBody)
        self.clock.now += self.latency
        call = Call(self.clock.now, api, body)
        self.calls.append(call)
        errors = self.fail.get(api)
        if errors:
            raise errors.pop(0)
        return call

    def send_c2c(self, request: Any) -> SendMsgReply:
        call = self._record("sendmsg", request)
        seq, time = next(self._seq), int(self.clock.now)
        call.handle = f"{seq}_{request.MsgRandom}_{time}"
        return SendMsgReply(MsgTime=time, MsgKey=call.handle)

    def send_group(self, request: Any) -> SendGroupMsgReply:
        call = self._record("send_group_msg", request)
        call.handle = next(self._seq)
        return SendGroupMsgReply(MsgSeq=call.handle, MsgTime=int(self.clock.now))

    def modify_c2c(self, request: Any) -> Reply:
        self._record("modify_c2c_msg", request)
        return Reply(ErrorInfo="succeed")

    def modify_group(self, request: Any) -> Reply:
        self._record("modify_group_msg", request)
        return Reply(ErrorInfo="succeed")

    def send_c2c_stream(self, request: Any) -> SendStreamReply:
        call = self._record("send_c2c_stream_msg", request)
        stream_id = call.stream.get("StreamMsgID") or f"stream-{next(self._streams)}"
        seq, time = next(self._seq), int(self.clock.now)
        return SendStreamReply(StreamMsgID=stream_id, MsgKey=f"{seq}_{request.MsgRandom}_{time}", MsgTime=time)

    def send_group_stream(self, request: Any) -> SendStreamReply:
        call = self._record("send_group_stream_msg", request)
        stream_id = call.stream.get("StreamMsgID") or f"stream-{next(self._streams)}"
        return SendStreamReply(StreamMsgID=stream_id, MsgSeq=next(self._seq), MsgTime=int(self.clock.now))

    # ------------------------------------------------------------------ reading back

    def of(self, *apis: str) -> list[Call]:
        return [c for c in self.calls if c.api in apis]

    def messages(self) -> list[list[Call]]:
        """The custom messages sent, each as its send followed by its modifications."""
        found: dict[Any, list[Call]] = {}
        for call in self.calls:
            if call.api in ("sendmsg", "send_group_msg") and call.handle is not None:
                found[call.handle] = [call]
            elif call.api == "modify_c2c_msg":
                found[call.body["MsgKey"]].append(call)
            elif call.api == "modify_group_msg":
                found[call.body["MsgSeq"]].append(call)
        # Error messages (src 23) are messages of their own, not part of the streamed answer.
        return [calls for calls in found.values() if calls[0].payload["src"] == 2]


def errors(exc: TimError, times: int = 1) -> list[Exception]:
    return [exc] * times


@dataclass
class Settings:
    system_prompt: str = "Be brief."
    model: str = "local-model"
    temperature: float = 0.7
    max_tokens: int = 1024
    max_answer_seconds: float = 120
    streaming_mode: str = "custom"
    typing_text: str | None = None


class FakeStream:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self):
        return iter(())

    def close(self) -> None:
        self.closed = True


class Provider:
    def __init__(self, refuse: ProviderError | None = None) -> None:
        self.refuse = refuse
        self.asked: list[Generation] = []
        self.opened = FakeStream()

    def stream(self, request: Generation) -> FakeStream:
        self.asked.append(request)
        if self.refuse is not None:
            raise self.refuse
        return self.opened


class ScriptedFeed:
    """The model's output at given clock times: ``(time, delta | END | ProviderError)``. Waiting
    moves the fake clock; ``close()`` notes when the model was stopped."""

    def __init__(self, clock: Clock, script: list[tuple[float, FeedItem]]) -> None:
        self.clock = clock
        self.script = sorted(script, key=lambda item: item[0])
        self.closed_at: float | None = None
        self.waits: list[float] = []

    def get(self, timeout: float) -> FeedItem | None:
        assert timeout >= 0 or timeout == 0.0
        self.waits.append(timeout)
        if self.closed_at is not None:
            raise AssertionError("read after close")
        if self.script and self.script[0][0] <= self.clock.now + max(timeout, 0.0):
            at, item = self.script.pop(0)
            self.clock.now = max(self.clock.now, at)
            return item
        self.clock.now += max(timeout, 0.0)
        return None

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = self.clock.now


def tokens(text: str, start: float, gap: float, size: int = 4) -> list[tuple[float, FeedItem]]:
    """``text`` cut into ``size``-character deltas, one every ``gap`` seconds from ``start``."""
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    return [(start + i * gap, part) for i, part in enumerate(parts)]


def ended(script: list[tuple[float, FeedItem]], after: float = 0.0) -> list[tuple[float, FeedItem]]:
    last = script[-1][0] if script else START
    return [*script, (last + after, END)]


@dataclass
class Interrupts:
    """The interrupt records: set at a clock time, for keys; records every check."""

    clock: Clock
    at: float | None = None
    checks: list[tuple[float, list[str]]] = field(default_factory=list)
    seen_at: float | None = None
    fail: bool = False

    def __call__(self, keys: list[str]) -> bool:
        self.checks.append((self.clock.now, list(keys)))
        if self.fail:
            raise RuntimeError("DynamoDB is down")
        hit = self.at is not None and self.clock.now >= self.at and bool(keys)
        if hit and self.seen_at is None:
            self.seen_at = self.clock.now
        return hit


def history() -> list[ChatMessage]:
    return [ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hello!")]
