"""BotStore against moto (the bot state table as template.yaml declares it): configurations, one
answer per user message, conversation memory and the interrupt records the callback writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import xform_name

from local.tim_emulator import FakeClock
from tests.moto_env import offline_aws, template_table
from timkit.chatbot.providers import ChatMessage
from timkit.models.botconfig import BotConfig
from timkit.stores.bots import BATCH_GET_KEYS, BotStore, ConfigCache, StoredConfigInvalid, memory_key
from timkit.stores.fastpath import InterruptStore

TABLE = "timkit-bot-state-test"
BOT = "@RBT#assistant"
T0 = 1_730_000_000.0
BEDROCK = BotConfig(provider="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0")
OPENAI = BotConfig.model_validate(
    {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "baseUrl": "https://api.openai.com/v1",
        "apiKey": "openai",
        "systemPrompt": "Be brief.",
        "temperature": 0,
        "maxTokens": 200,
        "contextTurns": 3,
        "maxAnswerSeconds": 30,
        "streamingMode": "native",
        "typingText": "…",
    }
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[BotStore]:
    with offline_aws(monkeypatch):
        template_table("BotStateTable", TABLE)
        yield BotStore(TABLE, clock=clock.now)


def item(pk: str) -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": pk}}).get("Item")


# ----------------------------------------------------------------------------- configuration


def test_a_config_is_stored_read_replaced_and_deleted(store: BotStore) -> None:
    assert store.get_config(BOT) is None
    store.put_config(BOT, OPENAI)
    assert store.get_config(BOT) == OPENAI
    store.put_config(BOT, BEDROCK)
    assert store.get_config(BOT) == BEDROCK
    assert store.get_config("@RBT#other") is None
    assert store.delete_config(BOT) is True
    assert store.get_config(BOT) is None
    assert store.delete_config(BOT) is False


def test_a_config_never_expires(store: BotStore) -> None:
    store.put_config(BOT, BEDROCK)
    stored = item(f"config#{BOT}")
    assert stored is not None and "expires_at" not in stored


def test_a_stored_config_this_version_refuses_is_an_error_naming_the_field(store: BotStore) -> None:
    stored = {**BEDROCK.model_dump(by_alias=True), "maxTokens": 100_000}
    boto3.client("dynamodb").put_item(
        TableName=TABLE, Item={"pk": {"S": f"config#{BOT}"}, "config": {"S": json.dumps(stored)}}
    )
    with pytest.raises(StoredConfigInvalid, match=f"stored for {BOT} is no longer valid \\(maxTokens: "):
        store.get_config(BOT)


def test_the_config_cache_keeps_a_config_and_its_absence_for_its_ttl(store: BotStore) -> None:
    now = [100.0]
    cache = ConfigCache(store, ttl=5, clock=lambda: now[0])
    assert cache.get(BOT) is None
    store.put_config(BOT, BEDROCK)
    now[0] += 4.9
    assert cache.get(BOT) is None  # the absence is cached too
    now[0] += 0.1
    assert cache.get(BOT) == BEDROCK
    store.put_config(BOT, OPENAI)
    assert cache.get(BOT) == BEDROCK
    now[0] += 5
    assert cache.get(BOT) == OPENAI


# ----------------------------------------------------------------------------- one answer per message


def test_a_message_is_claimed_once_however_often_it_comes(store: BotStore) -> None:
    assert store.claim_answer("c2c:123_456_789", ttl=86400) is True
    assert [store.claim_answer("c2c:123_456_789", ttl=86400) for _ in range(3)] == [False] * 3
    assert store.claim_answer("c2c:123_456_790") is True  # by default, longer than SQS keeps a message
    assert item("answered#c2c:123_456_790")["expires_at"] == {"N": str(int(T0) + 5 * 86400)}
    stored = item("answered#c2c:123_456_789")
    assert stored is not None and stored["expires_at"] == {"N": str(int(T0) + 86400)}


def test_a_claim_past_its_ttl_is_void_even_before_dynamodb_deletes_it(store: BotStore, clock: FakeClock) -> None:
    assert store.claim_answer("group:g1:7", ttl=60) is True
    clock.advance(60)
    assert store.claim_answer("group:g1:7", ttl=60) is False  # still within its time
    clock.advance(1)
    assert store.claim_answer("group:g1:7", ttl=60) is True
    assert store.claim_answer("group:g1:7", ttl=60) is False


# ----------------------------------------------------------------------------- memory


def turns(history: list[ChatMessage]) -> list[tuple[str, str]]:
    assert [m.role for m in history] == ["user", "assistant"] * (len(history) // 2)
    return [(history[i].content, history[i + 1].content) for i in range(0, len(history), 2)]


def test_memory_keeps_the_last_turns_in_order(store: BotStore) -> None:
    assert store.history(BOT, "c2c:alice", 10, 10_000) == []
    for n in range(1, 6):
        store.remember(BOT, "c2c:alice", f"q{n}", f"a{n}", keep_turns=3, max_chars=10_000)
    assert turns(store.history(BOT, "c2c:alice", 10, 10_000)) == [("q3", "a3"), ("q4", "a4"), ("q5", "a5")]
    assert turns(store.history(BOT, "c2c:alice", 2, 10_000)) == [("q4", "a4"), ("q5", "a5")]
    assert store.history(BOT, "c2c:alice", 0, 10_000) == []


def test_memory_is_bounded_in_characters_dropping_the_oldest(store: BotStore) -> None:
    for n in range(1, 4):
        store.remember(BOT, "c2c:alice", "q" * 10, str(n) * 10, keep_turns=10, max_chars=45)
    # Two turns (40 characters) fit in 45; the oldest went.
    assert [a for _, a in turns(store.history(BOT, "c2c:alice", 10, 10_000))] == ["2" * 10, "3" * 10]
    # Read with a lower bound (the configuration changed), fewer come back.
    assert [a for _, a in turns(store.history(BOT, "c2c:alice", 10, 39))] == ["3" * 10]
    # A turn over the bound on its own replaces everything: none of it is kept.
    store.remember(BOT, "c2c:alice", "long", "x" * 50, keep_turns=10, max_chars=45)
    assert store.history(BOT, "c2c:alice", 10, 10_000) == []


def test_memory_is_per_bot_and_conversation(store: BotStore) -> None:
    store.remember(BOT, "c2c:alice", "qa", "aa", keep_turns=5, max_chars=100)
    store.remember(BOT, "group:@TGS#1", "qg", "ag", keep_turns=5, max_chars=100)
    store.remember("@RBT#other", "c2c:alice", "qo", "ao", keep_turns=5, max_chars=100)
    assert turns(store.history(BOT, "c2c:alice", 5, 100)) == [("qa", "aa")]
    assert turns(store.history(BOT, "group:@TGS#1", 5, 100)) == [("qg", "ag")]
    assert turns(store.history("@RBT#other", "c2c:alice", 5, 100)) == [("qo", "ao")]
    assert store.history(BOT, "c2c:bob", 5, 100) == []


def test_memory_keeps_any_text_and_expires_when_idle(store: BotStore) -> None:
    question, answer = "emoji 😀, quotes \"' and\nnew lines", ""  # an empty answer is a turn too
    store.remember(BOT, "c2c:alice", question, answer, keep_turns=5, max_chars=1000, ttl=3600)
    assert turns(store.history(BOT, "c2c:alice", 5, 1000)) == [(question, answer)]
    stored = item(memory_key(BOT, "c2c:alice"))
    assert stored is not None and stored["expires_at"] == {"N": str(int(T0) + 3600)}


def test_memory_written_meanwhile_is_not_lost(store: BotStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A redelivered turn racing its first run: the write that finds another's version re-reads."""
    store.remember(BOT, "c2c:alice", "q1", "a1", keep_turns=5, max_chars=100)
    read = store._turns
    raced = []

    def read_then_race(bot: str, conversation: str) -> Any:
        seen = read(bot, conversation)
        if not raced:
            raced.append(True)
            BotStore(TABLE).remember(BOT, "c2c:alice", "q2", "a2", keep_turns=5, max_chars=100)
        return seen

    monkeypatch.setattr(store, "_turns", read_then_race)
    store.remember(BOT, "c2c:alice", "q3", "a3", keep_turns=5, max_chars=100)
    assert turns(store.history(BOT, "c2c:alice", 5, 100)) == [("q1", "a1"), ("q2", "a2"), ("q3", "a3")]


