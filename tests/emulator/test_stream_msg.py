"""Native stream messages (docs/protocol.md §8.4, limits §6.1): send_c2c_stream_msg / send_group_stream_msg start a
stored message and answer its StreamMsgID; continuations carry it and append their chunks (kept
with their time in the message's history); IsLast ends it; the limits (15 s between chunks, 5
calls/s, consecutive Index, 12 KB per call) and a retried call changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from local.tim_emulator import FakeClock
from tests.emulator.conftest import Rest

C2C = "stream_msg/send_c2c_stream_msg"
GROUP = "stream_msg/send_group_stream_msg"


def stream_body(
    index: int, markdown: str, last: bool = False, stream_id: str | None = None, compatible: str = ""
) -> list[dict[str, Any]]:
    content: dict[str, Any] = {
        "Chunks": [{"EventType": "data", "Index": index, "Markdown": markdown, "IsLast": last}],
        "CompatibleText": compatible,
    }
    if stream_id is not None:
        content["StreamMsgID"] = stream_id
    return [{"MsgType": "TIMStreamElem", "MsgContent": content}]


def c2c(random: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {
        "From_Account": "@RBT#assistant",
        "To_Account": "alice",
        "MsgRandom": random,
        "SyncOtherMachine": 2,
        "MsgBody": stream_body(*args, **kwargs),
    }


def test_a_c2c_stream_message_grows_chunk_by_chunk(rest: Rest, tim, clock: FakeClock) -> None:
    first = rest.ok(C2C, c2c(1, 1, "Hel", compatible="Hel"))
    stream_id = first["StreamMsgID"]
    assert stream_id and first["MsgKey"].split("_")[1:] == ["1", str(first["MsgTime"])]
    clock.advance(1)
    again = rest.ok(C2C, c2c(2, 2, "lo", stream_id=stream_id, compatible="Hello"))
    assert (again["StreamMsgID"], again["MsgKey"]) == (stream_id, first["MsgKey"])
    clock.advance(1)
    rest.ok(C2C, c2c(3, 3, "!", last=True, stream_id=stream_id, compatible="Hello!"))
    [message] = tim.messages(MsgKey=first["MsgKey"])
    content = message["MsgBody"][0]["MsgContent"]
    assert [c["Markdown"] for c in content["Chunks"]] == ["Hel", "lo", "!"]
    assert (content["CompatibleText"], content["StreamMsgID"], message["stream_ended"]) == ("Hello!", stream_id, True)
    # Every call is kept with the time it arrived.
    assert [(h["time"] - message["history"][0]["time"], h["Chunks"][0]["Markdown"]) for h in message["history"]] == [
        (0, "Hel"),
        (1, "lo"),
        (2, "!"),
    ]
    # Ended: nothing more.
    assert rest(C2C, c2c(4, 4, "more", stream_id=stream_id))["ErrorCode"] == 20001


def test_a_group_stream_message(rest: Rest, tim) -> None:
    body = {"GroupId": "@TGS#demo", "From_Account": "@RBT#assistant", "Random": 7, "MsgBody": stream_body(1, "Hi")}
    first = rest.ok(GROUP, body)
    assert first["MsgSeq"] >= 1 and first["MsgDropReason"] == "" and first["StreamMsgID"]
    rest.ok(GROUP, {**body, "Random": 8, "MsgBody": stream_body(2, " all", True, first["StreamMsgID"])})
    [message] = tim.messages(GroupId="@TGS#demo", MsgSeq=first["MsgSeq"])
    assert [c["Markdown"] for c in message["MsgBody"][0]["MsgContent"]["Chunks"]] == ["Hi", " all"]
    # Another sender cannot continue the bot's stream.
    other = {**body, "From_Account": "alice", "Random": 9, "MsgBody": stream_body(3, "x", False, first["StreamMsgID"])}
    assert rest(GROUP, other)["ErrorCode"] == 20026


def test_a_retried_call_changes_nothing(rest: Rest, tim) -> None:
    first = rest.ok(C2C, c2c(11, 1, "a"))
    assert rest.ok(C2C, c2c(11, 1, "a"))["StreamMsgID"] == first["StreamMsgID"]
    rest.ok(C2C, c2c(12, 2, "b", stream_id=first["StreamMsgID"]))
    rest.ok(C2C, c2c(12, 2, "b", stream_id=first["StreamMsgID"]))
    [message] = tim.messages(MsgKey=first["MsgKey"])
    assert [c["Markdown"] for c in message["MsgBody"][0]["MsgContent"]["Chunks"]] == ["a", "b"]


def test_stream_limits(rest: Rest, clock: FakeClock, emulator) -> None:
    stream_id = rest.ok(C2C, c2c(1, 1, "a"))["StreamMsgID"]
    # Index must continue the stream.
    assert rest(C2C, c2c(2, 3, "b", stream_id=stream_id))["ErrorCode"] == 20001
    # At most 5 calls per second on one stream (the first call counts).
    for n in range(2, 6):
        rest.ok(C2C, c2c(n, n, "x", stream_id=stream_id))
    assert rest(C2C, c2c(6, 6, "x", stream_id=stream_id))["ErrorCode"] == 60007
    clock.advance(1.0)
    rest.ok(C2C, c2c(6, 6, "x", stream_id=stream_id))
    # More than 15 s without a chunk ends the stream.
    clock.advance(15.5)
    assert rest(C2C, c2c(7, 7, "late", stream_id=stream_id))["ErrorCode"] == 20001
    assert rest(C2C, c2c(8, 8, "later", stream_id=stream_id))["ErrorCode"] == 20001
    # Unknown stream, oversize call.
    assert rest(C2C, c2c(9, 1, "a", stream_id="nope"))["ErrorCode"] == 20026
    assert rest(C2C, c2c(10, 1, "x" * 12_300))["ErrorCode"] == 93000


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(MsgBody={"MsgType": "TIMStreamElem"}),
        lambda b: b.update(MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]),
        lambda b: b["MsgBody"][0]["MsgContent"].update(Chunks=[]),
        lambda b: b["MsgBody"][0]["MsgContent"].update(Chunks="x"),
        lambda b: b["MsgBody"][0]["MsgContent"]["Chunks"][0].update(Index="1"),
        lambda b: b["MsgBody"][0]["MsgContent"]["Chunks"][0].update(IsLast=1),
        lambda b: b["MsgBody"][0]["MsgContent"]["Chunks"][0].pop("Markdown"),
        lambda b: b["MsgBody"][0]["MsgContent"].update(StreamMsgID=5),
        lambda b: b.update(MsgBody=stream_body(1, "a") * 2),
        lambda b: b.update(MsgRandom=-1),
        lambda b: b.pop("To_Account"),
    ],
)
def test_malformed_stream_calls_are_refused(rest: Rest, tim, mutate) -> None:
    body = c2c(1, 1, "a")
    mutate(body)
    answer = rest(C2C, body)
    assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] != 0
    assert tim.messages() == []
