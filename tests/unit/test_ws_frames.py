"""The WebSocket gateway's frames and their mapping to Tencent messages (timkit.models.ws, timkit.ws.mapping)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from timkit.models.callbacks import C2CAfterSend, GroupAfterSend
from timkit.models.elements import CustomElem, TextElem, body_size, dump_body, parse_body
from timkit.models.ws import (
    MALFORMED,
    MAX_FRAME_BYTES,
    NOT_JSON,
    TOO_LARGE,
    UNKNOWN_TYPE,
    Ack,
    Frame,
    FrameError,
    ok,
    parse_frame,
    tencent_id,
)
from timkit.ws.mapping import CUSTOM_EXT, ENVELOPE_KEY, TIM, delivered, outgoing

NOW = 1611065986


def frame(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": "single",
        "source": "alice",
        "target": "bob",
        "msgType": "text",
        "msg": {"msgId": 1, "timestamp": NOW, "content": "hi"},
    }
    value.update(changes)
    return value


def parsed(value: Any) -> Frame:
    return parse_frame(json.dumps(value))


def refused(raw: str | bytes) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_frame(raw)
    return caught.value


# ----------------------------------------------------------------------------- frames in


@pytest.mark.parametrize("kind", ["single", "group", "join", "leave"])
def test_every_type_is_read(kind: str) -> None:
    value = frame(type=kind)
    if kind in ("join", "leave"):
        value["msg"] = {"msgId": "j-1"}  # no timestamp or content needed
        del value["msgType"]
    assert parsed(value).type == kind


def test_ids_are_strings_or_whole_numbers() -> None:
    got = parsed(frame(source=1001, target="2002"))
    assert (got.source, got.target) == (1001, "2002")
    assert (tencent_id(got.source), tencent_id(got.target)) == ("1001", "2002")
    assert parsed(frame(msg={"msgId": "m-1", "timestamp": NOW, "content": "x"})).msg.msgId == "m-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", True),  # a bool is no id, though Python takes it for 1
        ("source", 1.0),
        ("source", -1),
        ("source", ""),
        ("source", None),
        ("source", ["alice"]),
        ("source", {"id": "alice"}),
        ("target", "g" * 49),
        ("msgType", ""),
        ("msgType", 7),
        ("msgType", "has space"),
    ],
)
def test_wrong_ids_and_kinds_are_malformed_naming_the_field(field: str, value: Any) -> None:
    error = refused(json.dumps(frame(**{field: value})))
    assert error.code == MALFORMED
    assert error.message.startswith(field)
    assert error.msg_id == 1  # still answered under the frame's msgId


@pytest.mark.parametrize("missing", ["source", "target", "msg"])
def test_missing_fields_are_malformed(missing: str) -> None:
    value = frame()
    del value[missing]
    error = refused(json.dumps(value))
    assert (error.code, error.message) == (MALFORMED, f"{missing}: missing")


@pytest.mark.parametrize(
    ("msg", "named"),
    [
        ({"timestamp": NOW, "content": "hi"}, "msg.msgId"),
        ({"msgId": 1.5, "timestamp": NOW, "content": "hi"}, "msg.msgId"),
        ({"msgId": False, "timestamp": NOW, "content": "hi"}, "msg.msgId"),
        ({"msgId": 1, "content": "hi"}, "msg.timestamp"),
        ({"msgId": 1, "timestamp": "now", "content": "hi"}, "msg.timestamp"),
        ({"msgId": 1, "timestamp": NOW}, "msg.content"),
        ({"msgId": 1, "timestamp": NOW, "content": ""}, "msg.content"),
        ({"msgId": 1, "timestamp": NOW, "content": {"text": "hi"}}, "msg.content"),
    ],
)
def test_incomplete_messages_are_malformed(msg: dict[str, Any], named: str) -> None:
    error = refused(json.dumps(frame(msg=msg)))
    assert error.code == MALFORMED
    assert named in error.message


def test_msg_that_is_not_an_object_is_malformed_without_a_msg_id() -> None:
    for msg in ([1, 2], "hi", 7, None):
        error = refused(json.dumps(frame(msg=msg)))
        assert (error.code, error.msg_id) == (MALFORMED, None)


@pytest.mark.parametrize("kind", ["broadcast", "SINGLE", "", 1, None, ["single"], {"t": 1}])
def test_unknown_type_is_its_own_error(kind: Any) -> None:
    error = refused(json.dumps(frame(type=kind)))
    assert error.code == UNKNOWN_TYPE
    assert error.msg_id == 1


def test_missing_type_is_unknown() -> None:
    value = frame()
    del value["type"]
    assert refused(json.dumps(value)).message.endswith("not missing")


@pytest.mark.parametrize("raw", ["", "hi", "{", "[1, 2]", '"single"', "null", b"\xff\xfe", '{"type": "single"'])
def test_not_a_json_object(raw: str | bytes) -> None:
    error = refused(raw)
    assert (error.code, error.msg_id) == (NOT_JSON, None)


def test_too_large_is_refused_before_it_is_read() -> None:
    big = json.dumps(frame(msg={"msgId": 1, "timestamp": NOW, "content": "x" * MAX_FRAME_BYTES}))
    assert refused(big).code == TOO_LARGE
    # Bytes, not characters: 4,100 three-byte characters are over 12 KB.
    wide = json.dumps(frame(msg={"msgId": 1, "timestamp": NOW, "content": "字" * 4100}), ensure_ascii=False)
    assert len(wide) < MAX_FRAME_BYTES < len(wide.encode())
    assert refused(wide).code == TOO_LARGE


def test_unknown_top_level_fields_are_ignored_and_unknown_msg_types_taken() -> None:
    got = parsed(frame(msgType="map", msg={"msgId": 3, "timestamp": NOW, "lat": 1.5}, color="red"))
    assert got.msgType == "map"
    assert got.msg.content() == {"lat": 1.5}
    assert "color" not in got.wire()


def test_acks() -> None:
    assert json.loads(ok(7, "c2c:1_2_3").text()) == {"type": "ack", "msgId": 7, "ok": True, "messageId": "c2c:1_2_3"}
    error = FrameError(NOT_JSON, "a frame is a JSON object").ack()
    assert json.loads(error.text()) == {
        "type": "ack",
        "msgId": None,
        "ok": False,
        "code": NOT_JSON,
        "message": "a frame is a JSON object",
    }
    refusal = Ack(msgId="a", ok=False, code="rejected", message="blocked", tencentCode=120001)
    assert json.loads(refusal.text())["tencentCode"] == 120001


# ----------------------------------------------------------------------------- frames ⇄ Tencent


def c2c_callback(sent: Frame, body: list[Any], cloud_custom_data: str) -> C2CAfterSend:
    return C2CAfterSend.model_validate(
        {
            "CallbackCommand": "C2C.CallbackAfterSendMsg",
            "From_Account": tencent_id(sent.source),
            "To_Account": tencent_id(sent.target),
            "MsgSeq": 5,
            "MsgRandom": 9,
            "MsgTime": NOW + 1,
            "MsgKey": f"5_9_{NOW + 1}",
            "MsgBody": dump_body(body),
            "CloudCustomData": cloud_custom_data,
        }
    )


def through_tencent(value: dict[str, Any]) -> dict[str, Any]:
    """A frame sent, delivered (as an after-send callback's JSON carries it) and made a frame again."""
    sent = parsed(value)
    body, custom = outgoing(sent)
    callback = c2c_callback(sent, body, custom) if sent.type == "single" else None
    if callback is not None:
        out = delivered(
            "single",
            callback.From_Account,
            callback.To_Account,
            callback.MsgBody,
            callback.CloudCustomData,
            f"c2c:{callback.MsgKey}",
            callback.MsgTime,
        )
    else:
        group = GroupAfterSend.model_validate(
            {
                "CallbackCommand": "Group.CallbackAfterSendMsg",
                "GroupId": tencent_id(sent.target),
                "From_Account": tencent_id(sent.source),
                "MsgSeq": 12,
                "MsgTime": NOW + 1,
                "MsgBody": dump_body(body),
                "CloudCustomData": custom,
            }
        )
        out = delivered(
            "group",
            group.From_Account,
            group.GroupId,
            group.MsgBody,
            group.CloudCustomData,
            f"group:{group.GroupId}:12",
            group.MsgTime,
        )
    assert out.pop("messageId")
    return out


@pytest.mark.parametrize(
    "value",
    [
        frame(),
        frame(type="group", target="room-1"),
        frame(source=1001, target=2002),
        frame(type="group", source="alice", target=42),
        frame(extra={"reply": {"to": 3}, "tags": ["a", None, 1.5]}),
        frame(msg={"msgId": "m-9", "timestamp": NOW, "content": "hi", "mentions": ["bob"]}),
        frame(msgType="voice", extra=None, msg={"msgId": 2, "timestamp": NOW, "url": "https://x/a.mp3", "second": 3}),
        frame(msgType="image", msg={"msgId": 3, "timestamp": NOW, "url": "https://x/a.png", "w": 10, "h": 20}),
        frame(msgType="map", extra=[1, "two"], msg={"msgId": 4, "timestamp": NOW, "lat": 22.5, "lng": 114.1}),
        frame(msgType="x.custom-kind:v2", msg={"msgId": 5, "timestamp": NOW}),
        frame(msg={"msgId": 6, "timestamp": NOW, "content": "字 and \u2028 emoji 🎉"}),
    ],
)
def test_a_frame_comes_back_out_unchanged(value: dict[str, Any]) -> None:
    assert through_tencent(value) == value


def test_text_is_a_text_element_and_other_kinds_one_custom_element() -> None:
    body, custom = outgoing(parsed(frame()))
    assert isinstance(body[0], TextElem) and body[0].MsgContent.Text == "hi" and len(body) == 1
    assert json.loads(custom) == {ENVELOPE_KEY: {"msgId": 1, "timestamp": NOW}}
    body, custom = outgoing(parsed(frame(msgType="voice", extra={"k": 1}, msg={"msgId": 2, "timestamp": NOW, "s": 3})))
    assert isinstance(body[0], CustomElem) and len(body) == 1
    assert (body[0].MsgContent.Desc, body[0].MsgContent.Ext) == ("voice", CUSTOM_EXT)
    assert json.loads(body[0].MsgContent.Data) == {"msgType": "voice", "extra": {"k": 1}, "msg": {"s": 3}}
    assert json.loads(custom) == {ENVELOPE_KEY: {"msgId": 2, "timestamp": NOW}}


def test_a_frame_within_the_limit_makes_a_body_within_tencents() -> None:
    # The custom element's Data is JSON in a JSON string: quotes are escaped, so a frame of many
    # quotes may not fit; plain content does.
    content = "x" * (MAX_FRAME_BYTES - 200)
    body, _ = outgoing(parsed(frame(msgType="note", msg={"msgId": 1, "timestamp": NOW, "text": content})))
    assert body_size(body) <= 12 * 1024


def test_messages_from_sdk_users() -> None:
    text = parse_body([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "from carol"}}])
    assert delivered("group", "carol", "room-1", text, "", "group:room-1:7", NOW) == {
        "type": "group",
        "source": "carol",
        "target": "room-1",
        "msgType": "text",
        "msg": {"content": "from carol", "msgId": "group:room-1:7", "timestamp": NOW},
        "messageId": "group:room-1:7",
    }
    image = [{"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": []}}]
    for body in (
        image,
        [*image, {"MsgType": "TIMTextElem", "MsgContent": {"Text": "look"}}],
        [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Desc": "app's own"}}],
        # Ours in name only: Data that is no frame's.
        [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "not json", "Ext": CUSTOM_EXT}}],
        [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"msgType": 1, "msg": {}}', "Ext": CUSTOM_EXT}}],
        [{"MsgType": "TIMNewElemOfTomorrow", "MsgContent": {"X": 1}}],
    ):
        out = delivered("single", "carol", "bob", parse_body(body), "", "c2c:1_2_3", NOW)
        assert out["msgType"] == TIM
        assert out["msg"] == {"body": body, "msgId": "c2c:1_2_3", "timestamp": NOW}


@pytest.mark.parametrize(
    "cloud_custom_data",
    [
        "not json",
        "[]",
        '{"timkitWs": "x"}',
        '{"timkitWs": {"msgId": [1], "timestamp": "now", "numeric": "source"}}',
        '{"chat": {"type": "html"}}',
    ],
)
def test_hostile_or_foreign_cloud_custom_data_is_read_as_absent(cloud_custom_data: str) -> None:
    text = parse_body([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}])
    out = delivered("single", "123", "bob", text, cloud_custom_data, "c2c:k", NOW)
    assert out["msg"] == {"content": "hi", "msgId": "c2c:k", "timestamp": NOW}
    assert out["source"] == "123"


def test_numeric_ids_come_back_as_numbers_only_when_they_are_numbers() -> None:
    text = parse_body([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}])
    envelope = json.dumps({ENVELOPE_KEY: {"msgId": 1, "timestamp": NOW, "numeric": ["source", "target"]}})
    out = delivered("single", "0042", "bob", text, envelope, "c2c:k", NOW)
    assert (out["source"], out["target"]) == ("0042", "bob")