# ----------------------------------------------------------------------------- interrupts


class Boto3Json:
    """The callback's AWS JSON client's interface over boto3, so the records read here are written
    by the callback's own InterruptStore (into moto)."""

    def __init__(self) -> None:
        self._client = boto3.client("dynamodb")

    def call(self, action: str, payload: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
        return getattr(self._client, xform_name(action))(**payload)


def test_an_interrupt_the_callback_recorded_is_read(store: BotStore) -> None:
    interrupts = InterruptStore(TABLE, 86400, Boto3Json())
    keys = ["101_2001_1730000000", "102_2002_1730000001"]
    assert store.interrupted(BOT, keys) is False
    assert store.interrupted(BOT, []) is False
    interrupts.record("@RBT#other", "alice", keys[1])  # another bot's message with that key
    assert store.interrupted(BOT, keys) is False
    interrupts.record(BOT, "alice", keys[1])
    assert store.interrupted(BOT, keys) is True
    assert store.interrupted(BOT, [keys[0]]) is False
    assert store.interrupted(BOT, [keys[1], keys[1]]) is True  # a key named twice is read once


def test_interrupts_are_read_past_one_batch(store: BotStore) -> None:
    keys = [f"{n}_1_1730000000" for n in range(BATCH_GET_KEYS * 2 + 1)]
    InterruptStore(TABLE, 86400, Boto3Json()).record(BOT, "alice", keys[-1])
    assert store.interrupted(BOT, keys) is True
    assert store.interrupted(BOT, keys[:-1]) is False
