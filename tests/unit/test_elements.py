"""Message elements (docs/protocol.md §3, §7.1, §8.4): parse into the right class, round-trip unchanged."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from timkit.models.elements import (
    ELEMENT_TYPES,
    MAX_BODY_BYTES,
    CustomContent,
    CustomElem,
    FaceElem,
    FileElem,
    ImageElem,
    LocationContent,
    LocationElem,
    RelayContent,
    RelayElem,
    RelayMessage,
    SoundElem,
    StreamChunk,
    StreamContent,
    StreamElem,
    TextContent,
    TextElem,
    UnknownElem,
    VideoFileElem,
    body_size,
    dump_body,
    parse_body,
)


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """JSON text with sorted keys: key order is not significant, everything else is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


TEXT = {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}
LOCATION = {
    "MsgType": "TIMLocationElem",
    "MsgContent": {"Desc": "Shenzhen", "Latitude": 22.5431, "Longitude": 114.0579},
}
FACE = {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "content"}}
CUSTOM = {
    "MsgType": "TIMCustomElem",
    "MsgContent": {"Data": '{"lvl":3}', "Desc": "notification", "Ext": "url", "Sound": "dingdong.aiff"},
}
SOUND = {
    "MsgType": "TIMSoundElem",
    "MsgContent": {
        "Url": "https://example.com/a.silk",
        "UUID": "1053D4E3-2C5C-4E36-A1A9-3F3A0F2E8E8A",
        "Size": 62351,
        "Second": 1,
        "Download_Flag": 2,
    },
}
SOUND_OLD_SDK = {"MsgType": "TIMSoundElem", "MsgContent": {"UUID": "305c0201", "Size": 62351, "Second": 1}}
IMAGE = {
    "MsgType": "TIMImageElem",
    "MsgContent": {
        "UUID": "1853095_D61040894AC3DE44CDFFFB3EC7EB720F",
        "ImageFormat": 1,
        "ImageInfoArray": [
            {"Type": 1, "Size": 1853095, "Width": 2448, "Height": 3264, "URL": "https://example.com/1.jpg"},
            {"Type": 2, "Size": 0, "Width": 720, "Height": 960, "URL": "https://example.com/2.jpg"},
            {"Type": 3, "Size": 0, "Width": 150, "Height": 200, "URL": "https://example.com/3.jpg"},
        ],
    },
}
FILE = {
    "MsgType": "TIMFileElem",
    "MsgContent": {
        "Url": "https://example.com/f.pdf",
        "UUID": "f-uuid",
        "FileSize": 1773552,
        "FileName": "file:///private/var/Mobile/tmp/report.pdf",
        "Download_Flag": 2,
    },
}
VIDEO = {
    "MsgType": "TIMVideoFileElem",
    "MsgContent": {
        "VideoUrl": "https://example.com/v.mp4",
        "VideoUUID": "v-uuid",
        "VideoSize": 1194603,
        "VideoSecond": 5,
        "VideoFormat": "mp4",
        "VideoDownloadFlag": 2,
        "ThumbUrl": "https://example.com/t.jpg",
        "ThumbUUID": "t-uuid",
        "ThumbSize": 13907,
        "ThumbWidth": 720,
        "ThumbHeight": 1280,
        "ThumbFormat": "JPG",
        "ThumbDownloadFlag": 2,
    },
}
# docs/protocol.md §7.1 example, with a second level of nesting inside the forwarded message.
INNER_RELAY = {
    "MsgType": "TIMRelayElem",
    "MsgContent": {
        "Title": "Chat history of C and D",
        "MsgNum": 1,
        "CompatibleText": "Please upgrade to view this message",
        "AbstractList": ["C: yo"],
        "MsgList": [
            {
                "From_Account": "C",
                "GroupId": "@TGS#1",
                "MsgSeq": 9,
                "MsgRandom": 1,
                "MsgTimeStamp": 1664437000,
                "CloudCustomData": "",
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "yo"}}],
            },
        ],
    },
}
RELAY_INLINE = {
    "MsgType": "TIMRelayElem",
    "MsgContent": {
        "Title": "Chat history of A and B",
        "MsgNum": 2,
        "CompatibleText": "Please upgrade to view this message",
        "AbstractList": ["A: hi", "B: hello"],
        "MsgList": [
            {
                "From_Account": "A",
                "To_Account": "B",
                "MsgSeq": 85,
                "MsgRandom": 3998651049,
                "MsgTimeStamp": 1664437702,
                "CloudCustomData": "",
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
            },
            {
                "From_Account": "B",
                "To_Account": "A",
                "MsgSeq": 86,
                "MsgRandom": 1,
                "MsgTimeStamp": 1664437703,
                "From_AccountNick": "Bee",
                "From_AccountHeadurl": "https://example.com/b.png",
                "CloudCustomData": '{"x":1}',
                "MsgBody": [INNER_RELAY],
            },
        ],
    },
}
RELAY_KEYS = {
    "MsgType": "TIMRelayElem",
    "MsgContent": {
        "PbMsgKey": "pb-key-123",
        "JsonMsgKey": "json-key-456",
        "Title": "Long history",
        "AbstractList": ["A: ..."],
        "CompatibleText": "Please upgrade",
        "MsgNum": 250,
    },
}
STREAM = {
    "MsgType": "TIMStreamElem",
    "MsgContent": {
        "Chunks": [
            {"EventType": "data", "Index": 1, "Markdown": "Hel", "IsLast": False},
            {"EventType": "data", "Index": 2, "Markdown": "lo", "IsLast": True},
        ],
        "CompatibleText": "Please upgrade",
        "StreamMsgID": "stream-abc",
    },
}

