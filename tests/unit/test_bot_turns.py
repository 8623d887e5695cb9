"""Which bot callbacks become turns for the chatbot worker (timkit.models.chatbot.bot_turns):
users' text to a bot, group messages that @-mention bots; never a bot's own message, another
bot's, an interrupt or any other chatbot payload (no loops)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from timkit.models.callbacks import parse_callback
from timkit.models.chatbot import Turn, bot_turns

BOT, OTHER = "@RBT#assistant", "@RBT#other"


def c2c(sender: str = "alice", to: str = BOT, body: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    doc = {
        "CallbackCommand": "Bot.OnC2CMessage",
        "From_Account": sender,
        "To_Account": to,
        "MsgSeq": 7,
        "MsgRandom": 11,
        "MsgTime": 1730000000,
        "MsgKey": "7_11_1730000000",
        "MsgBody": body if body is not None else text("what is a merger?"),
        **extra,
    }
    return parse_callback("Bot.OnC2CMessage", json.dumps(doc))


def group(at: list[str], sender: str = "alice", body: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    doc = {
        "CallbackCommand": "Bot.OnGroupMessage",
        "GroupId": "@TGS#demo",
        "From_Account": sender,
        "Random": 5,
        "MsgSeq": 42,
        "MsgTime": 1730000001,
        "AtRobots_Account": at,
        "MsgBody": body if body is not None else text("@assistant hello"),
        **extra,
    }
    return parse_callback("Bot.OnGroupMessage", json.dumps(doc))


def text(value: str) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}]


def custom(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": json.dumps(data)}}]


def test_a_users_text_to_a_bot_is_one_turn() -> None:
    (turn,) = bot_turns(c2c())
    assert turn == Turn(
        bot=BOT, kind="c2c", user="alice", identity="c2c:7_11_1730000000", text="what is a merger?", msg_time=1730000000
    )
    assert turn.conversation == "c2c:alice"


def test_text_elements_are_joined_and_other_elements_ignored() -> None:
    body = [*text("first"), {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1}}, *text("second")]
    assert bot_turns(c2c(body=body))[0].text == "first\nsecond"


@pytest.mark.parametrize(
    "event",
    [
        c2c(sender=OTHER),  # another bot: bots never answer bots
        c2c(sender=BOT),  # its own message
        c2c(to="bob"),  # not to a bot
        c2c(body=custom({"chatbotPlugin": 2, "src": 22, "msgKey": "1_2_3"})),  # an interrupt
        c2c(body=custom({"chatbotPlugin": 2, "src": 2, "chunks": ["x"], "isFinished": 1})),  # a bot's answer
        c2c(body=[*text("hi"), *custom({"chatbotPlugin": 2, "src": 23, "errorInfo": "x"})]),
        c2c(body=[{"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageInfoArray": []}}]),  # no text
        c2c(body=text("   ")),
        group(at=[]),  # a group message that mentions no bot
        group(at=["bob"]),  # a mention of a user is not a bot's turn
        group(at=[BOT], sender=OTHER),
    ],
    ids=[
        "other-bot",
        "own",
        "not-to-a-bot",
        "interrupt",
        "stream",
        "error-payload",
        "image",
        "blank",
        "group-no-mention",
        "group-user-mention",
        "group-from-bot",
    ],
)
def test_no_turn(event: Any) -> None:
    assert bot_turns(event) == []


def test_other_commands_are_not_turns() -> None:
    after = parse_callback(
        "C2C.CallbackAfterSendMsg",
        json.dumps({"From_Account": "alice", "To_Account": BOT, "MsgKey": "1_2_3", "MsgBody": text("hi")}),
    )
    assert bot_turns(after) == []


def test_a_group_mention_is_a_turn_for_each_bot_mentioned_once() -> None:
    turns = bot_turns(group(at=[BOT, OTHER, BOT, "bob"]))
    assert [t.bot for t in turns] == [BOT, OTHER]
    assert {t.identity for t in turns} == {"group:@TGS#demo:42"}
    assert {t.conversation for t in turns} == {"group:@TGS#demo"}
    # Each bot answers in its own order and is claimed apart.
    assert turns[0].queue_group != turns[1].queue_group
    assert turns[0].dedupe_id != turns[1].dedupe_id


def test_a_topics_turn_is_its_own_conversation() -> None:
    (turn,) = bot_turns(group(at=[BOT], TopicId="@TGS#demo@TOPIC#t1"))
    assert turn.topic_id == "@TGS#demo@TOPIC#t1"
    assert turn.conversation == "group:@TGS#demo:@TGS#demo@TOPIC#t1"
    (plain,) = bot_turns(group(at=[BOT], TopicId=""))
    assert plain.topic_id is None


def test_queue_ids_fit_sqs() -> None:
    turn = bot_turns(c2c(sender="u" * 32))[0]
    for value in (turn.queue_group, turn.dedupe_id):
        assert len(value) <= 128 and value.isascii() and value.isalnum()
    # One conversation's turns share their group; another message is another deduplication id.
    later = bot_turns(c2c(sender="u" * 32, MsgKey="8_12_1730000002"))[0]
    assert later.queue_group == turn.queue_group and later.dedupe_id != turn.dedupe_id


def test_a_message_tencent_did_not_deliver_is_not_answered() -> None:
    assert bot_turns(c2c(SendMsgResult=80001, ErrorInfo="sensitive word")) == []
