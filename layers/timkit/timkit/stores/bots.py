"""The chatbot's state in the bot state table (``pk`` hash key, TTL attribute ``expires_at``):

pk = config#<bot>                     the bot's configuration (BotConfig as JSON); kept until deleted
pk = answered#<identity>              a user message answered (or being answered): one answer each
pk = memory#<bot>#<conversation>      the last turns of a conversation, newest last, and a version
pk = interrupt#<bot>#<msgKey>         a user's interrupt (written by the callback: stores.fastpath)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from pydantic import ValidationError

from timkit.chatbot.providers import ChatMessage
from timkit.models.botconfig import BotConfig
from timkit.stores.dynamo import attrs, plain
from timkit.stores.fastpath import interrupt_key

# An idle conversation's memory goes after this long (a returning user starts afresh).
MEMORY_TTL_SECONDS = 30 * 86400
# BatchGetItem takes at most 100 keys.
BATCH_GET_KEYS = 100
UNPROCESSED_ATTEMPTS = 3
# remember() is a read-modify-write guarded by a version: the FIFO queue runs one conversation's
# turns one at a time, so a conflict means a redelivered turn raced its first run; it is re-read.
REMEMBER_ATTEMPTS = 3
CONFIG_CACHE_SECONDS = 5.0
# How long a user message stays claimed: longer than the queue may keep (and redeliver) a message
# (SQS keeps one 4 days by default), and than Tencent retries a callback (minutes).
ANSWER_CLAIM_SECONDS = 5 * 86400

Turns = list[dict[str, str]]


def config_key(bot: str) -> str:
    return f"config#{bot}"


def answered_key(identity: str) -> str:
    return f"answered#{identity}"


def memory_key(bot: str, conversation: str) -> str:
    return f"memory#{bot}#{conversation}"


def _key(pk: str) -> dict[str, Any]:
    return attrs({"pk": pk})


class StoredConfigInvalid(ValueError):
    """A stored configuration that this version's BotConfig refuses (a rule tightened since it was put)."""

    def __init__(self, bot: str, error: ValidationError) -> None:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "config"
        problem = f"{field}: {first['msg']}"
        super().__init__(f"the configuration stored for {bot} is no longer valid ({problem}): put it again")
        self.bot = bot


def _recent(turns: Turns, keep: int, max_chars: int) -> Turns:
    """The newest ``keep`` turns that fit in ``max_chars`` (questions and answers counted), oldest
    first. A turn that alone is over the bound is dropped with everything before it."""
    kept: Turns = []
    total = 0
    for turn in reversed(turns[-keep:] if keep > 0 else []):
        total += len(turn["q"]) + len(turn["a"])
        if total > max_chars:
            break
        kept.append(turn)
    return kept[::-1]


class BotStore:
    def __init__(self, table: str, client: Any | None = None, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._db = client or boto3.client("dynamodb")
        self._clock = clock

    # ------------------------------------------------------------------ configuration

    def get_config(self, bot: str) -> BotConfig | None:
        reply = self._db.get_item(TableName=self._table, Key=_key(config_key(bot)), ConsistentRead=True)
        item = reply.get("Item")
        if not item:
            return None
        try:
            return BotConfig.model_validate_json(plain(item)["config"])
        except ValidationError as exc:
            raise StoredConfigInvalid(bot, exc) from None

    def put_config(self, bot: str, config: BotConfig) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=attrs(
                {
                    "pk": config_key(bot),
                    "bot": bot,
                    "config": config.model_dump_json(by_alias=True),
                    "updated_at": int(self._clock()),
                }
            ),
        )

    def delete_config(self, bot: str) -> bool:
        """True when there was a configuration to delete."""
        reply = self._db.delete_item(TableName=self._table, Key=_key(config_key(bot)), ReturnValues="ALL_OLD")
        return "Attributes" in reply

    # ------------------------------------------------------------------ one answer per message

    def claim_answer(self, identity: str, ttl: int = ANSWER_CLAIM_SECONDS) -> bool:
        """True for the first claim of a user message's identity within ``ttl`` seconds, False for
        every later one (a callback Tencent delivered again, a redelivered queue message)."""
        now = int(self._clock())
        try:
            self._db.put_item(
                TableName=self._table,
                Item=attrs({"pk": answered_key(identity), "claimed_at": now, "expires_at": now + ttl}),
                # DynamoDB deletes expired items within days, not at once: one past its time is void.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues=attrs({":now": now}),
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # ------------------------------------------------------------------ conversation memory

    def _turns(self, bot: str, conversation: str) -> tuple[Turns, int]:
        reply = self._db.get_item(TableName=self._table, Key=_key(memory_key(bot, conversation)), ConsistentRead=True)
        item = reply.get("Item")
        if not item:
            return [], 0
        found = plain(item)
        return found["turns"], found["version"]

    def history(self, bot: str, conversation: str, turns: int, max_chars: int) -> list[ChatMessage]:
        """The last ``turns`` turns within ``max_chars``, as the model reads them: user, assistant,
        user, assistant..., oldest first."""
        if turns <= 0:
            return []
        recent = _recent(self._turns(bot, conversation)[0], turns, max_chars)
        messages: list[ChatMessage] = []
        for turn in recent:
            messages += [ChatMessage(role="user", content=turn["q"]), ChatMessage(role="assistant", content=turn["a"])]
        return messages

    def remember(
        self,
        bot: str,
        conversation: str,
        question: str,
        answer: str,
        keep_turns: int,
        max_chars: int,
        *,
        ttl: int = MEMORY_TTL_SECONDS,
    ) -> None:
        """Adds a turn to the conversation's memory, keeping the newest ``keep_turns`` within
        ``max_chars`` (the oldest go first)."""
        key = _key(memory_key(bot, conversation))
        for attempt in range(1, REMEMBER_ATTEMPTS + 1):
            turns, version = self._turns(bot, conversation)
            kept = _recent([*turns, {"q": question, "a": answer}], keep_turns, max_chars)
            now = int(self._clock())
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={**key, **attrs({"turns": kept, "version": version + 1, "expires_at": now + ttl})},
                    ConditionExpression="attribute_not_exists(pk) OR version = :seen",
                    ExpressionAttributeValues=attrs({":seen": version}),
                )
                return
            except self._db.exceptions.ConditionalCheckFailedException:
                if attempt == REMEMBER_ATTEMPTS:
                    raise

    # ------------------------------------------------------------------ interrupts

    def interrupted(self, bot: str, msg_keys: list[str]) -> bool:
        """Whether the user interrupted any of these messages of the bot's (consistent reads)."""
        keys = list(dict.fromkeys(msg_keys))  # BatchGetItem refuses a key named twice
        for start in range(0, len(keys), BATCH_GET_KEYS):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [_key(interrupt_key(bot, k)) for k in keys[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "pk",
                }
            }
            for attempt in range(1, UNPROCESSED_ATTEMPTS + 1):
                reply = self._db.batch_get_item(RequestItems=pending)
                if reply.get("Responses", {}).get(self._table):
                    return True
                pending = reply.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.02 * attempt)
        # Keys still unread after that (the table throttled) count as not interrupted: the worker
        # asks again at its next check, within half a second.
        return False


class ConfigCache:
    """Bot configurations as the worker reads them: each (and its absence) kept ``ttl`` seconds,
    so that an edit is in use everywhere within that time. Safe to share between threads."""

    def __init__(
        self, store: BotStore, ttl: float = CONFIG_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, BotConfig | None]] = {}

    def get(self, bot: str) -> BotConfig | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(bot)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        config = self._store.get_config(bot)
        with self._lock:
            self._entries[bot] = (now, config)
        return config