CASES = [
    (TEXT, TextElem),
    (LOCATION, LocationElem),
    (FACE, FaceElem),
    (CUSTOM, CustomElem),
    (SOUND, SoundElem),
    (SOUND_OLD_SDK, SoundElem),
    (IMAGE, ImageElem),
    (FILE, FileElem),
    (VIDEO, VideoFileElem),
    (RELAY_INLINE, RelayElem),
    (RELAY_KEYS, RelayElem),
    (STREAM, StreamElem),
]


@pytest.mark.parametrize(("element", "cls"), CASES, ids=lambda v: v["MsgType"] if isinstance(v, dict) else "")
def test_each_element_type_parses_into_its_class_and_round_trips(element: dict, cls: type) -> None:
    raw = [copy.deepcopy(element)]
    body = parse_body(raw)
    assert len(body) == 1
    assert type(body[0]) is cls
    assert dump_body(body) == raw
    # The same JSON text, not just equal Python values.
    assert canonical(dump_body(body)) == canonical(raw)


def test_every_documented_type_is_known() -> None:
    assert {
        "TIMTextElem",
        "TIMLocationElem",
        "TIMFaceElem",
        "TIMCustomElem",
        "TIMSoundElem",
        "TIMImageElem",
        "TIMFileElem",
        "TIMVideoFileElem",
        "TIMRelayElem",
        "TIMStreamElem",
    } == ELEMENT_TYPES


def test_a_body_of_every_type_round_trips_in_order() -> None:
    raw = copy.deepcopy([case for case, _ in CASES])
    body = parse_body(raw)
    assert [type(e) for e in body] == [cls for _, cls in CASES]
    assert dump_body(body) == raw


def test_inline_relay_nests_a_relay_that_is_parsed_too() -> None:
    (relay,) = parse_body([copy.deepcopy(RELAY_INLINE)])
    assert isinstance(relay, RelayElem)
    content = relay.MsgContent
    assert content.MsgNum == 2 and content.AbstractList == ["A: hi", "B: hello"]
    assert content.JsonMsgKey is None and content.PbMsgKey is None
    first, second = content.MsgList
    assert isinstance(first, RelayMessage) and isinstance(first.MsgBody[0], TextElem)
    assert first.MsgBody[0].MsgContent.Text == "hi"
    assert second.From_AccountNick == "Bee"
    (inner,) = second.MsgBody
    assert isinstance(inner, RelayElem)
    assert inner.MsgContent.MsgList[0].GroupId == "@TGS#1"
    assert isinstance(inner.MsgContent.MsgList[0].MsgBody[0], TextElem)


