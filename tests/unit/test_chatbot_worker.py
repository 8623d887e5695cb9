"""The chatbot worker's batch (timkit.chatbot.worker.ChatbotWorker): one answer per bot and
message, a conversation's turns in order, conversations at once, and a turn that fails retried
with the later turns of its conversation."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

from aws_lambda_powertools import Logger

from timkit.chatbot.providers import ChatMessage
from timkit.chatbot.turn import TurnResult
from timkit.chatbot.worker import ChatbotWorker, QueuedTurn
from timkit.models.botconfig import BotConfig
from timkit.models.chatbot import Turn

BOT = "@RBT#assistant"
FULL = lambda: 900.0  # noqa: E731 - the invocation's whole time left
CONFIG = BotConfig(provider="openai", model="local-echo", baseUrl="http://127.0.0.1:3002/v1")


class Store:
    def __init__(self) -> None:
        self.claims: set[str] = set()
        self.memory: list[tuple[str, str, str]] = []
        self.fail_claims_for: set[str] = set()
        self.history_failures = 0

    def claim_answer(self, identity: str) -> bool:
        if identity in self.fail_claims_for:
            raise ConnectionError("DynamoDB unreachable")
        if identity in self.claims:
            return False
        self.claims.add(identity)
        return True

    def history(self, bot: str, conversation: str, turns: int, max_chars: int) -> list[ChatMessage]:
        if self.history_failures:
            self.history_failures -= 1
            raise ConnectionError("DynamoDB unreachable")
        return [
            m
            for c, q, a in self.memory
            if c == conversation
            for m in (ChatMessage(role="user", content=q), ChatMessage(role="assistant", content=a))
        ]

    def remember(self, bot: str, conversation: str, question: str, answer: str, keep: int, max_chars: int) -> None:
        self.memory.append((conversation, question, answer))

    def interrupted(self, bot: str, msg_keys: list[str]) -> bool:
        return False


class Answers:
    """Stands in for answer_turn: records what it answered, when, and with what history."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.log: list[tuple[str, float, float, int]] = []
        self.lock = threading.Lock()

    def __call__(self, turn: Turn, config: Any, history: list[ChatMessage], *args: Any, **kwargs: Any) -> TurnResult:
        start = time.monotonic()
        time.sleep(self.seconds)
        with self.lock:
            self.log.append((turn.text, start, time.monotonic(), len(history)))
        return TurnResult(answer=f"answer to {turn.text}", outcome="finished")


def turn(user: str, n: int) -> QueuedTurn:
    t = Turn(bot=BOT, kind="c2c", user=user, identity=f"c2c:{user}:{n}", text=f"{user}-{n}")
    return QueuedTurn(message_id=f"m-{user}-{n}", group=t.queue_group, turn=t, receipt_handle=f"r-{user}-{n}")


def worker(
    store: Store, answers: Answers, counted: list[str], handed_back: list[tuple[str, int]] | None = None
) -> ChatbotWorker:
    back = handed_back if handed_back is not None else []
    return ChatbotWorker(
        store,
        lambda bot: CONFIG,
        lambda: None,
        lambda config: None,
        Logger(service="test"),
        counted.append,
        lambda handle, s: back.append((handle, s)),
        answer=answers,
    )


def test_each_message_is_answered_once_however_often_it_comes() -> None:
    store, answers, counted = Store(), Answers(), []
    w = worker(store, answers, counted)
    assert w.process([turn("alice", 1), turn("alice", 1)], FULL) == []
    assert w.process([turn("alice", 1)], FULL) == []
    assert [text for text, *_ in answers.log] == ["alice-1"]
    assert counted.count("ChatbotDuplicateIgnored") == 2 and counted.count("ChatbotAnswered") == 1


def test_one_conversations_turns_in_order_with_memory_conversations_at_once() -> None:
    store, answers, counted = Store(), Answers(seconds=0.2), []
    batch = [turn("alice", 1), turn("bob", 1), turn("alice", 2), turn("carol", 1), turn("bob", 2)]
    assert worker(store, answers, counted).process(batch, FULL) == []
    log = {text: (start, end, history) for text, start, end, history in answers.log}
    # In order within a conversation, the second seeing the first in its memory...
    assert log["alice-1"][1] <= log["alice-2"][0] and log["bob-1"][1] <= log["bob-2"][0]
    assert log["alice-2"][2] == 2 and log["alice-1"][2] == 0
    # ... while the conversations ran side by side: the three first turns overlapped.
    firsts = [log[name] for name in ("alice-1", "bob-1", "carol-1")]
    assert max(start for start, _, _ in firsts) < min(end for _, end, _ in firsts)


