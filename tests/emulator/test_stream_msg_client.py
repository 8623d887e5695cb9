"""TimRestClient.send_c2c_stream / send_group_stream against the emulator: typed replies, a retry
after a fault that was committed sends the same body (same MsgRandom) so the chunk is stored once,
a group stream dropped by frequency control is MessageDropped, oversize calls never leave."""

from __future__ import annotations

import pytest

from local.tim_emulator import FakeClock, TimEmulator
from tests.emulator.conftest import ADMIN, APP, KEY
from timkit.models.elements import StreamChunk, StreamContent, StreamElem
from timkit.models.rest import SendC2CStreamRequest, SendGroupStreamRequest
from timkit.tim.errors import MessageDropped, MessageTooLarge, TimApiError
from timkit.tim.rest import RetryPolicy, TimRestClient


@pytest.fixture
def client(emulator: TimEmulator, clock: FakeClock) -> TimRestClient:
    return TimRestClient(
        APP,
        KEY,
        admin=ADMIN,
        base_url=emulator.url,
        clock=clock.now,
        sleep=lambda s: None,
        retry=RetryPolicy(attempts=4, base_delay=0.0),
    )


def body(index: int, markdown: str, last: bool = False, stream_id: str | None = None) -> list[StreamElem]:
    chunk = StreamChunk(EventType="data", Index=index, Markdown=markdown, IsLast=last)
    extra = {"StreamMsgID": stream_id} if stream_id else {}
    return [StreamElem(MsgContent=StreamContent(Chunks=[chunk], CompatibleText=markdown, **extra))]


def c2c(random: int, *args, **kwargs) -> SendC2CStreamRequest:
    return SendC2CStreamRequest(
        From_Account="@RBT#assistant",
        To_Account="alice",
        MsgRandom=random,
        SyncOtherMachine=2,
        MsgBody=body(*args, **kwargs),
    )


def test_c2c_stream_calls(client, tim) -> None:
    first = client.send_c2c_stream(c2c(1, 1, "Hel"))
    assert first.StreamMsgID and first.MsgKey and first.MsgTime
    last = client.send_c2c_stream(c2c(2, 2, "lo", last=True, stream_id=first.StreamMsgID))
    assert (last.StreamMsgID, last.MsgKey) == (first.StreamMsgID, first.MsgKey)
    [message] = tim.messages(MsgKey=first.MsgKey)
    assert [c["Markdown"] for c in message["MsgBody"][0]["MsgContent"]["Chunks"]] == ["Hel", "lo"]


def test_a_retry_after_a_committed_fault_stores_the_chunk_once(client, tim, emulator) -> None:
    first = client.send_c2c_stream(c2c(1, 1, "a"))
    emulator.configure(
        faults=[
            {"api": "stream_msg/send_c2c_stream_msg", "error_share": 1.0, "codes": [20005], "fault_after_commit": 1.0}
        ]
    )
    with pytest.raises(TimApiError):  # every attempt faults; what matters is what was stored
        client.send_c2c_stream(c2c(2, 2, "b", stream_id=first.StreamMsgID))
    emulator.configure(faults=[])
    attempts = tim.calls(api="stream_msg/send_c2c_stream_msg")[1:]
    assert len(attempts) == 4 and {a["request"]["MsgRandom"] for a in attempts} == {2}
    [message] = tim.messages(MsgKey=first.MsgKey)
    assert [c["Markdown"] for c in message["MsgBody"][0]["MsgContent"]["Chunks"]] == ["a", "b"]


def test_a_group_stream_dropped_by_frequency_control(client, emulator) -> None:
    emulator.configure(group_msg_per_second=1)
    request = SendGroupStreamRequest(GroupId="@TGS#demo", From_Account="@RBT#assistant", Random=1, MsgBody=body(1, "a"))
    assert client.send_group_stream(request).MsgSeq
    with pytest.raises(MessageDropped):
        client.send_group_stream(request.model_copy(update={"Random": 2}))


def test_an_oversize_stream_call_never_leaves(client, tim) -> None:
    with pytest.raises(MessageTooLarge):
        client.send_c2c_stream(c2c(1, 1, "x" * 13_000))
    assert tim.calls(api="stream_msg/send_c2c_stream_msg") == []
