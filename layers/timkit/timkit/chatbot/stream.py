"""The answer as Tencent messages: what the user sees while the model writes.

Two ways, one interface (:class:`AnswerWriter`):

* :class:`CustomMessageWriter` (docs/protocol.md §8.3, the default): a first custom message
  ``{"chatbotPlugin":2,"src":2,"chunks":[...],"isFinished":0}`` (``sendmsg`` / ``send_group_msg``),
  then modifications of that message (``modify_c2c_msg`` / ``modify_group_msg``) carrying the whole
  answer so far, the last one with ``isFinished`` 1.
* :class:`NativeStreamWriter` (§8.4): ``TIMStreamElem`` chunks through the ``stream_msg`` APIs,
  each call carrying only what is new.

Rules both keep:

* One update of a message at most every :data:`MIN_UPDATE_INTERVAL` seconds, counted from the end
  of the previous call, so that two updates never reach Tencent closer than that (and modifications
  of one message never overlap: 20028, §5.6). What arrives in between waits and goes out together.
* Before a message's body would pass :data:`SOFT_LIMIT_BYTES` (measured as Tencent does: the UTF-8
  JSON of ``MsgBody``, where the custom ``Data`` string is escaped a second time), the message is
  finished and the answer continues in a new one; the messages' texts joined are the answer.
* Every message sent has its interrupt key (:attr:`AnswerWriter.msg_keys`): the C2C ``MsgKey``, or
  ``"{MsgSeq}_{Random}_{MsgTime}"`` for a group message, which is how a client builds the
  ``msgKey`` of an interrupt from the message it shows (§8.3).
* A Tencent failure the REST client did not get past (it retries the safe codes with the same
  body, hence the same ``MsgRandom`` / ``Random``) is a :class:`DeliveryError`; nothing else
  leaves a writer.

The writers do no waiting of their own except where an update must wait for its turn
(:meth:`AnswerWriter.finish`) or a group message dropped by the group's frequency limit is sent
again; both use the injected ``sleep``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from pydantic import ValidationError

from timkit.models import messages
from timkit.models.chatbot import ErrorPayload, StreamPayload, Turn
from timkit.models.elements import MsgElement, StreamChunk, StreamContent, StreamElem, body_size
from timkit.models.rest import (
    ModifyC2CMsgRequest,
    ModifyGroupMsgRequest,
    SendC2CStreamRequest,
    SendGroupMsgRequest,
    SendGroupStreamRequest,
    SendStreamReply,
)
from timkit.tim.errors import MessageDropped, TimError
from timkit.tim.rest import TimRestClient

log = logging.getLogger("timkit.chatbot.stream")

# Tencent's own bot updates a streaming message at most once per 1000 ms (docs/protocol.md §8.3).
MIN_UPDATE_INTERVAL = 1.0
# Tencent's body limit is 12 KB (docs/protocol.md §6.2); its own bot finishes a message before 11 KB (§8.3).
SOFT_LIMIT_BYTES = 11 * 1024
# A native stream with no chunk for 15 s is ended by Tencent (docs/protocol.md §6.1): a slow model gets an empty
# chunk well before that.
NATIVE_KEEPALIVE_SECONDS = 10.0
# A group message dropped by the 40 messages/s frequency limit (docs/protocol.md §6.1) was not delivered: it is
# sent again, as a new message, once the group's one-second window has moved on.
GROUP_DROP_RETRIES = 2
GROUP_DROP_WAIT_SECONDS = 1.0
# Sent to the user's devices only, not to the bot's other sessions (what Tencent's bot does, docs/protocol.md §8.3).
_SEND_OPTIONS = messages.SendOptions(sync_other_devices=False)

R = TypeVar("R")
T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]


class DeliveryError(Exception):
    """Tencent did not take a message (or an update) of the answer."""

    def __init__(self, step: str, detail: str) -> None:
        self.step = step
        super().__init__(f"{step}: {detail}")


class AnswerWriter(Protocol):
    """The answer going out as messages. The caller adds text as it comes, flushes when
    :meth:`next_flush_at` says, and ends with :meth:`finish` or :meth:`error`."""

    messages_sent: int
    updates: int
    first_sent_at: float | None
    last_update_at: float | None

    @property
    def msg_keys(self) -> list[str]:
        """Interrupt keys of the answer's messages so far, oldest first."""
        ...

    @property
    def text(self) -> str:
        """What the user has been sent so far (the messages' texts joined)."""
        ...

    @property
    def pending(self) -> str:
        """Text added and not sent yet."""
        ...

    @property
    def started(self) -> bool: ...

    def add(self, delta: str) -> None: ...

    def next_flush_at(self) -> float | None:
        """When :meth:`flush` has something to do and may do it (clock time); None: nothing to do."""
        ...

    def flush(self) -> None: ...

    def typing(self, text: str) -> None:
        """A placeholder first message while the model has not said anything yet."""
        ...

    def finish(self, *, keep_pending: bool = True) -> None:
        """The last update (waiting for its turn); ``keep_pending`` false freezes the message as
        the user last saw it (an interrupt, the time limit)."""
        ...

    def error(self, text: str) -> None:
        """Finish what is streaming, then one ``src`` 23 error message with ``text``."""
        ...