def test_a_failing_turn_is_retried_with_the_later_turns_of_its_conversation_only() -> None:
    store, answers, counted = Store(), Answers(), []
    store.fail_claims_for = {turn("alice", 2).turn.dedupe_id}
    batch = [turn("alice", 1), turn("alice", 2), turn("alice", 3), turn("bob", 1)]
    handed_back: list[tuple[str, int]] = []
    failed = worker(store, answers, counted, handed_back).process(batch, FULL)
    assert sorted(failed) == ["m-alice-2", "m-alice-3"]
    # Back within seconds, not after the visibility timeout sized for the longest answer.
    assert sorted(handed_back) == [("r-alice-2", 10), ("r-alice-3", 10)]
    assert sorted(text for text, *_ in answers.log) == ["alice-1", "bob-1"]
    assert "ChatbotTurnRetried" in counted


def test_a_bot_mentioned_with_another_in_one_message_is_answered_by_both() -> None:
    store, answers, counted = Store(), Answers(), []
    turns = [
        Turn(bot=bot, kind="group", user="alice", group_id="@TGS#demo", identity="group:@TGS#demo:5", text="hi")
        for bot in (BOT, "@RBT#other")
    ]
    batch = [QueuedTurn(f"m{i}", t.queue_group, t) for i, t in enumerate(turns)]
    assert worker(store, answers, counted).process(batch, FULL) == []
    assert len(answers.log) == 2


def test_a_turn_that_fails_before_its_answer_began_is_answered_when_it_comes_again() -> None:
    store, answers, counted = Store(), Answers(), []
    store.history_failures = 1
    w = worker(store, answers, counted)
    assert w.process([turn("alice", 1)], FULL) == ["m-alice-1"]
    assert answers.log == []
    assert w.process([turn("alice", 1)], FULL) == []
    assert [text for text, *_ in answers.log] == ["alice-1"]
    assert "ChatbotDuplicateIgnored" not in counted


def test_later_turns_of_a_conversation_wait_for_an_invocation_with_time_for_them() -> None:
    store, answers, counted, handed_back = Store(), Answers(), [], []
    # 100 s left: each conversation's first turn runs (the invocation started with its whole time),
    # a later one would start with too little time for the longest answer.
    failed = worker(store, answers, counted, handed_back).process(
        [turn("alice", 1), turn("alice", 2), turn("bob", 1)], lambda: 100.0
    )
    assert failed == ["m-alice-2"] and handed_back == [("r-alice-2", 10)]
    assert sorted(text for text, *_ in answers.log) == ["alice-1", "bob-1"]
    assert "ChatbotTurnDeferred" in counted


def test_each_conversations_log_lines_carry_its_messages_identity() -> None:
    # Conversations run in threads side by side: each thread's lines name its own message (the id
    # the callback and the event processor log it under), never another thread's.
    together = threading.Barrier(3, timeout=10)

    class Failing(Answers):
        def __call__(self, turn: Turn, *args: Any, **kwargs: Any) -> TurnResult:
            together.wait()  # all three conversations are in their answer at once
            raise RuntimeError("the model is down")

    stream = io.StringIO()
    w = ChatbotWorker(
        Store(),
        lambda bot: CONFIG,
        lambda: None,
        lambda config: None,
        Logger(service="test-correlation", stream=stream),
        [].append,
        lambda handle, s: None,
        answer=Failing(),
    )
    batch = [turn("alice", 1), turn("bob", 1), turn("carol", 1)]
    assert sorted(w.process(batch, FULL)) == sorted(q.message_id for q in batch)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted((r["correlation_id"], r["identity"]) for r in lines) == [
        (q.turn.identity, q.turn.identity) for q in sorted(batch, key=lambda q: q.turn.identity)
    ]
