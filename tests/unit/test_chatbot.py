"""AI-chatbot custom messages (docs/protocol.md §8.3)."""

from __future__ import annotations

import json

import pytest

from timkit.models.chatbot import (
    ErrorPayload,
    InterruptPayload,
    StreamPayload,
    chatbot_payloads,
    is_robot,
    parse_chatbot,
)
from timkit.models.elements import CustomElem, dump_body, parse_body


def test_stream_payload() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2, "src":2, "chunks":["Hel","lo"], "isFinished":0}')
    assert isinstance(payload, StreamPayload)
    assert payload.chunks == ["Hel", "lo"]
    assert payload.text == "Hello"
    assert payload.isFinished == 0
    assert payload.typingText is None


def test_stream_payload_with_typing_text() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2,"src":2,"chunks":[],"isFinished":0,"typingText":"Thinking…"}')
    assert isinstance(payload, StreamPayload)
    assert payload.chunks == [] and payload.text == ""
    assert payload.typingText == "Thinking…"
    assert payload.isFinished == 0


def test_stream_payload_without_is_finished_is_finished() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2,"src":2,"chunks":["done"]}')
    assert isinstance(payload, StreamPayload)
    assert payload.isFinished == 1


def test_stream_payload_may_carry_the_bots_msg_key() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2,"src":2,"chunks":["a"],"isFinished":0,"msgKey":"5_6_7"}')
    assert payload.msgKey == "5_6_7"


def test_interrupt_payload() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2, "src":22, "msgKey":"7311_3088123456_1730000000"}')
    assert isinstance(payload, InterruptPayload)
    assert payload.msgKey == "7311_3088123456_1730000000"


@pytest.mark.parametrize(
    "msg_key",
    ["1_2", "1_2_3_4", "a_2_3", "1__3", "", "1_2_3\n", " 1_2_3", "1-2-3", "1_2_3x"],
)
def test_interrupt_with_a_malformed_msg_key_is_not_a_chatbot_payload(msg_key: str) -> None:
    assert parse_chatbot(json.dumps({"chatbotPlugin": 2, "src": 22, "msgKey": msg_key})) is None


def test_interrupt_without_msg_key_is_not_a_chatbot_payload() -> None:
    assert parse_chatbot('{"chatbotPlugin":2,"src":22}') is None


def test_error_payload() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2, "src":23, "errorInfo":"model unavailable", "isFinished":1}')
    assert isinstance(payload, ErrorPayload)
    assert payload.errorInfo == "model unavailable"
    assert payload.isFinished == 1


@pytest.mark.parametrize(
    "data",
    [
        "",
        "hello",
        '{"lvl":3}',
        '{"businessID":"order","chatbotPlugin_not":2}',
        '{"chatbotPlugin":1,"src":2,"chunks":[]}',
        '{"chatbotPlugin":2,"src":9}',
        '{"chatbotPlugin":2,"src":"2"}',
        '{"chatbotPlugin":2,"src":2,"chunks":"Hello"}',
        '{"chatbotPlugin":2,"src":2,"isFinished":5}',
        '{"chatbotPlugin":2,"src":23}',
        '{"chatbotPlugin":2,"src":2,"chunks":["a"]',
        '["chatbotPlugin", 2]',
        '"chatbotPlugin"',
        "null",
        '{"chatbotPlugin":2,"src":2,"chunks":' + "[" * 5000 + "]" * 5000 + "}",
    ],
    ids=[
        "empty",
        "text",
        "other-json",
        "no-marker",
        "plugin-1",
        "unknown-src",
        "src-string",
        "chunks-string",
        "bad-isFinished",
        "error-without-info",
        "truncated",
        "array",
        "string",
        "null",
        "deeply-nested",
    ],
)
def test_non_chatbot_or_broken_data_gives_none(data: str) -> None:
    assert parse_chatbot(data) is None


@pytest.mark.parametrize(
    "payload",
    [
        StreamPayload(chunks=["Hel", "lo"], isFinished=0),
        StreamPayload(chunks=[], isFinished=0, typingText="…"),
        StreamPayload(chunks=["答案"], isFinished=1, msgKey="1_2_3"),
        InterruptPayload(msgKey="1_2_3"),
        ErrorPayload(errorInfo="出错了"),
    ],
    ids=["stream", "typing", "final-chinese", "interrupt", "error"],
)
def test_to_elem_round_trip(payload) -> None:
    elem = payload.to_elem()
    assert isinstance(elem, CustomElem)
    data = json.loads(elem.MsgContent.Data)
    assert data["chatbotPlugin"] == 2
    assert data["src"] == payload.src
    # No nulls go out: fields that are not set are left out.
    assert None not in data.values()
    # Through the wire form and back.
    (parsed_elem,) = parse_body(dump_body([elem]))
    assert dump_body([parsed_elem])[0]["MsgType"] == "TIMCustomElem"
    assert parse_chatbot(parsed_elem.MsgContent.Data) == payload


def test_to_elem_wire_form_of_a_stream_update() -> None:
    elem = StreamPayload(chunks=["Hel", "lo"], isFinished=0).to_elem()
    (wire,) = dump_body([elem])
    assert wire["MsgType"] == "TIMCustomElem"
    assert json.loads(wire["MsgContent"]["Data"]) == {
        "chatbotPlugin": 2,
        "src": 2,
        "chunks": ["Hel", "lo"],
        "isFinished": 0,
    }


def test_unknown_payload_fields_survive_the_round_trip() -> None:
    payload = parse_chatbot('{"chatbotPlugin":2,"src":2,"chunks":["a"],"isFinished":0,"future":{"k":1}}')
    assert json.loads(payload.to_elem().MsgContent.Data)["future"] == {"k": 1}


def test_chatbot_payloads_in_a_body() -> None:
    body = parse_body(
        [
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": '{"chatbotPlugin":2,"src":22,"msgKey":"1_2_3"}'}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"lvl":3}'}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"chatbotPlugin":2,"src":22,"msgKey":"4_5_6"}'}},
            {"MsgType": "TIMFutureElem", "MsgContent": {"Data": '{"chatbotPlugin":2,"src":22,"msgKey":"7_8_9"}'}},
        ]
    )
    found = chatbot_payloads(body)
    # Only custom elements carry chatbot payloads.
    assert found == [InterruptPayload(msgKey="4_5_6")]


@pytest.mark.parametrize(
    ("account", "robot"),
    [("@RBT#assistant", True), ("@RBT#", True), ("u_1001", False), ("@rbt#x", False), ("x@RBT#y", False), ("", False)],
)
def test_is_robot(account: str, robot: bool) -> None:
    assert is_robot(account) is robot
