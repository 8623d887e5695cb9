"""The chatbot worker's batch: bot turns from the FIFO queue, answered concurrently.

A stream spends most of its life waiting on the model, so the turns of one batch stream at once,
one thread per conversation (FIFO message group): a conversation's turns stay in order, one after
the other, while different conversations run side by side. A turn that cannot be handled now (the
store or Tencent unreachable) is reported failed with every later turn of its conversation, so
that SQS delivers them again in order.

Each user message is answered once, however often it is delivered: the answer is claimed in the
bot store first (a conditional write keyed by the message identity), and a claimed turn is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NoReturn, Protocol

from aws_lambda_powertools import Logger

from timkit.chatbot.providers import ChatMessage, Generation, Provider, ProviderError
from timkit.chatbot.stream import DeliveryError, writer_for
from timkit.chatbot.turn import TurnResult, answer_turn
from timkit.metrics import (
    CHATBOT_DUPLICATE_IGNORED,
    CHATBOT_FAILURES,
    CHATBOT_NOT_CONFIGURED,
    CHATBOT_OUTCOMES,
    CHATBOT_TURN_DEFERRED,
    CHATBOT_TURN_RETRIED,
)
from timkit.models.botconfig import MAX_ANSWER_SECONDS, BotConfig
from timkit.models.chatbot import Turn
from timkit.stores.bots import StoredConfigInvalid
from timkit.tim.rest import TimRestClient

# Conversation memory sent as context: at most this many characters of earlier turns.
MEMORY_MAX_CHARS = 16_000
# A turn is started only with this much of the invocation left: the longest answer a bot may
# stream (BotConfig's limit) and its last messages. Later turns of a conversation wait in the
# batch (FIFO order), and could otherwise run past the Lambda timeout mid-answer.
TURN_BUDGET_SECONDS = MAX_ANSWER_SECONDS + 60
# A turn that failed comes back after this, not after the queue's whole visibility timeout (sized
# for the longest answer): its conversation waits behind it.
RETRY_SECONDS = 10


@dataclass(frozen=True)
class QueuedTurn:
    """A turn as it came off the queue: its message id (for partial failures), its group and the
    receipt handle that hands it back."""

    message_id: str
    group: str
    turn: Turn
    receipt_handle: str = ""


class Store(Protocol):
    def claim_answer(self, identity: str) -> bool: ...

    def history(self, bot: str, conversation: str, turns: int, max_chars: int) -> list[ChatMessage]: ...

    def remember(
        self, bot: str, conversation: str, question: str, answer: str, keep_turns: int, max_chars: int
    ) -> None: ...

    def interrupted(self, bot: str, msg_keys: list[str]) -> bool: ...


class ChatbotWorker:
    def __init__(
        self,
        store: Store,
        configs: Callable[[str], BotConfig | None],
        rest: Callable[[], TimRestClient],
        provider_for: Callable[[BotConfig], Provider],
        logger: Logger,
        count: Callable[[str], None],
        retry_in: Callable[[str, int], None],
        answer: Callable[..., TurnResult] = answer_turn,
    ) -> None:
        self._store = store
        # A bot's configuration (cached briefly: see timkit.stores.bots.ConfigCache).
        self._configs = configs
        self._rest = rest
        self._provider_for = provider_for
        self._log = logger
        # Records a metric (by name) for each turn's outcome.
        self._count = count
        # Makes a queued turn visible again after some seconds (by its receipt handle).
        self._retry_in = retry_in
        self._answer = answer

    def process(self, turns: Iterable[QueuedTurn], remaining: Callable[[], float]) -> list[str]:
        """Answer a batch; the message ids to deliver again. ``remaining``: seconds left in the
        invocation."""
        groups: dict[str, list[QueuedTurn]] = {}
        for queued in turns:
            groups.setdefault(queued.group, []).append(queued)
        if not groups:
            return []
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="chatbot-turn") as pool:
            failed = pool.map(lambda conversation: self._conversation(conversation, remaining), groups.values())
            return [message_id for ids in failed for message_id in ids]

    def _conversation(self, queued: list[QueuedTurn], remaining: Callable[[], float]) -> list[str]:
        """One conversation's turns, in order; from the first that fails (or that there is no
        time left for) on, all are retried."""
        for position, item in enumerate(queued):
            # This thread's lines carry the user message's identity, which the callback and the event
            # processor log the same message under (other conversations run in other threads).
            self._log.thread_safe_append_keys(correlation_id=item.turn.identity)
            if position and remaining() < TURN_BUDGET_SECONDS:
                self._count(CHATBOT_TURN_DEFERRED)
                return self._hand_back(queued[position:])
            try:
                self.answer(item.turn)
            except Exception:
                self._log.exception(
                    "bot turn could not be handled; retried", bot=item.turn.bot, identity=item.turn.identity
                )
                self._count(CHATBOT_TURN_RETRIED)
                return self._hand_back(queued[position:])
        return []

    def _hand_back(self, retried: list[QueuedTurn]) -> list[str]:
        for later in retried:
            try:
                self._retry_in(later.receipt_handle, RETRY_SECONDS)
            except Exception:  # it then comes back after the visibility timeout
                self._log.exception("could not hand a bot turn back early", identity=later.turn.identity)
        return [later.message_id for later in retried]

    def answer(self, turn: Turn) -> TurnResult | None:
        """Answer one turn (None when it was answered before, or the bot has no usable
        configuration). What can fail for want of AWS is read before the answer is claimed: a
        claimed turn is one the user gets an answer or an error message for."""
        try:
            config = self._configs(turn.bot)
        except StoredConfigInvalid:
            self._log.warning("bot configuration no longer valid: PUT /admin/bots/{botId}/config", bot=turn.bot)
            config = None
        history = (
            []
            if config is None
            else self._store.history(turn.bot, turn.conversation, config.context_turns, MEMORY_MAX_CHARS)
        )
        # Per bot and message: one group message may @-mention several bots, each answers once.
        if not self._store.claim_answer(turn.dedupe_id):
            self._count(CHATBOT_DUPLICATE_IGNORED)
            return None
        if config is None:
            self._log.warning("bot has no usable configuration: PUT /admin/bots/{botId}/config", bot=turn.bot)
            self._count(CHATBOT_NOT_CONFIGURED)
            try:
                writer_for("custom", self._rest(), turn).error(ProviderError.USER_TEXT["config"])
            except DeliveryError as exc:
                self._log.warning("could not tell the user the bot is not configured", bot=turn.bot, error=str(exc))
            return None
        try:
            provider = self._provider_for(config)
        except ProviderError as exc:
            provider = _Failing(exc)
        result = self._answer(
            turn,
            config,
            history,
            provider,
            self._rest(),
            interrupted=lambda keys: self._store.interrupted(turn.bot, keys),
        )
        self._count(CHATBOT_OUTCOMES[result.outcome])
        if result.failure_kind is not None:
            self._count(CHATBOT_FAILURES[result.failure_kind])
            self._log.warning("bot answer failed", bot=turn.bot, identity=turn.identity, cause=result.failure_kind)
        if result.answer:
            try:
                self._store.remember(
                    turn.bot, turn.conversation, turn.text, result.answer, config.context_turns, MEMORY_MAX_CHARS
                )
            except Exception:  # the answer is delivered; memory is context for the next one
                self._log.exception("could not remember the turn", bot=turn.bot, identity=turn.identity)
        return result


class _Failing:
    """A provider that could not be made (bad configuration): the turn reports its error."""

    def __init__(self, error: ProviderError) -> None:
        self._error = error

    def stream(self, request: Generation) -> NoReturn:
        raise self._error
