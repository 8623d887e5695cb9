"""python -m local.ws_chat: what each typed line sends."""

from __future__ import annotations

import json

import pytest

from local.ws_chat import Usage, frame_of
from timkit.models.ws import parse_frame

NOW = 1_730_000_000


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("@bob hello there", {"type": "single", "target": "bob", "content": "hello there"}),
        ("#@TGS#demo hi all", {"type": "group", "target": "@TGS#demo", "content": "hi all"}),
    ],
)
def test_messages_are_frames_the_gateway_takes(line: str, expected: dict[str, str]) -> None:
    frame = frame_of(line, "alice", 7, NOW)
    got = parse_frame(json.dumps(frame))
    assert (got.type, got.source, got.target) == (expected["type"], "alice", expected["target"])
    assert got.msg.msgId == 7 and got.msg.timestamp == NOW
    assert got.msg.content() == {"content": expected["content"]}


def test_join_leave_and_raw_frames() -> None:
    assert frame_of("/join room", "bob", 3, NOW) == {
        "type": "join",
        "source": "bob",
        "target": "room",
        "msg": {"msgId": 3},
    }
    assert frame_of("/leave room", "bob", 4, NOW)["type"] == "leave"
    assert frame_of('{"type": "x", "any": 1}', "bob", 5, NOW) == {"type": "x", "any": 1}


@pytest.mark.parametrize("line", ["hello", "@bob", "{not json", "[1, 2]", "/part room"])
def test_anything_else_says_how_to_type(line: str) -> None:
    with pytest.raises(Usage):
        frame_of(line, "alice", 1, NOW)