def test_relay_with_keys_has_no_inline_list() -> None:
    (relay,) = parse_body([copy.deepcopy(RELAY_KEYS)])
    assert relay.MsgContent.MsgList is None
    assert relay.MsgContent.JsonMsgKey == "json-key-456"
    assert relay.MsgContent.PbMsgKey == "pb-key-123"
    assert "MsgList" not in dump_body([relay])[0]["MsgContent"]


def test_stream_chunks_are_typed() -> None:
    (stream,) = parse_body([copy.deepcopy(STREAM)])
    assert [c.Markdown for c in stream.MsgContent.Chunks] == ["Hel", "lo"]
    assert [c.IsLast for c in stream.MsgContent.Chunks] == [False, True]
    assert stream.MsgContent.StreamMsgID == "stream-abc"


def test_unknown_msg_type_is_kept_verbatim() -> None:
    raw = [
        {
            "MsgType": "TIMFutureElem",
            "MsgContent": {"Nested": {"a": [1, 2.5, None, True]}, "Text": "x"},
            "Extra": "top-level",
        },
        {"MsgType": "TIMNoContentElem"},
        {"MsgType": "TIMListContentElem", "MsgContent": [1, "two"]},
    ]
    body = parse_body(copy.deepcopy(raw))
    assert all(isinstance(e, UnknownElem) for e in body)
    assert dump_body(body) == raw
    assert canonical(dump_body(body)) == canonical(raw)


def test_unknown_fields_inside_known_elements_are_kept_verbatim() -> None:
    raw = [
        {
            "MsgType": "TIMTextElem",
            "MsgContent": {"Text": "hi", "Lang": "en", "Meta": {"k": [1, {"z": None}]}},
            "ElemVersion": 3,
        },
        {
            "MsgType": "TIMImageElem",
            "MsgContent": {
                "UUID": "u",
                "ImageFormat": 255,
                "ImageInfoArray": [{"Type": 1, "URL": "https://example.com/x", "Blurhash": "LEHV6nWB2y"}],
            },
        },
        {
            "MsgType": "TIMRelayElem",
            "MsgContent": {
                "Title": "t",
                "MsgNum": 1,
                "layersOverLimit": 1,
                "MsgList": [{"From_Account": "A", "MsgBody": [TEXT], "Unknown": "kept"}],
            },
        },
    ]
    body = parse_body(copy.deepcopy(raw))
    assert isinstance(body[0], TextElem) and body[0].MsgContent.Text == "hi"
    assert dump_body(body) == raw


def test_constructed_elements_serialise_with_their_msg_type() -> None:
    body = [
        TextElem(MsgContent=TextContent(Text="x")),
        CustomElem(MsgContent=CustomContent(Data="{}")),
        LocationElem(MsgContent=LocationContent(Latitude=1.5, Longitude=2.5)),
        StreamElem(MsgContent=StreamContent(Chunks=[StreamChunk(Index=1, Markdown="m")], StreamMsgID="s")),
        RelayElem(MsgContent=RelayContent(Title="t", JsonMsgKey="k")),
    ]
    assert dump_body(body) == [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}"}},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 1.5, "Longitude": 2.5}},
        {"MsgType": "TIMStreamElem", "MsgContent": {"Chunks": [{"Index": 1, "Markdown": "m"}], "StreamMsgID": "s"}},
        {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "JsonMsgKey": "k"}},
    ]
    # And what they serialise to parses back into the same classes.
    assert [type(e) for e in parse_body(dump_body(body))] == [type(e) for e in body]


@pytest.mark.parametrize(
    "body",
    [
        [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}],
        [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "你好，世界"}}],
        [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 'emoji 😀👍🏽 and "quotes" \\ and\nnewline\t</script>'}}],
        [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "ctrl \u0001 \u007f \u2028 é"}}],
        [CUSTOM, FACE, IMAGE],
        [RELAY_INLINE],
        [{"MsgType": "TIMFutureElem", "MsgContent": {"Text": "未知 ✓"}}],
    ],
    ids=["ascii", "chinese", "emoji-escapes", "control", "mixed", "relay", "unknown"],
)
def test_body_size_is_the_utf8_length_of_the_compact_json(body: list) -> None:
    raw = copy.deepcopy(body)
    assert body_size(parse_body(raw)) == len(compact(raw).encode("utf-8"))


