"""The chatbot end to end through `make run`'s stack: a user's message reaches the emulator, which
calls the bundle's callback as Tencent does; the callback queues the bot's turn, the chatbot worker
streams the local model's answer back through the emulator's REST API. What a client would show
is read from the emulator's message store (each message's last body and its modifications)."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.chat import Answer, bot_messages, follow, interrupt, read_answer
from local.model_server import expected_answer
from local.tim_emulator.control import EmulatorControl
from tests.e2e.conftest import StackState
from timkit.tim.callback_auth import callback_query

BOT = "@RBT#assistant"
GROUP = "@TGS#demo"
CONFIG_PATH = "/admin/bots/%40RBT%23assistant/config"


def configure(stack: StackState, model: str, **fields: Any) -> None:
    config = {"provider": "openai", "model": model, "baseUrl": stack.model_url + "/v1", **fields}
    answer = requests.put(
        stack.api_url + CONFIG_PATH, json=config, timeout=10, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture
def bot(local_stack: StackState) -> Iterator[StackState]:
    """The demo bot, configured back to the local echo model after the test (the stack runs with
    CONFIG_CACHE_SECONDS=0: the worker reads a changed configuration at once)."""
    yield local_stack
    configure(local_stack, "local-echo")


def ask(tim: EmulatorControl, user: str, question: str, group: str | None = None) -> Answer:
    after = len(bot_messages(tim, BOT, user, group))
    if group is None:
        sent = tim.send_c2c(user, BOT, question)
    else:
        sent = tim.send_group(user, group, question, GroupAtInfo=[{"GroupAtAllFlag": 0, "GroupAt_Account": BOT}])
    assert sent["ErrorCode"] == 0, sent
    return follow(tim, BOT, user, group, after, timeout=60, out=io.StringIO())


def payload(message: dict[str, Any]) -> dict[str, Any]:
    return json.loads(message["MsgBody"][0]["MsgContent"]["Data"])


def test_an_answer_streams_into_one_message_whose_chunks_are_the_models_answer(
    local_stack: StackState, tim: EmulatorControl
) -> None:
    before = len(bot_messages(tim, BOT, "alice", None))
    question = f"what is a merger? {uuid.uuid4().hex[:6]}"
    answer = ask(tim, "alice", question)
    assert answer.error is None
    assert answer.text == expected_answer(question, "local-echo")
    (message,) = bot_messages(tim, BOT, "alice", None)[before:]
    # Sent, then modified with growing chunks, the last version finished.
    versions = [payload({"MsgBody": version["MsgBody"]}) for version in message["history"]]
    assert versions, "the answer should have been modified as it grew"
    texts = ["".join(v["chunks"]) for v in versions]
    assert all(earlier and later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    assert [v["isFinished"] for v in versions][-1] == 1 and all(v["isFinished"] == 0 for v in versions[:-1])
    final = payload(message)
    assert (final["chatbotPlugin"], final["src"]) == (2, 2)


def test_the_same_bot_callback_three_times_gives_one_answer(local_stack: StackState, tim: EmulatorControl) -> None:
    user = "carol"
    question = f"once only {uuid.uuid4().hex[:6]}"
    after = len(bot_messages(tim, BOT, user, None))
    key = f"{int(time.time()) % 100000}_{uuid.uuid4().int % 2**32}_{int(time.time())}"
    body = {
        "CallbackCommand": "Bot.OnC2CMessage",
        "From_Account": user,
        "To_Account": BOT,
        "MsgSeq": 1,
        "MsgRandom": 2,
        "MsgTime": int(time.time()),
        "MsgKey": key,
        "OnlineOnlyFlag": 0,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": question}}],
        "CloudCustomData": "",
    }
    for _ in range(3):
        query = callback_query(
            local_stack.sdkappid, "Bot.OnC2CMessage", token=local_stack.callback_token, request_time=int(time.time())
        )
        answer = requests.post(local_stack.api_url + "/tim/callback", params=query, json=body, timeout=10)
        assert answer.status_code == 200, answer.text
    answered = follow(tim, BOT, user, None, after, timeout=60, out=io.StringIO())
    assert answered.text == expected_answer(question, "local-echo")
    time.sleep(2)  # room for a second answer, were one coming: there must be none
    assert len(read_answer(tim, BOT, user, None, after).texts) == 1


def test_a_group_mention_is_answered_in_the_group(local_stack: StackState, tim: EmulatorControl) -> None:
    question = f"@assistant hello group {uuid.uuid4().hex[:6]}"
    answer = ask(tim, "alice", question, group=GROUP)
    assert answer.error is None
    assert answer.text == expected_answer(question, "local-echo")


def test_an_interrupt_mid_stream_stops_the_answer(bot: StackState, tim: EmulatorControl) -> None:
    configure(bot, "local-slow")
    user, question = "bob", f"tell me everything {uuid.uuid4().hex[:6]}"
    after = len(bot_messages(tim, BOT, user, None))
    assert tim.send_c2c(user, BOT, question)["ErrorCode"] == 0
    started = EmulatorControl.wait_until(
        lambda: read_answer(tim, BOT, user, None, after).keys, 30, "the first message of the answer"
    )
    interrupt(tim, BOT, user, started[-1])
    answer = follow(tim, BOT, user, None, after, timeout=30, out=io.StringIO())
    whole = expected_answer(question, "local-slow")
    assert answer.error is None and answer.finished == [True]
    assert whole.startswith(answer.text) and len(answer.text) < len(whole)


def test_a_failing_model_gives_the_error_message(bot: StackState, tim: EmulatorControl) -> None:
    configure(bot, "local-fail-mid-stream")
    answer = ask(tim, "carol", f"this will fail {uuid.uuid4().hex[:6]}")
    assert answer.error is not None and answer.error.strip()
    assert "Traceback" not in answer.error and "http" not in answer.error.lower()


def test_a_long_answer_rolls_over_into_a_second_message(bot: StackState, tim: EmulatorControl) -> None:
    configure(bot, "local-long", maxTokens=2000)
    question = f"a long one {uuid.uuid4().hex[:6]}"
    answer = ask(tim, "alice", question)
    assert answer.error is None
    assert len(answer.texts) >= 2 and all(answer.finished)
    assert answer.text == expected_answer(question, "local-long", max_tokens=2000)
