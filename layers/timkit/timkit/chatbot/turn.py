"""One user message answered: the model's stream read on its own thread, the answer written as
it comes (:mod:`timkit.chatbot.stream`), the user's interrupt and the time limit watched.

The main loop waits on the reader's queue with a timeout that is the earliest of: the next
update the pacing allows, the next interrupt check, the typing placeholder's moment, the time
limit. So it wakes for what it must do and sleeps otherwise; with an injected clock and feed (see
:class:`Feed`) the whole loop runs deterministically, without threads or real waiting.

Timing it keeps (with the writer's one update per second per message):

* the last update goes out at most :data:`~timkit.chatbot.stream.MIN_UPDATE_INTERVAL` after the
  model's end (the time the previous update still has to wait);
* the interrupt is read at least every :data:`INTERRUPT_POLL_SECONDS` and right before each
  update, so an update never starts after an interrupt it could have seen; once seen, the model's
  stream is closed and the final update (what the user was shown, ``isFinished`` 1) follows within
  the same one second;
* ``max_answer_seconds`` ends the answer the same way.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from timkit.chatbot.providers import ChatMessage, FailureKind, Generation, Provider, ProviderError, TextStream
from timkit.chatbot.stream import AnswerWriter, DeliveryError, writer_for
from timkit.models.chatbot import Turn
from timkit.tim.rest import TimRestClient

log = logging.getLogger("timkit.chatbot.turn")

INTERRUPT_POLL_SECONDS = 0.5
# A placeholder is only worth a message when the model is slow to say its first word.
TYPING_AFTER_SECONDS = 1.0
# The provider's wait for its first byte and between bytes, never beyond the answer's time limit.
PROVIDER_IDLE_TIMEOUT_SECONDS = 60.0

# What the user reads when the answer failed on our side rather than the model's (safe, fixed texts).
DELIVERY_FAILED_TEXT = "The answer could not be delivered. Please try again."
EMPTY_ANSWER_TEXT = "The assistant had no answer. Please try again."

Outcome = Literal["finished", "interrupted", "timed_out", "failed"]
# Why an answer failed: the model's (a ProviderError kind), Tencent's (a message or update it did not
# take) or an empty answer.
FailureCause = Literal[FailureKind, "tencent", "empty"]
OnEvent = Callable[[str, dict[str, Any]], None]


class AnswerSettings(Protocol):
    """What answering needs from the bot's configuration (``BotConfig`` has these attributes)."""

    @property
    def system_prompt(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def temperature(self) -> float: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def max_answer_seconds(self) -> float: ...
    @property
    def streaming_mode(self) -> str: ...
    @property
    def typing_text(self) -> str | None: ...


@dataclass(frozen=True)
class TurnResult:
    """How the answer went: for metrics, logs and the conversation's memory."""

    # What the user was sent (the model's deltas joined, when it finished).
    answer: str
    outcome: Outcome
    failure_kind: FailureCause | None = None
    messages: int = 0
    # Updates after a message's first send (modifications, native continuation chunks).
    modifications: int = 0
    # From the start of the turn to the first message sent (seconds).
    first_send_s: float | None = None
    # From the model's end to the last update's answer (seconds); None when the model did not end.
    final_lag_s: float | None = None
    msg_keys: tuple[str, ...] = ()


# What a feed yields: a text delta, END, or the ProviderError that stopped the stream.
END = object()
FeedItem = str | ProviderError | object


class Feed(Protocol):
    def get(self, timeout: float) -> FeedItem | None:
        """The next item, waiting at most ``timeout`` seconds (0: only what is there); None if none came."""
        ...

    def close(self) -> None:
        """Stop the model (closes its stream)."""
        ...


class ThreadedFeed:
    """Reads the model's stream on a daemon thread into a queue."""

    def __init__(self, stream: TextStream) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[FeedItem] = queue.SimpleQueue()
        threading.Thread(target=self._read, name="chatbot-provider-reader", daemon=True).start()

    def _read(self) -> None:
        try:
            for delta in self._stream:
                if delta:
                    self._queue.put(delta)
        except ProviderError as exc:
            self._queue.put(exc)
            return
        except Exception as exc:
            # A provider that breaks its contract still ends the answer, as a broken stream. Only
            # the type is logged: its message or traceback might quote a key or a response body.
            log.error("the provider's stream raised %s", type(exc).__name__)
            self._queue.put(ProviderError("broken", f"unexpected {type(exc).__name__}"))
            return
        self._queue.put(END)

    def get(self, timeout: float) -> FeedItem | None:
        try:
            return self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def close(self) -> None:
        self._stream.close()


def answer_turn(
    turn: Turn,
    config: AnswerSettings,
    history: Sequence[ChatMessage],
    provider: Provider,
    rest: TimRestClient,
    interrupted: Callable[[list[str]], bool],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_event: OnEvent | None = None,
    feed: Callable[[TextStream], Feed] = ThreadedFeed,
    writer: AnswerWriter | None = None,
) -> TurnResult:
    """Answer ``turn`` with the model, streaming to the user; never raises for the model's or
    Tencent's failures (they are in the result, and the user got an error message if possible).

    ``interrupted(msg_keys)`` says whether the user interrupted one of the answer's messages.
    ``rest`` is paced by the caller (the shared rate limiter)."""
    out = writer or writer_for(config.streaming_mode, rest, turn, clock=clock, sleep=sleep)
    return _Answer(turn, config, out, interrupted, clock, on_event).run(list(history), provider, feed)


class _Answer:
    def __init__(
        self,
        turn: Turn,
        config: AnswerSettings,
        writer: AnswerWriter,
        interrupted: Callable[[list[str]], bool],
        clock: Callable[[], float],
        on_event: OnEvent | None,
    ) -> None:
        self.turn = turn
        self.config = config
        self.writer = writer
        self._interrupted = interrupted
        self.clock = clock
        self._on_event = on_event
        self.started = clock()
        self.deadline = self.started + config.max_answer_seconds
        self.checked_at = -math.inf
        self.model_end: float | None = None

    def emit(self, event: str, **fields: Any) -> None:
        if self._on_event is not None:
            self._on_event(event, fields)

    # ------------------------------------------------------------------ the turn

    def run(self, history: list[ChatMessage], provider: Provider, feed: Callable[[TextStream], Feed]) -> TurnResult:
        try:
            stream = provider.stream(
                Generation(
                    system=self.config.system_prompt,
                    messages=[*history, ChatMessage(role="user", content=self.turn.text)],
                    model=self.config.model,
                    temperature=self.config.temperature,
                    max_tokens=self.config.max_tokens,
                    timeout=min(PROVIDER_IDLE_TIMEOUT_SECONDS, float(self.config.max_answer_seconds)),
                )
            )
        except ProviderError as exc:
            return self.model_failed(exc)
        except Exception as exc:
            # A provider that breaks its contract still gets the user an answer: an error message
            # (and the log only the type, as above).
            log.error("the provider raised %s", type(exc).__name__)
            return self.model_failed(ProviderError("unavailable", f"unexpected {type(exc).__name__}"))
        source = feed(stream)
        try:
            return self.pump(source)
        except DeliveryError as exc:
            source.close()  # the model stops before the user is told
            return self.delivery_failed(exc)
        finally:
            source.close()

    def pump(self, source: Feed) -> TurnResult:
        writer = self.writer
        typing_at = self.started + TYPING_AFTER_SECONDS if self.config.typing_text else None
        while True:
            now = self.clock()
            if now >= self.deadline:
                return self.stop(source, "timed_out")
            due = writer.next_flush_at()
            flush = due is not None and now >= due
            # Read before every update too: an update must not start after an interrupt it could
            # have seen (the final one then waits for that update's second).
            check = flush or now >= self.checked_at + INTERRUPT_POLL_SECONDS
            if writer.msg_keys and check and self.interrupted():
                return self.stop(source, "interrupted")
            if flush:
                writer.flush()
                continue
            if typing_at is not None and now >= typing_at:
                typing_at = None
                if not writer.started and not writer.pending:
                    writer.typing(str(self.config.typing_text))
                continue
            wake = [self.deadline, *(t for t in (due, typing_at) if t is not None)]
            if writer.msg_keys:
                wake.append(self.checked_at + INTERRUPT_POLL_SECONDS)
            item = source.get(min(wake) - now)
            while item is not None:
                if item is END:
                    return self.model_finished()
                if isinstance(item, ProviderError):
                    return self.model_failed(item)
                writer.add(str(item))
                # Everything already queued goes out together: an answer that is complete before
                # the first send is one message, finished.
                item = source.get(0.0)

    def interrupted(self) -> bool:
        self.checked_at = self.clock()
        try:
            return self._interrupted(self.writer.msg_keys)
        except Exception as exc:
            # The interrupt records are advisory: a failed read must not end a good answer.
            log.warning("could not read the interrupt records: %s", type(exc).__name__)
            return False

    # ------------------------------------------------------------------ endings

    def model_finished(self) -> TurnResult:
        self.model_end = self.clock()
        # On what was said, not on whether a message went out: a typing placeholder is no answer.
        if not self.writer.text and not self.writer.pending:
            self.emit("empty_answer")
            return self.failed("empty", EMPTY_ANSWER_TEXT)
        self.writer.finish()
        return self.result("finished")

    def stop(self, source: Feed, outcome: Outcome) -> TurnResult:
        source.close()
        self.emit(outcome, shown=len(self.writer.text), unsent=len(self.writer.pending))
        if outcome == "timed_out" and not self.writer.text:
            # Nothing to freeze: the time ran out before the model said anything.
            return self.failed("timeout", ProviderError.USER_TEXT["timeout"], outcome=outcome)
        self.writer.finish(keep_pending=False)
        return self.result(outcome)

    def model_failed(self, error: ProviderError) -> TurnResult:
        log.warning("the model failed: %s", error)
        self.emit("provider_error", kind=error.kind)
        return self.failed(error.kind, error.user_text)

    def delivery_failed(self, error: DeliveryError) -> TurnResult:
        log.warning("the answer could not be delivered: %s", error)
        self.emit("delivery_error", step=error.step)
        return self.failed("tencent", DELIVERY_FAILED_TEXT)

    def failed(self, kind: FailureCause, text: str, outcome: Outcome = "failed") -> TurnResult:
        try:
            self.writer.error(text)
        except DeliveryError as exc:
            log.warning("the error message could not be delivered: %s", exc)
            self.emit("delivery_error", step=exc.step)
        return self.result(outcome, kind)

    def result(self, outcome: Outcome, failure_kind: FailureCause | None = None) -> TurnResult:
        writer = self.writer
        lag = None
        if self.model_end is not None and writer.last_update_at is not None:
            lag = max(0.0, writer.last_update_at - self.model_end)
        return TurnResult(
            answer=writer.text,
            outcome=outcome,
            failure_kind=failure_kind,
            messages=writer.messages_sent,
            modifications=writer.updates,
            first_send_s=None if writer.first_sent_at is None else writer.first_sent_at - self.started,
            final_lag_s=lag,
            msg_keys=tuple(writer.msg_keys),
        )
