"""The events queue and the chatbot's turn queue: a body SQS would refuse is queued encoded, and
comes back as it was; any other body is queued as is."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from timkit.models.chatbot import Turn
from timkit.stores.fastpath import ENCODING_ATTRIBUTE, EventQueue, TurnQueue, queued_body, sqs_body


def sqs_accepts(text: str) -> bool:
    """SQS's documented set for a message body: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD
    | #x10000 to #x10FFFF (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html)."""
    return all(
        c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF
        for c in map(ord, text)
    )


def test_every_character_is_queued_as_is_exactly_when_sqs_accepts_it() -> None:
    wrong = []
    for code in range(0x110000):
        char = chr(code)
        body, encoding = sqs_body(f'{{"Text":"{char}"}}')
        if (encoding is None) != sqs_accepts(char):
            wrong.append(hex(code))
        elif encoding is None:
            assert body == f'{{"Text":"{char}"}}'
    assert wrong == []


@pytest.mark.parametrize(
    "text",
    ["\uffff", "\ufffe", "\x00", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "a\uffffb\U0001f600\ufffe"],
)
def test_refused_characters_are_encoded_and_come_back_unchanged(text: str) -> None:
    raw = f'{{"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"{text}"}}}}]}}'
    body, encoding = sqs_body(raw)
    assert encoding == "base64"
    assert sqs_accepts(body) and body.isascii()
    assert queued_body(body, encoding) == raw


@pytest.mark.parametrize("text", ["", "hello", "\t\n\r", "\ud7ff\ue000\ufffd", "\U00010000\U0010ffff", "中文 😀"])
def test_accepted_bodies_are_queued_as_they_are(text: str) -> None:
    assert sqs_body(text) == (text, None)
    assert queued_body(text, None) == text


def test_unknown_encoding_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="gzip"):
        queued_body("abc", "gzip")
    with pytest.raises(ValueError):
        queued_body("not base64!", "base64")


class RecordingSqs:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, action: str, payload: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
        self.calls.append((action, payload))
        return {"MessageId": "m-1"}


def test_put_marks_an_encoded_body_with_a_message_attribute() -> None:
    sqs = RecordingSqs()
    queue = EventQueue("https://sqs.example/q", sqs)
    raw = '{"Text":"\uffff"}'
    queue.put("C2C.CallbackAfterSendMsg", raw, 1730000000)
    queue.put("C2C.CallbackAfterSendMsg", '{"Text":"plain"}', 1730000000)
    (_, encoded), (_, plain) = sqs.calls
    assert encoded["MessageBody"] == base64.b64encode(raw.encode()).decode()
    assert encoded["MessageAttributes"][ENCODING_ATTRIBUTE] == {"DataType": "String", "StringValue": "base64"}
    assert encoded["MessageAttributes"]["command"]["StringValue"] == "C2C.CallbackAfterSendMsg"
    assert plain["MessageBody"] == '{"Text":"plain"}'
    assert ENCODING_ATTRIBUTE not in plain["MessageAttributes"]


def test_a_turn_is_queued_in_its_conversations_group_once_per_bot_and_message() -> None:
    sqs = RecordingSqs()
    queue = TurnQueue("https://sqs.example/q.fifo", sqs)
    first = Turn(bot="@RBT#a", kind="c2c", user="alice", identity="c2c:1_2_3", text="hi \uffff")
    again = first.model_copy(update={"identity": "c2c:4_5_6", "text": "next"})
    queue.put(first)
    queue.put(again)
    (_, one), (_, two) = sqs.calls
    assert one["MessageGroupId"] == two["MessageGroupId"] == first.queue_group
    assert (one["MessageDeduplicationId"], two["MessageDeduplicationId"]) == (first.dedupe_id, again.dedupe_id)
    # A text SQS would refuse travels encoded and comes back whole.
    assert one["MessageAttributes"][ENCODING_ATTRIBUTE]["StringValue"] == "base64"
    assert Turn.model_validate_json(queued_body(one["MessageBody"], "base64")) == first
    assert "MessageAttributes" not in two and Turn.model_validate_json(two["MessageBody"]) == again
