"""The stream engine against the emulator over HTTP with the real REST client: what Tencent
stores is the model's answer (joined chunks, across roll-over messages), every message finished,
modifications at least a second apart as the emulator received them, the interrupt keys those of
the stored messages, a user's interrupt (src 22 sent through the emulator) freezing the answer,
and the native stream APIs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.tim_emulator import FakeClock, TimEmulator
from local.tim_emulator.control import EmulatorControl
from tests.emulator.conftest import ADMIN, APP, KEY
from tests.unit.chatbot_fakes import C2C_TURN, GROUP_TURN, Provider, ScriptedFeed, Settings, ended, tokens
from timkit.chatbot.turn import END, TurnResult, answer_turn
from timkit.models.chatbot import Turn, parse_chatbot
from timkit.tim.rest import TimRestClient

ANSWER = 'Streaming, "quoted" and\nescaped \\ text — 流式 🌊. ' * 40


class SharedClock:
    """The emulator's fake clock, as the turn's clock, sleep and scripted feed use it."""

    def __init__(self, fake: FakeClock) -> None:
        self.fake = fake

    @property
    def now(self) -> float:
        return self.fake.now()

    @now.setter
    def now(self, value: float) -> None:
        self.fake.set(value)

    def __call__(self) -> float:
        return self.fake.now()

    def sleep(self, seconds: float) -> None:
        self.fake.advance(seconds)


@pytest.fixture
def client(emulator: TimEmulator, clock: FakeClock) -> TimRestClient:
    return TimRestClient(APP, KEY, admin=ADMIN, base_url=emulator.url, clock=clock.now, sleep=lambda s: None)


def answer(
    client: TimRestClient,
    clock: FakeClock,
    script: list[tuple[float, Any]],
    turn: Turn = C2C_TURN,
    settings: Settings | None = None,
    interrupted: Any = None,
) -> TurnResult:
    shared = SharedClock(clock)
    start = clock.now()
    timed = [(start + at, item) for at, item in script]
    return answer_turn(
        turn,
        settings or Settings(),
        [],
        Provider(),
        client,
        interrupted or (lambda keys: False),
        clock=shared,
        sleep=shared.sleep,
        feed=lambda stream: ScriptedFeed(shared, timed),
    )


def bot_messages(tim: EmulatorControl, **filters: Any) -> list[dict[str, Any]]:
    return tim.messages(From_Account="@RBT#assistant", **filters)


def test_a_long_c2c_answer_as_stored_by_tencent(client, tim, clock) -> None:
    long = ANSWER * 6  # about 28 KB of body once escaped
    result = answer(client, clock, ended(tokens(long, 0.0, 0.01, size=7), after=0.4))
    assert result.outcome == "finished" and result.answer == long
    stored = bot_messages(tim)
    assert len(stored) >= 2 and result.messages == len(stored)  # rolled over
    texts = []
    for message in stored:
        final = parse_chatbot(message["MsgBody"][0]["MsgContent"]["Data"])
        assert final is not None and final.isFinished == 1
        texts.append(final.text)
        times = [h["time"] for h in message["history"]]
        assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    assert "".join(texts) == long
    # The interrupt keys are the stored messages' MsgKeys, oldest first.
    assert list(result.msg_keys) == [m["MsgKey"] for m in stored]
    assert result.modifications == sum(len(m["history"]) for m in stored)


def test_a_group_answer_and_its_interrupt_key(client, tim, clock) -> None:
    result = answer(client, clock, [(0.0, "Hi "), (0.5, "group"), (1.2, "!"), (1.3, END)], turn=GROUP_TURN)
    [message] = bot_messages(tim, GroupId="@TGS#demo")
    assert result.msg_keys == (f"{message['MsgSeq']}_{message['Random']}_{message['MsgTime']}",)
    final = parse_chatbot(message["MsgBody"][0]["MsgContent"]["Data"])
    assert final is not None and final.text == "Hi group!" and final.isFinished == 1


def test_a_users_interrupt_freezes_the_answer(client, tim, clock) -> None:
    start = clock.now()
    sent: list[str] = []

    def interrupted(keys: list[str]) -> bool:
        if clock.now() >= start + 3.2 and not sent:
            # The user presses stop on the message they see: an online-only src 22 message (docs/protocol.md §8.3).
            data = json.dumps({"chatbotPlugin": 2, "src": 22, "msgKey": keys[-1]})
            tim.send_c2c(
                "alice",
                "@RBT#assistant",
                [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": data}}],
                OnlineOnlyFlag=1,
            )
            sent.append(keys[-1])
        received = [
            parse_chatbot(m["MsgBody"][0]["MsgContent"].get("Data", ""))
            for m in tim.messages(From_Account="alice", To_Account="@RBT#assistant")
        ]
        return any(p is not None and p.src == 22 and p.msgKey in keys for p in received)

    result = answer(client, clock, ended(tokens(ANSWER * 3, 0.0, 0.05)), interrupted=interrupted)
    assert result.outcome == "interrupted" and sent
    [message] = bot_messages(tim)
    final = parse_chatbot(message["MsgBody"][0]["MsgContent"]["Data"])
    assert final is not None and final.isFinished == 1 and final.text == result.answer
    assert message["history"][-1]["time"] - (start + 3.2) <= 1.5
    assert len(result.answer) < len(ANSWER * 3)


def test_a_native_answer(client, tim, clock) -> None:
    text = ANSWER[:300]
    result = answer(client, clock, ended(tokens(text, 0.0, 0.1, size=9)), settings=Settings(streaming_mode="native"))
    assert result.outcome == "finished" and result.answer == text
    [message] = bot_messages(tim)
    content = message["MsgBody"][0]["MsgContent"]
    assert "".join(c["Markdown"] for c in content["Chunks"]) == text
    assert content["CompatibleText"] == text and message["stream_ended"] is True
    assert result.msg_keys == (message["MsgKey"],)
