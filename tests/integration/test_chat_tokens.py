"""The thread API's idempotency records on moto: one attempt owns a token at a time, a finished
one answers every repeat, an abandoned one is taken over once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.tim_emulator import FakeClock
from tests.moto_env import offline_aws, template_table
from timkit.chat.client import LEASE_SECONDS, _Tokens
from timkit.chat.errors import IdempotencyConflict, OperationInProgress
from timkit.stores.chat_tokens import ChatTokenStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[ChatTokenStore]:
    with offline_aws(monkeypatch):
        template_table("IdempotencyTable", "idempotency")
        yield ChatTokenStore("idempotency", clock=clock.now)


@pytest.fixture
def tokens(store: ChatTokenStore, clock: FakeClock) -> _Tokens:
    return _Tokens(store, clock.now)


def test_the_first_attempt_owns_the_token_and_a_concurrent_one_is_told_to_wait(tokens: _Tokens) -> None:
    assert tokens.claim("k", "f", 7) is None
    with pytest.raises(OperationInProgress):
        tokens.claim("k", "f", 7)
    with pytest.raises(IdempotencyConflict):
        tokens.claim("k", "another request", 7)


def test_a_finished_token_answers_its_result(tokens: _Tokens) -> None:
    assert tokens.claim("k", "f", 7) is None
    tokens.finish("k", "group:g:1")
    record = tokens.claim("k", "f", 7)
    assert record is not None and (record.state, record.result) == ("done", "group:g:1")


def test_a_released_or_expired_attempt_is_taken_over_once(
    tokens: _Tokens, store: ChatTokenStore, clock: FakeClock
) -> None:
    assert tokens.claim("released", "f", 7) is None
    tokens.release("released")
    record = tokens.claim("released", "f", 7)
    assert record is not None and (record.state, record.random) == ("pending", 7)
    with pytest.raises(OperationInProgress):  # the taker's lease is live now
        tokens.claim("released", "f", 7)

    assert tokens.claim("crashed", "f", 9) is None
    clock.advance(LEASE_SECONDS + 1)
    stale = store.get("crashed")
    assert stale is not None
    assert store.take_over(stale, LEASE_SECONDS)
    assert not store.take_over(stale, LEASE_SECONDS)  # a second taker loses the race
