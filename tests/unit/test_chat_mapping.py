"""timkit.chat's mapping: Tencent's history items and archive entries as ChatMessages, the
CloudCustomData envelope, message ids, and page tokens bound to their listing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from timkit.chat.errors import ChatMessageNotFound, InvalidChatRequest
from timkit.chat.mapping import (
    chat_message,
    dump_envelope,
    envelope,
    from_history,
    outgoing_body,
    parse_c2c_message_id,
    parse_group_message_id,
    to_seconds,
)
from timkit.chat.paging import decode_token, encode_token
from timkit.models.history import HistoryEntry, SystemEvent
from timkit.models.rest import GroupHistoryMsg, RoamMsg
from timkit.stores.paging import InvalidToken


def test_text_and_other_types_go_out_as_text_and_custom_elements() -> None:
    assert outgoing_body("hi", "text")[0].model_dump() == {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}
    custom = outgoing_body("<b>hi</b>", "html")[0]
    assert (custom.MsgType, custom.MsgContent.Data) == ("TIMCustomElem", "<b>hi</b>")


def test_the_envelope_keeps_what_else_the_app_put_in_cloud_custom_data() -> None:
    fields = envelope("html", "Alice", {"k": "v"})
    data = dump_envelope(fields, '{"app": 1}')
    assert json.loads(data or "") == {
        "app": 1,
        "chat": {"type": "html", "senderDisplayName": "Alice", "metadata": {"k": "v"}},
    }
    assert dump_envelope(envelope("text", None, None)) is None
    assert dump_envelope({}, "not json") == "not json"


def test_a_group_history_item_becomes_a_chat_message() -> None:
    item = GroupHistoryMsg.model_validate(
        {
            "MsgSeq": 7,
            "From_Account": "alice",
            "MsgTimeStamp": 1730000000,
            "MsgRandom": 1,
            "IsPlaceMsg": 0,
            "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "<i>x</i>"}}],
        }
    )
    message = chat_message(
        "group:g:7",
        sender=item.From_Account,
        time=item.MsgTimeStamp,
        body=item.MsgBody,
        cloud_custom_data=item.CloudCustomData,
        seq=item.MsgSeq,
        deleted=item.recalled,
    )
    assert (message.type, message.content.message, message.sequence_id, message.deleted) == (
        "custom",
        "<i>x</i>",
        "7",
        False,
    )
    assert message.created_on.timestamp() == 1730000000


def test_a_recalled_roam_message_is_deleted_without_content() -> None:
    roam = RoamMsg.model_validate(
        {
            "From_Account": "a",
            "To_Account": "b",
            "MsgKey": "1_2_3",
            "MsgTimeStamp": 5,
            "MsgFlagBits": 8,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "gone"}}],
            "CloudCustomData": json.dumps({"chat": {"metadata": {"k": "v"}, "editedOn": 9}}),
        }
    )
    message = chat_message(
        "c2c:1_2_3",
        sender=roam.From_Account,
        time=roam.MsgTimeStamp,
        body=roam.MsgBody,
        cloud_custom_data=roam.CloudCustomData,
        deleted=roam.recalled,
    )
    assert (message.deleted, message.content.message, message.body) == (True, None, [])
    assert message.metadata == {"k": "v"} and message.edited_on and message.edited_on.timestamp() == 9


def test_archive_entries_and_system_events_map_onto_azure_types() -> None:
    entry = HistoryEntry(
        id="group:g:2",
        conversation="group:g",
        sender="bob",
        time=10,
        seq=2,
        edited_at=11,
        deleted_at=12,
        body=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}],
    )
    message = from_history(entry)
    assert (message.type, message.edited_on.timestamp(), message.deleted_on.timestamp()) == ("text", 11, 12)
    event = HistoryEntry(
        id="system:1",
        conversation="group:g",
        kind="system",
        time=3,
        system=SystemEvent(type="participants_added", operator="admin", participants=["carol"]),
    )
    added = from_history(event)
    assert (added.type, added.content.initiator) == ("participantAdded", "admin")
    assert [p.identifier for p in added.content.participants or []] == ["carol"]


@pytest.mark.parametrize("bad", ["group:g:", "group:g:x", "group:other:1", "c2c:1", "group:g:0", "group:g:-1"])
def test_a_message_id_of_another_thread_or_shape_is_not_found(bad: str) -> None:
    with pytest.raises(ChatMessageNotFound):
        parse_group_message_id(bad, "g")


def test_message_ids_split_back_into_their_parts() -> None:
    assert parse_group_message_id("group:a:b:12", "a:b") == 12
    assert parse_c2c_message_id("c2c:1_2_3") == "1_2_3"
    with pytest.raises(ChatMessageNotFound):
        parse_c2c_message_id("group:g:1")


def test_a_page_token_is_bound_to_its_listing() -> None:
    token = encode_token("messages", s="tencent", q=5)
    assert token and decode_token(token, "messages", {"s", "q"}) == {"s": "tencent", "q": "5"}
    for bad in (token, "not-base64!", json.dumps([1])):
        with pytest.raises(InvalidToken):
            decode_token(bad, "participants", {"o"})


def test_a_start_time_is_unix_seconds_in_tencents_range() -> None:
    assert to_seconds(datetime(2026, 12, 6, tzinfo=UTC)) == to_seconds(datetime(2026, 12, 6)) == 1_796_515_200
    assert to_seconds(0xFFFF_FFFF) == 0xFFFF_FFFF
    # Found by the contract run: a time past Tencent's uint32 reached a REST model and was a 500.
    for bad in (-1, 0x1_0000_0000, 4_739_661_745_033_511, datetime(2200, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidChatRequest, match="startTime"):
            to_seconds(bad)