class _Conversation:
    """Where the answer goes (the user, or the group and topic) and the calls that reach it."""

    def __init__(self, rest: TimRestClient, turn: Turn, sleep: Sleep) -> None:
        self._rest = rest
        self._turn = turn
        self._sleep = sleep

    @property
    def group(self) -> bool:
        return self._turn.kind == "group"

    def send(self, body: list[MsgElement]) -> tuple[str | int, str]:
        """A new message: (its handle for modifications, its interrupt key)."""
        with _shape_errors("send"):
            return self._send(body)

    def modify(self, handle: str | int, body: list[MsgElement]) -> None:
        with _shape_errors("modify"):
            self._modify(handle, body)

    def send_stream(self, body: list[MsgElement]) -> tuple[SendStreamReply, str]:
        """One native stream call: (the reply, the message's interrupt key, "" when unknown)."""
        with _shape_errors("stream_msg"):
            return self._send_stream(body)

    def _send(self, body: list[MsgElement]) -> tuple[str | int, str]:
        message = messages.Message(body=body)
        turn = self._turn
        if not self.group:
            request = message.c2c_request(turn.user, sender=turn.bot, options=_SEND_OPTIONS)
            reply = self._call("sendmsg", self._rest.send_c2c, request)
            if not reply.MsgKey:
                raise DeliveryError("sendmsg", "the answer has no MsgKey")
            return reply.MsgKey, reply.MsgKey

        def group_request() -> SendGroupMsgRequest:
            request = message.group_request(str(turn.group_id), sender=turn.bot)
            return request.model_copy(update={"TopicId": turn.topic_id}) if turn.topic_id else request

        sent, group_reply = self._undropped("send_group_msg", group_request, self._rest.send_group)
        if not group_reply.MsgSeq:
            raise DeliveryError("send_group_msg", "the answer has no MsgSeq")
        return group_reply.MsgSeq, f"{group_reply.MsgSeq}_{sent.Random}_{group_reply.MsgTime}"

    def _modify(self, handle: str | int, body: list[MsgElement]) -> None:
        turn = self._turn
        if not self.group:
            c2c = ModifyC2CMsgRequest(From_Account=turn.bot, To_Account=turn.user, MsgKey=str(handle), MsgBody=body)
            self._call("modify_c2c_msg", self._rest.modify_c2c, c2c)
        else:
            group = ModifyGroupMsgRequest(
                GroupId=str(turn.group_id), MsgSeq=int(handle), MsgBody=body, TopicId=turn.topic_id
            )
            self._call("modify_group_msg", self._rest.modify_group, group)

    def _send_stream(self, body: list[MsgElement]) -> tuple[SendStreamReply, str]:
        turn = self._turn
        if not self.group:
            c2c = SendC2CStreamRequest(
                From_Account=turn.bot,
                To_Account=turn.user,
                MsgRandom=messages.new_random(),
                SyncOtherMachine=2,
                MsgBody=body,
            )
            reply = self._call("send_c2c_stream_msg", self._rest.send_c2c_stream, c2c)
            return reply, reply.MsgKey

        def group_request() -> SendGroupStreamRequest:
            return SendGroupStreamRequest(
                GroupId=str(turn.group_id), From_Account=turn.bot, Random=messages.new_random(), MsgBody=body
            )

        sent, reply = self._undropped("send_group_stream_msg", group_request, self._rest.send_group_stream)
        return reply, (f"{reply.MsgSeq}_{sent.Random}_{reply.MsgTime}" if reply.MsgSeq else "")

    def _undropped(self, step: str, build: Callable[[], R], call: Callable[[R], T]) -> tuple[R, T]:
        """A group send; dropped by the group's frequency limit, it is sent again as a new message
        (a fresh ``Random``) once the one-second window has moved on."""
        drops = 0
        while True:
            request = build()
            try:
                return request, self._call(step, call, request)
            except _Dropped:
                drops += 1
                if drops > GROUP_DROP_RETRIES:
                    raise DeliveryError(step, "dropped by the group's frequency limit") from None
                self._sleep(GROUP_DROP_WAIT_SECONDS)

    @staticmethod
    def _call(step: str, call: Callable[[R], T], request: R) -> T:
        try:
            return call(request)
        except MessageDropped:
            raise _Dropped() from None
        except TimError as exc:
            raise DeliveryError(step, str(exc)) from None
        except Exception as exc:
            # What the client does before Tencent (the shared rate limiter's DynamoDB, the key's
            # secret) failing: the answer cannot go out either. Only the type: the error's text
            # could quote an AWS response.
            raise DeliveryError(step, type(exc).__name__) from None


