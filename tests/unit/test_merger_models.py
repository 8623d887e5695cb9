"""The merger API's upload model, ``nesting()`` and the TIMRelayElem that carries a download key
(docs/protocol.md §7.1, §7.2, §7.4; issue 5 item 2)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from timkit.models.elements import RelayContent, RelayElem, RelayMessage, body_size
from timkit.models.merger import (
    MAX_ABSTRACT_CHARS,
    MAX_ABSTRACTS,
    MAX_COMPATIBLE_TEXT_CHARS,
    MAX_LEVELS,
    MAX_MESSAGES,
    MAX_TITLE_CHARS,
    LimitExceeded,
    MergerUpload,
    nesting,
    raw_levels,
    relay_elem,
    relay_fits,
)

# docs/protocol.md §7.1: the items of MsgList as Tencent puts them on the wire, C2C and group.
C2C_ITEM: dict[str, Any] = {
    "From_Account": "A",
    "To_Account": "B",
    "MsgSeq": 85,
    "MsgRandom": 3998651049,
    "MsgTimeStamp": 1664437702,
    "CloudCustomData": "",
    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
}
GROUP_ITEM: dict[str, Any] = {
    "From_Account": "B",
    "GroupId": "@TGS#2J4SZEAEL",
    "MsgSeq": 86,
    "MsgRandom": 12,
    "MsgTimeStamp": 1664437703,
    "CloudCustomData": '{"k":1}',
    "From_AccountNick": "Bee",
    "From_AccountHeadurl": "https://example.invalid/b.png",
    "MsgBody": [
        {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 3, "Data": "smile"}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Desc": "d", "Ext": "e", "Sound": "s"}},
    ],
}


def upload_doc(messages: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "conversation": {"kind": "c2c", "id": "B"},
        "title": "Chat history of A and B",
        "abstractList": ["A: hi", "B: hello"],
        "compatibleText": "Please upgrade to view this message",
        # Built fresh by the callers (deep chains are too deep for copy.deepcopy).
        "messageList": messages if messages is not None else copy.deepcopy([C2C_ITEM, GROUP_ITEM]),
    }
    doc.update(changes)
    return doc


def text_message(text: str = "x", sender: str = "A") -> dict[str, Any]:
    return {"From_Account": sender, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}


def relay(messages: list[dict[str, Any]] | None = None, key: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "Title": "inner",
        "MsgNum": len(messages or []),
        "CompatibleText": "c",
        "AbstractList": ["a"],
    }
    if messages is not None:
        content["MsgList"] = messages
    if key is not None:
        content["JsonMsgKey"] = key
    return {"MsgType": "TIMRelayElem", "MsgContent": content}


def chain(depth: int) -> list[dict[str, Any]]:
    """A message list nesting ``depth`` levels inline (1 = flat)."""
    messages = [text_message("leaf")]
    for _ in range(depth - 1):
        messages = [{"From_Account": "A", "MsgBody": [relay(messages)]}]
    return messages


def messages_of(doc_messages: list[dict[str, Any]]) -> list[RelayMessage]:
    return MergerUpload.model_validate(upload_doc(doc_messages)).messageList


def error_of(doc: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        MergerUpload.model_validate(doc)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


# ----------------------------------------------------------------------------- the upload model


def test_upload_accepts_the_wire_shape_and_keeps_it_exactly() -> None:
    doc = upload_doc()
    upload = MergerUpload.model_validate(doc)
    assert upload.conversation.kind == "c2c" and upload.conversation.id == "B"
    first, second = upload.messageList
    assert (first.From_Account, first.To_Account, first.GroupId) == ("A", "B", None)
    assert (first.MsgSeq, first.MsgRandom, first.MsgTimeStamp) == (85, 3998651049, 1664437702)
    assert second.GroupId == "@TGS#2J4SZEAEL" and second.To_Account is None
    assert second.CloudCustomData == '{"k":1}'
    # Dumped with exclude_unset, the list is byte for byte what came in.
    dumped = upload.model_dump(mode="json", exclude_unset=True)
    assert dumped["messageList"] == doc["messageList"]
    assert json.loads(upload.model_dump_json(exclude_unset=True)) == doc


def test_upload_accepts_a_group_conversation_and_defaults() -> None:
    upload = MergerUpload.model_validate(
        {"conversation": {"kind": "group", "id": "@TGS#1"}, "compatibleText": "c", "messageList": [GROUP_ITEM]}
    )
    assert upload.title == "" and upload.abstractList == []


def test_upload_keeps_unknown_fields_inside_forwarded_messages() -> None:
    item = dict(C2C_ITEM, SomethingNew={"a": 1})
    upload = MergerUpload.model_validate(upload_doc([item]))
    assert upload.model_dump(mode="json", exclude_unset=True)["messageList"] == [item]


@pytest.mark.parametrize("change", [{"compatibleText": None}, {"compatibleText": ""}])
def test_compatible_text_is_required(change: dict[str, Any]) -> None:
    doc = upload_doc()
    if change["compatibleText"] is None:
        del doc["compatibleText"]
        assert error_of(doc)["type"] == "missing"
    else:
        doc.update(change)
        assert error_of(doc)["type"] == "string_too_short"
    assert error_of(doc)["loc"] == ("compatibleText",)


def test_at_most_300_messages() -> None:
    assert len(MergerUpload.model_validate(upload_doc([text_message()] * MAX_MESSAGES)).messageList) == 300
    error = error_of(upload_doc([text_message()] * (MAX_MESSAGES + 1)))
    assert error["loc"] == ("messageList",) and error["type"] == "too_long"


def test_empty_message_list_refused() -> None:
    error = error_of(upload_doc([]))
    assert error["loc"] == ("messageList",) and error["type"] == "too_short"


def test_abstract_limits() -> None:
    MergerUpload.model_validate(upload_doc(abstractList=["a" * MAX_ABSTRACT_CHARS] * MAX_ABSTRACTS))
    too_many = error_of(upload_doc(abstractList=["a"] * (MAX_ABSTRACTS + 1)))
    assert too_many["loc"] == ("abstractList",) and too_many["type"] == "too_long"
    too_long = error_of(upload_doc(abstractList=["ok", "a" * (MAX_ABSTRACT_CHARS + 1)]))
    assert too_long["loc"] == ("abstractList", 1) and too_long["type"] == "string_too_long"


def test_title_and_compatible_text_lengths() -> None:
    MergerUpload.model_validate(upload_doc(title="t" * MAX_TITLE_CHARS, compatibleText="c" * MAX_COMPATIBLE_TEXT_CHARS))
    assert error_of(upload_doc(title="t" * (MAX_TITLE_CHARS + 1)))["loc"] == ("title",)
    assert error_of(upload_doc(compatibleText="c" * (MAX_COMPATIBLE_TEXT_CHARS + 1)))["loc"] == ("compatibleText",)


@pytest.mark.parametrize(
    ("doc_change", "loc"),
    [
        ({"downloadKey": "k"}, ("downloadKey",)),
        ({"MsgList": []}, ("MsgList",)),
        ({"conversation": {"kind": "c2c", "id": "B", "extra": 1}}, ("conversation", "extra")),
    ],
)
def test_unknown_fields_refused(doc_change: dict[str, Any], loc: tuple[str, ...]) -> None:
    error = error_of(upload_doc(**doc_change))
    assert error["type"] == "extra_forbidden" and error["loc"] == loc


@pytest.mark.parametrize("kind", ["C2C", "Group", "room", "", None, 1])
def test_bad_conversation_kind_refused(kind: Any) -> None:
    error = error_of(upload_doc(conversation={"kind": kind, "id": "B"}))
    assert error["loc"] == ("conversation", "kind") and error["type"] == "literal_error"


@pytest.mark.parametrize("conversation_id", ["", "g" * 49])
def test_bad_conversation_id_refused(conversation_id: str) -> None:
    assert error_of(upload_doc(conversation={"kind": "group", "id": conversation_id}))["loc"] == ("conversation", "id")


def test_message_without_sender_or_body_refused() -> None:
    assert error_of(upload_doc([{"MsgBody": []}]))["loc"] == ("messageList", 0, "From_Account")
    assert error_of(upload_doc([{"From_Account": "A"}]))["loc"] == ("messageList", 0, "MsgBody")


# ----------------------------------------------------------------------------- nesting()


def test_nesting_of_a_flat_list() -> None:
    found = nesting(messages_of([C2C_ITEM, GROUP_ITEM]))
    assert found.levels == 1 and found.keys == []


@pytest.mark.parametrize("depth", [2, 3, 7, MAX_LEVELS])
def test_nesting_counts_inline_levels(depth: int) -> None:
    assert nesting(messages_of(chain(depth))).levels == depth


def test_nesting_takes_the_deepest_branch() -> None:
    messages = [text_message(), chain(4)[0], chain(2)[0]]
    assert nesting(messages_of(messages)).levels == 4


def test_nesting_collects_keys_at_any_depth() -> None:
    deep = [{"From_Account": "A", "MsgBody": [relay(key="k3")]}]
    messages = [
        {"From_Account": "A", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}, relay(key="k1")]},
        {"From_Account": "B", "MsgBody": [relay([{"From_Account": "C", "MsgBody": [relay(deep), relay(key="k2")]}])]},
    ]
    found = nesting(messages_of(messages))
    # Each key with the level its element sits at.
    assert sorted(found.keys) == [("k1", 1), ("k2", 2), ("k3", 3)]
    # The key references do not add inline levels: the deepest inline list is level 3.
    assert found.levels == 3


def test_nesting_ignores_an_empty_key() -> None:
    assert nesting(messages_of([{"From_Account": "A", "MsgBody": [relay(key="")]}])).keys == []


def test_nesting_refuses_more_than_300_messages_at_a_top_level() -> None:
    messages = [RelayMessage.model_validate(text_message())] * (MAX_MESSAGES + 1)
    with pytest.raises(LimitExceeded) as info:
        nesting(messages)
    assert info.value.limit == "messages"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("level", [2, 4])
def test_nesting_refuses_more_than_300_messages_at_an_inner_level(level: int) -> None:
    inner = [text_message()] * (MAX_MESSAGES + 1)
    for _ in range(level - 1):
        inner = [{"From_Account": "A", "MsgBody": [relay(inner)]}]
    with pytest.raises(LimitExceeded) as info:
        nesting(messages_of(inner))
    assert info.value.limit == "messages"
    assert "301" in str(info.value) and f"level {level}" in str(info.value)


def test_nesting_accepts_300_messages_at_an_inner_level() -> None:
    inner = [text_message()] * MAX_MESSAGES
    assert nesting(messages_of([{"From_Account": "A", "MsgBody": [relay(inner)]}])).levels == 2


def test_nesting_refuses_more_than_100_levels() -> None:
    messages = messages_of(chain(MAX_LEVELS + 1))
    with pytest.raises(LimitExceeded) as info:
        nesting(messages)
    assert info.value.limit == "levels"
    assert "101" in str(info.value)


def test_much_too_deep_inline_nesting_is_counted_before_validation() -> None:
    # Validation recurses and gives up on depth with a generic error; the raw count does not.
    assert raw_levels(upload_doc(chain(128))) == MAX_LEVELS + 1
    assert raw_levels(upload_doc(chain(MAX_LEVELS))) == MAX_LEVELS
    assert raw_levels({"messageList": "not a list"}) == 0


def test_json_upload_of_39_inline_levels() -> None:
    upload = MergerUpload.model_validate_json(json.dumps(upload_doc(chain(39))))
    assert nesting(upload.messageList).levels == 39


@pytest.mark.parametrize("levels", [40, MAX_LEVELS])
def test_json_upload_of_up_to_100_inline_levels(levels: int) -> None:
    # Decoded by the standard library (pydantic's JSON parser stops at 200 containers, ~40 levels).
    upload = MergerUpload.model_validate(json.loads(json.dumps(upload_doc(chain(levels)))))
    assert nesting(upload.messageList).levels == levels


# ----------------------------------------------------------------------------- relay_elem


KEY = "Xq3v_8dK-2mZp9LwT4nB6sJ0hYcA1eRf"  # what secrets.token_urlsafe(24) looks like: 32 chars


def test_relay_elem_carries_the_key_instead_of_the_list() -> None:
    upload = MergerUpload.model_validate(upload_doc())
    elem = relay_elem(upload, KEY)
    assert isinstance(elem, RelayElem)
    wire = elem.model_dump(mode="json", exclude_none=True)
    assert wire == {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": "Chat history of A and B",
            "MsgNum": 2,
            "CompatibleText": "Please upgrade to view this message",
            "AbstractList": ["A: hi", "B: hello"],
            "JsonMsgKey": KEY,
        },
    }
    assert elem.MsgContent.MsgList is None
    assert relay_fits(elem)


@pytest.mark.parametrize(
    "char",
    [
        "a",
        "\U0001f600",  # 4 bytes of UTF-8
        "\u4e2d",  # 3 bytes
        "\x01",  # escaped as \u0001 in JSON: 6 bytes
        '"',  # escaped as \": 2 bytes
    ],
)
def test_largest_allowed_relay_elem_fits_in_12kb(char: str) -> None:
    upload = MergerUpload.model_validate(
        upload_doc(
            [text_message()] * MAX_MESSAGES,
            title=char * MAX_TITLE_CHARS,
            abstractList=[char * MAX_ABSTRACT_CHARS] * MAX_ABSTRACTS,
            compatibleText=char * MAX_COMPATIBLE_TEXT_CHARS,
        )
    )
    elem = relay_elem(upload, "k" * 64)
    assert elem.MsgContent.MsgNum == MAX_MESSAGES
    assert body_size([elem]) <= 12 * 1024
    assert relay_fits(elem)


def test_relay_fits_refuses_an_element_over_12kb() -> None:
    big = RelayElem(MsgContent=RelayContent(Title="t" * (12 * 1024), MsgNum=1, CompatibleText="c", JsonMsgKey=KEY))
    assert not relay_fits(big)
    edge = RelayElem(MsgContent=RelayContent(Title="", MsgNum=1, CompatibleText="c", JsonMsgKey=KEY))
    room = 12 * 1024 - body_size([edge])
    assert relay_fits(edge.model_copy(update={"MsgContent": edge.MsgContent.model_copy(update={"Title": "t" * room})}))
    over = edge.MsgContent.model_copy(update={"Title": "t" * (room + 1)})
    assert not relay_fits(edge.model_copy(update={"MsgContent": over}))
