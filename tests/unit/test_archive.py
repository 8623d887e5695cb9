"""Archiver: one item per message, one per later event, repeated deliveries change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.conftest import MemoryStore, payload, text_body
from timkit.archive import Archiver
from timkit.models.callbacks import REQUEST_MODELS

ARCHIVED_AT = 1_730_000_500


def event(command: str, **changes: Any) -> tuple[Any, str]:
    doc = payload(command, **changes)
    raw = json.dumps(doc, ensure_ascii=False)
    return REQUEST_MODELS[command].model_validate_json(raw), raw


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def archiver(store: MemoryStore) -> Archiver:
    return Archiver(store, clock=lambda: ARCHIVED_AT + 0.9)


def test_c2c_message_is_archived_once(archiver: Archiver, store: MemoryStore) -> None:
    msg, raw = event("C2C.CallbackAfterSendMsg", To_Account="u_2002")
    assert archiver.archive(msg, raw) == ["stored"]
    assert archiver.archive(msg, raw) == ["duplicate"]
    assert list(store.items) == [("c2c:7311_3088123456_1730000000", "MSG")]
    assert store.items[("c2c:7311_3088123456_1730000000", "MSG")] == {
        "command": "C2C.CallbackAfterSendMsg",
        "sender": "u_1001",
        "conversation": "c2c:u_1001:u_2002",
        "msg_time": 1730000000,
        "body": raw,
        "archived_at": ARCHIVED_AT,
        "inline_mergers": 0,
    }


def test_c2c_conversation_is_the_same_from_both_sides(archiver: Archiver, store: MemoryStore) -> None:
    a, raw_a = event("C2C.CallbackAfterSendMsg", From_Account="zed", To_Account="amy", MsgKey="1_1_1")
    b, raw_b = event("C2C.CallbackAfterSendMsg", From_Account="amy", To_Account="zed", MsgKey="2_2_2")
    archiver.archive(a, raw_a)
    archiver.archive(b, raw_b)
    assert {item["conversation"] for item in store.items.values()} == {"c2c:amy:zed"}


def test_bot_callback_of_an_archived_message_is_a_duplicate(archiver: Archiver, store: MemoryStore) -> None:
    after, raw_after = event("C2C.CallbackAfterSendMsg")
    bot, raw_bot = event("Bot.OnC2CMessage")
    assert archiver.archive(bot, raw_bot) == ["stored"]
    assert archiver.archive(after, raw_after) == ["duplicate"]
    assert len(store.items) == 1
    assert store.items[("c2c:7311_3088123456_1730000000", "MSG")]["command"] == "Bot.OnC2CMessage"


def test_group_message_and_bot_callback(archiver: Archiver, store: MemoryStore) -> None:
    after, raw_after = event("Group.CallbackAfterSendMsg")
    bot, raw_bot = event("Bot.OnGroupMessage")
    assert archiver.archive(after, raw_after) == ["stored"]
    assert archiver.archive(bot, raw_bot) == ["duplicate"]
    item = store.items[("group:@TGS#2J4SZEAEL:123", "MSG")]
    assert item["conversation"] == "group:@TGS#2J4SZEAEL"
    assert item["sender"] == "leckie"
    assert item["msg_time"] == 1490686222


def test_other_group_message_is_stored(archiver: Archiver, store: MemoryStore) -> None:
    for seq in (123, 124):
        msg, raw = event("Group.CallbackAfterSendMsg", MsgSeq=seq)
        assert archiver.archive(msg, raw) == ["stored"]
    assert set(store.items) == {("group:@TGS#2J4SZEAEL:123", "MSG"), ("group:@TGS#2J4SZEAEL:124", "MSG")}


@pytest.mark.parametrize(
    ("command", "pk", "kind"),
    [
        ("C2C.CallbackAfterModifyMsg", "c2c:7311_3088123456_1730000000", "MODIFY"),
        ("Group.CallbackAfterModifyMsg", "group:@TGS#2J4SZEAEL:123", "MODIFY"),
        ("C2C.CallbackAfterMsgWithDraw", "c2c:7311_3088123456_1730000000", "RECALL"),
    ],
)
def test_event_on_a_message_is_archived_once(
    archiver: Archiver, store: MemoryStore, command: str, pk: str, kind: str
) -> None:
    msg, raw = event(command)
    assert archiver.archive(msg, raw) == ["stored"]
    assert archiver.archive(msg, raw) == ["duplicate"]
    ((item_pk, sk),) = store.items
    assert item_pk == pk
    event_time = getattr(msg, "EventTime", None) or 0
    assert sk.startswith(f"{kind}#{event_time:015d}#")
    assert store.items[(item_pk, sk)] == {"command": command, "body": raw, "archived_at": ARCHIVED_AT}


def test_two_different_modifications_at_the_same_time_are_both_kept(archiver: Archiver, store: MemoryStore) -> None:
    first, raw_first = event("C2C.CallbackAfterModifyMsg", MsgBody=text_body("edit 1"))
    second, raw_second = event("C2C.CallbackAfterModifyMsg", MsgBody=text_body("edit 2"))
    assert archiver.archive(first, raw_first) == ["stored"]
    assert archiver.archive(second, raw_second) == ["stored"]
    assert len(store.items) == 2


def test_modifications_sort_by_event_time(archiver: Archiver, store: MemoryStore) -> None:
    late, raw_late = event("C2C.CallbackAfterModifyMsg", EventTime=1730000009000)
    early, raw_early = event("C2C.CallbackAfterModifyMsg", EventTime=999, MsgBody=text_body("x"))
    archiver.archive(late, raw_late)
    archiver.archive(early, raw_early)
    sks = sorted(sk for _, sk in store.items)
    assert [store.items[("c2c:7311_3088123456_1730000000", sk)]["body"] for sk in sks] == [raw_early, raw_late]


def test_group_recall_of_several_messages(archiver: Archiver, store: MemoryStore) -> None:
    msg, raw = event("Group.CallbackAfterRecallMsg")
    assert archiver.archive(msg, raw) == ["stored", "stored", "stored"]
    assert sorted(pk for pk, _ in store.items) == [
        "group:@TGS#2J4SZEAEL:121", "group:@TGS#2J4SZEAEL:122", "group:@TGS#2J4SZEAEL:123",
    ]
    assert all(sk.startswith("RECALL#001670574420000#") for _, sk in store.items)
    assert archiver.archive(msg, raw) == ["duplicate", "duplicate", "duplicate"]
    assert len(store.items) == 3


def test_group_recall_overlapping_an_earlier_one(archiver: Archiver, store: MemoryStore) -> None:
    first, raw_first = event("Group.CallbackAfterRecallMsg", MsgSeqList=[{"MsgSeq": 5}])
    second, raw_second = event("Group.CallbackAfterRecallMsg", MsgSeqList=[{"MsgSeq": 5}, {"MsgSeq": 6}], EventTime=1)
    assert archiver.archive(first, raw_first) == ["stored"]
    assert archiver.archive(second, raw_second) == ["stored", "stored"]


def test_read_report(archiver: Archiver, store: MemoryStore) -> None:
    msg, raw = event("C2C.CallbackAfterMsgReport")
    assert archiver.archive(msg, raw) == ["stored"]
    assert archiver.archive(msg, raw) == ["duplicate"]
    assert list(store.items) == [("read:u_2002:u_1001", "REPORT#001730000010")]
    assert store.items[("read:u_2002:u_1001", "REPORT#001730000010")]["body"] == raw


def test_merger_counts_and_keys(archiver: Archiver, store: MemoryStore) -> None:
    inline = {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "MsgNum": 1, "MsgList": [
        {"From_Account": "A", "MsgBody": [{"MsgType": "TIMRelayElem", "MsgContent": {"Title": "inner", "MsgList": [
            {"From_Account": "B", "MsgBody": text_body("deep")}]}}]}]}}
    keyed_1 = {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "k1", "JsonMsgKey": "key-1", "PbMsgKey": "pb-1"}}
    keyed_2 = {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "k2", "JsonMsgKey": "key-2"}}
    no_key = {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "nothing"}}
    msg, raw = event("C2C.CallbackAfterSendMsg", MsgBody=[inline, *text_body("x"), keyed_1, keyed_2, no_key, inline])
    assert archiver.archive(msg, raw) == ["stored"]
    item = store.items[("c2c:7311_3088123456_1730000000", "MSG")]
    assert item["inline_mergers"] == 2
    assert item["merger_keys"] == "key-1,key-2"
    # The raw body, with every merger in it, is what is kept.
    assert json.loads(item["body"])["MsgBody"][0] == inline


def test_message_without_mergers_has_no_keys_attribute(archiver: Archiver, store: MemoryStore) -> None:
    msg, raw = event("Group.CallbackAfterSendMsg")
    archiver.archive(msg, raw)
    item = store.items[("group:@TGS#2J4SZEAEL:123", "MSG")]
    assert item["inline_mergers"] == 0
    assert "merger_keys" not in item


@pytest.mark.parametrize("command", ["C2C.CallbackBeforeSendMsg", "Group.CallbackBeforeSendMsg"])
def test_before_send_is_not_archived(archiver: Archiver, store: MemoryStore, command: str) -> None:
    msg, raw = event(command)
    with pytest.raises(TypeError):
        archiver.archive(msg, raw)
    assert store.items == {}