class _Dropped(Exception):
    pass


@contextmanager
def _shape_errors(step: str) -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        # A request Tencent would refuse for its shape (e.g. a user ID over 32 bytes).
        raise DeliveryError(step, f"invalid request ({exc.error_count()} errors)") from None


class _Writer:
    """What both writers share: the conversation, the pacing clock and the counts."""

    def __init__(
        self,
        rest: TimRestClient,
        turn: Turn,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        limit: int = SOFT_LIMIT_BYTES,
    ) -> None:
        self._to = _Conversation(rest, turn, sleep)
        self._clock = clock
        self._sleep = sleep
        self._limit = limit
        self._pending = ""
        # Text of the answer's messages already finished (rolled over).
        self._done = ""
        self._keys: list[str] = []
        # A call failed: the answer's content is left as it is (only the error message may follow).
        self._broken = False
        self.messages_sent = 0
        self.updates = 0
        self.first_sent_at: float | None = None
        # When the last call about the current message (or the answer's last message) returned.
        self.last_update_at: float | None = None
        self._new_message()

    def _new_message(self) -> None:
        """Forget the current message: the next call starts a new one."""
        raise NotImplementedError

    @property
    def msg_keys(self) -> list[str]:
        return list(self._keys)

    @property
    def pending(self) -> str:
        return self._pending

    @property
    def started(self) -> bool:
        return self.messages_sent > 0

    def add(self, delta: str) -> None:
        self._pending += delta

    def _ready_at(self) -> float:
        return -math.inf if self.last_update_at is None else self.last_update_at + MIN_UPDATE_INTERVAL

    def _wait_turn(self) -> None:
        delay = self._ready_at() - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _sent(self, key: str) -> None:
        self.messages_sent += 1
        if key:
            self._keys.append(key)
        self.last_update_at = self._clock()
        if self.first_sent_at is None:
            self.first_sent_at = self.last_update_at

    def _updated(self) -> None:
        self.updates += 1
        self.last_update_at = self._clock()

    def _fit(self, size_with: Callable[[str], int]) -> int:
        """The longest prefix of the pending text that keeps the body within the limit."""
        low, high = 0, len(self._pending)
        while low < high:
            middle = (low + high + 1) // 2
            if size_with(self._pending[:middle]) <= self._limit:
                low = middle
            else:
                high = middle - 1
        return low

    def finish(self, *, keep_pending: bool = True) -> None:
        raise NotImplementedError

    def error(self, text: str) -> None:
        try:
            self.finish()
        except DeliveryError as exc:
            log.warning("could not finish the streaming message before the error message: %s", exc)
        self._to.send([ErrorPayload(errorInfo=text).to_elem()])
        self.messages_sent += 1


class CustomMessageWriter(_Writer):
    """docs/protocol.md §8.3: send, then modify with the cumulative ``chunks`` (one chunk per update)."""

    # The current message: its handle (MsgKey or MsgSeq) and its key, its chunks as last sent.
    _handle: str | int | None
    _key: str | None
    _chunks: list[str]

    def _new_message(self) -> None:
        self._handle, self._key, self._chunks = None, None, []

    @property
    def text(self) -> str:
        return self._done + "".join(self._chunks)

    def next_flush_at(self) -> float | None:
        if not self._pending or self._broken:
            return None
        return -math.inf if self._handle is None else self._ready_at()

    def flush(self) -> None:
        if self._pending and not self._broken:
            self._update(final=False)

    def typing(self, text: str) -> None:
        if self._handle is None and not self._pending and not self._broken:
            self._put([], finished=False, typing=text)

    def finish(self, *, keep_pending: bool = True) -> None:
        if not keep_pending:
            self._pending = ""
        if self._broken or (self._handle is None and not self._pending):
            return
        if self._handle is not None:
            self._wait_turn()
        self._update(final=True)

    def _update(self, final: bool) -> None:
        while True:
            chunks = [*self._chunks, self._pending] if self._pending else list(self._chunks)
            if self._size(chunks) <= self._limit:
                self._put(chunks, finished=final)
                self._pending = ""
                return
            # Roll over: finish this message with what still fits, go on in a new one.
            fits = self._fit(lambda head: self._size([*self._chunks, head]))
            head, self._pending = self._pending[:fits], self._pending[fits:]
            self._put([*self._chunks, head] if head else list(self._chunks), finished=True)

    def _payload(self, chunks: list[str], finished: bool, typing: str | None = None) -> StreamPayload:
        # msgKey: TUIKit reads the streaming message's key from the payload when it has it (docs/protocol.md §8.3).
        return StreamPayload(
            chunks=chunks, isFinished=1 if finished else 0, typingText=typing or None, msgKey=self._key
        )

    def _size(self, chunks: list[str]) -> int:
        return body_size([self._payload(chunks, finished=False).to_elem()])

    def _put(self, chunks: list[str], *, finished: bool, typing: str | None = None) -> None:
        body: list[MsgElement] = [self._payload(chunks, finished, typing).to_elem()]
        try:
            if self._handle is None:
                self._handle, key = self._to.send(body)
                self._key = key or None
                self._sent(key)
            else:
                self._to.modify(self._handle, body)
                self._updated()
        except DeliveryError:
            self._broken = True
            raise
        self._chunks = chunks
        if finished:
            self._done += "".join(chunks)
            self._new_message()


