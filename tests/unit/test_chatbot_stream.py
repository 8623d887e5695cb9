"""The answer writers on their own (timkit.chatbot.stream): what leaves them when Tencent refuses
(a typed DeliveryError, nothing else), group messages dropped by the frequency limit sent again as
new messages, the error message's shape, and which writer a bot's streaming mode gets."""

from __future__ import annotations

import pytest

from tests.unit.chatbot_fakes import C2C_TURN, GROUP_TURN, Clock, FakeRest
from timkit.chatbot.stream import (
    GROUP_DROP_RETRIES,
    GROUP_DROP_WAIT_SECONDS,
    CustomMessageWriter,
    DeliveryError,
    NativeStreamWriter,
    writer_for,
)
from timkit.models.chatbot import Turn
from timkit.models.rest import SendStreamReply
from timkit.tim.errors import MessageDropped, MessageTooLarge, TimApiError, TimTransportError


def writer(turn: Turn = C2C_TURN, native: bool = False) -> tuple[CustomMessageWriter | NativeStreamWriter, FakeRest]:
    clock = Clock()
    rest = FakeRest(clock)
    kind = NativeStreamWriter if native else CustomMessageWriter
    return kind(rest, turn, clock=clock, sleep=clock.sleep), rest


def test_a_group_message_dropped_by_frequency_control_is_sent_again_as_a_new_message() -> None:
    out, rest = writer(GROUP_TURN)
    rest.fail["send_group_msg"] = [MessageDropped("group_open_http_svc/send_group_msg", "MsgFreqCtrl", "@TGS#demo")]
    out.add("hi")
    out.flush()
    dropped, sent = rest.calls
    assert sent.time - dropped.time == GROUP_DROP_WAIT_SECONDS
    assert sent.body["Random"] != dropped.body["Random"]  # a new message, not a retry of the dropped one
    assert out.msg_keys == [f"{sent.handle}_{sent.body['Random']}_{int(sent.time)}"]
    assert out.messages_sent == 1 and out.text == "hi"


def test_a_group_message_dropped_every_time_is_a_delivery_error() -> None:
    out, rest = writer(GROUP_TURN)
    drop = MessageDropped("group_open_http_svc/send_group_msg", "MsgFreqCtrl", "@TGS#demo")
    rest.fail["send_group_msg"] = [drop] * (GROUP_DROP_RETRIES + 1)
    out.add("hi")
    with pytest.raises(DeliveryError, match="frequency limit"):
        out.flush()
    assert out.messages_sent == 0 and out.text == ""


@pytest.mark.parametrize(
    "error",
    [
        TimApiError("openim/sendmsg", 90001, "invalid"),
        TimTransportError("openim/sendmsg", "timed out"),
        MessageTooLarge("openim/sendmsg", 13000, 12288),
    ],
)
def test_tencent_failures_leave_the_writer_as_delivery_errors_only(error: Exception) -> None:
    out, rest = writer()
    rest.fail["sendmsg"] = [error]
    out.add("hi")
    with pytest.raises(DeliveryError) as raised:
        out.flush()
    assert raised.value.step == "sendmsg" and str(error) in str(raised.value)
    # Nothing more of the answer is tried; the error message still goes out.
    assert out.next_flush_at() is None
    out.finish()
    out.error("The answer could not be delivered.")
    assert [c.payload["src"] for c in rest.calls[1:]] == [23]


def test_a_request_tencent_would_refuse_for_its_shape_is_a_delivery_error() -> None:
    too_long = Turn(bot="@RBT#assistant", kind="c2c", user="u" * 40, identity="x", text="q")
    out, rest = writer(too_long)
    out.add("hi")
    with pytest.raises(DeliveryError, match="invalid request"):
        out.flush()
    assert rest.calls == []


def test_the_error_message_finishes_what_was_streaming_first() -> None:
    out, rest = writer()
    out.add("Half an ans")
    out.flush()
    out.add("wer")
    out.error("Sorry.")
    send, final, error = rest.calls
    assert final.api == "modify_c2c_msg" and final.payload["isFinished"] == 1
    assert final.payload["chunks"] == ["Half an ans", "wer"]
    assert final.time - send.time == 1.0  # the final update waited its turn
    assert error.api == "sendmsg"
    assert error.payload == {"chatbotPlugin": 2, "src": 23, "errorInfo": "Sorry.", "isFinished": 1}
    assert out.messages_sent == 2 and out.msg_keys == [send.handle]


def test_finishing_with_nothing_sent_sends_nothing() -> None:
    for native in (False, True):
        out, rest = writer(native=native)
        out.finish()
        out.add("unseen")
        out.finish(keep_pending=False)
        assert rest.calls == [] and out.next_flush_at() is None


def test_a_native_stream_without_a_stream_id_is_a_delivery_error() -> None:
    out, rest = writer(native=True)
    rest.send_c2c_stream = lambda request: SendStreamReply()
    out.add("hi")
    with pytest.raises(DeliveryError, match="StreamMsgID"):
        out.flush()


@pytest.mark.parametrize(
    ("mode", "turn", "kind"),
    [
        ("custom", C2C_TURN, CustomMessageWriter),
        ("native", C2C_TURN, NativeStreamWriter),
        ("native", GROUP_TURN, NativeStreamWriter),
        ("native", GROUP_TURN.model_copy(update={"topic_id": "@TGS#demo@TOPIC#_1"}), CustomMessageWriter),
    ],
)
def test_writer_for(mode: str, turn: Turn, kind: type) -> None:
    clock = Clock()
    assert isinstance(writer_for(mode, FakeRest(clock), turn, clock=clock), kind)