def test_body_size_counts_bytes_not_characters() -> None:
    # 3 bytes per CJK character, 4 per emoji.
    body = parse_body([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "中文😀"}}])
    overhead = len('[{"MsgType":"TIMTextElem","MsgContent":{"Text":""}}]')
    assert body_size(body) == overhead + 3 + 3 + 4


def test_body_size_of_an_oversize_chinese_text_is_over_the_limit() -> None:
    # 4,200 characters is well under 12,288 characters but about 12,600 bytes.
    body = parse_body([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "字" * 4200}}])
    assert body_size(body) > MAX_BODY_BYTES


def test_whole_number_coordinates_round_trip_as_the_same_json() -> None:
    raw = [{"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "", "Latitude": 39, "Longitude": 116}}]
    body = parse_body(copy.deepcopy(raw))
    assert canonical(dump_body(body)) == canonical(raw)
    assert body_size(body) == len(compact(raw).encode())


@pytest.mark.parametrize(
    "element",
    [
        {"MsgType": "TIMTextElem", "MsgContent": {}},
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": None}},
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}},
        {"MsgType": "TIMTextElem"},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": 1.0}},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": "north", "Longitude": 1}},
        {"MsgType": "TIMFaceElem", "MsgContent": {"Data": "x"}},
        {"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [{"Type": "original"}]}},
        {"MsgType": "TIMRelayElem", "MsgContent": {"MsgList": [{"MsgBody": []}]}},
        {
            "MsgType": "TIMRelayElem",
            "MsgContent": {
                "MsgList": [{"From_Account": "A", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {}}]}]
            },
        },
        {"MsgType": "TIMStreamElem", "MsgContent": {"Chunks": [{"Markdown": "no index"}]}},
        {"MsgContent": {"Text": "no type"}},
        {"MsgType": ["TIMTextElem"], "MsgContent": {"Text": "x"}},
        {"MsgType": {"TIMTextElem": 1}, "MsgContent": {"Text": "x"}},
        {"MsgType": 7, "MsgContent": {"Text": "x"}},
        "TIMTextElem",
        None,
    ],
    ids=[
        "text-no-Text",
        "text-null",
        "text-int",
        "text-no-content",
        "location-no-longitude",
        "location-bad-latitude",
        "face-no-index",
        "image-type-not-a-number",
        "relay-item-no-from",
        "relay-nested-invalid",
        "stream-chunk-no-index",
        "no-msgtype",
        "msgtype-array",
        "msgtype-object",
        "msgtype-number",
        "string",
        "null",
    ],
)
def test_invalid_known_elements_are_rejected(element: Any) -> None:
    with pytest.raises(ValidationError):
        parse_body([element])


def test_msgtype_that_is_not_a_string_is_a_validation_error_naming_it() -> None:
    for msg_type in (["TIMTextElem"], {"a": 1}, [], {}):
        with pytest.raises(ValidationError) as caught:
            parse_body([{"MsgType": msg_type, "MsgContent": {"Text": "x"}}])
        assert [err["loc"] for err in caught.value.errors()] == [(0, "unknown", "MsgType")]


@pytest.mark.parametrize(
    "element",
    [
        # An image kind Tencent may add (today 1, 2 and 3).
        {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageInfoArray": [{"Type": 4, "URL": "x"}]}},
        {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "MsgNum": -1, "JsonMsgKey": "k"}},
    ],
    ids=["image-new-type", "relay-negative-num"],
)
def test_unexpected_values_are_kept_as_they_came(element: dict[str, Any]) -> None:
    body = parse_body([copy.deepcopy(element)])
    assert dump_body(body) == [element]


def test_body_must_be_a_list() -> None:
    with pytest.raises(ValidationError):
        parse_body({"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}})
    assert parse_body([]) == []
    assert dump_body([]) == []