class NativeStreamWriter(_Writer):
    """docs/protocol.md §8.4: ``TIMStreamElem`` chunks, each carrying what is new (``Markdown``), with the text so
    far as ``CompatibleText`` for clients that cannot render stream messages."""

    _stream_id: str | None
    _index: int
    # The current message's text so far.
    _message: str
    _open: bool = False

    def _new_message(self) -> None:
        self._stream_id, self._index, self._message = None, 0, ""

    @property
    def text(self) -> str:
        return self._done + self._message

    def next_flush_at(self) -> float | None:
        if self._broken:
            return None
        if self._pending:
            return -math.inf if not self._open else self._ready_at()
        if self._open and self.last_update_at is not None:
            return self.last_update_at + NATIVE_KEEPALIVE_SECONDS
        return None

    def flush(self) -> None:
        if not self._broken and (self._pending or self._open):
            self._update(final=False)

    def typing(self, text: str) -> None:
        if not self._open and not self._pending and not self._broken:
            self._call("", last=False, compatible=text)

    def finish(self, *, keep_pending: bool = True) -> None:
        if not keep_pending:
            self._pending = ""
        if self._broken or (not self._open and not self._pending):
            return
        if self._open:
            self._wait_turn()
        self._update(final=True)

    def _update(self, final: bool) -> None:
        while True:
            if self._size(self._pending) <= self._limit:
                self._call(self._pending, last=final)
                self._pending = ""
                return
            fits = self._fit(self._size)
            head, self._pending = self._pending[:fits], self._pending[fits:]
            self._call(head, last=True)

    def _body(self, delta: str, last: bool, compatible: str | None = None) -> list[MsgElement]:
        # Every field given explicitly: the wire form keeps only the fields that were set.
        chunk = StreamChunk(EventType="data", Index=self._index + 1, Markdown=delta, IsLast=last)
        fields = {"StreamMsgID": self._stream_id} if self._stream_id is not None else {}
        content = StreamContent(Chunks=[chunk], CompatibleText=compatible or self._message + delta, **fields)
        return [StreamElem(MsgContent=content)]

    def _size(self, delta: str) -> int:
        return body_size(self._body(delta, last=False))

    def _call(self, delta: str, *, last: bool, compatible: str | None = None) -> None:
        body = self._body(delta, last, compatible)
        try:
            reply, key = self._to.send_stream(body)
        except DeliveryError:
            self._broken = True
            raise
        if self._stream_id is None:
            if not reply.StreamMsgID:
                # Nothing can continue it: finishing would send the text again as another stream.
                self._broken = True
                raise DeliveryError("stream_msg", "the first chunk's answer has no StreamMsgID")
            self._stream_id = reply.StreamMsgID
            self._sent(key)
        else:
            self._updated()
        self._index += 1
        self._message += delta
        self._open = not last
        if last:
            self._done += self._message
            self._new_message()


def writer_for(
    mode: str, rest: TimRestClient, turn: Turn, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
) -> AnswerWriter:
    """The writer for a bot's ``streaming_mode``. Topics are only known to the custom-message
    APIs (the stream APIs name no ``TopicId``), so a topic's answers always use custom messages."""
    if mode == "native" and not turn.topic_id:
        return NativeStreamWriter(rest, turn, clock=clock, sleep=sleep)
    return CustomMessageWriter(rest, turn, clock=clock, sleep=sleep)
