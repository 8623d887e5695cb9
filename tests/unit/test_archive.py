"""Archiver: one item per message, one per later event, repeated deliveries change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.conftest import MemoryStore, payload, text_body
from timkit.archive import Archiver, content_hash
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
        "timeline": "1730000000#123#0000007311#3088123456",
        "msg_time": 1730000000,
        "body": raw,
        "content_hash": content_hash(raw),
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
        "group:@TGS#2J4SZEAEL:121",
        "group:@TGS#2J4SZEAEL:122",
        "group:@TGS#2J4SZEAEL:123",
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
    inline = {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": "t",
            "MsgNum": 1,
            "MsgList": [
                {
                    "From_Account": "A",
                    "MsgBody": [
                        {
                            "MsgType": "TIMRelayElem",
                            "MsgContent": {
                                "Title": "inner",
                                "MsgList": [{"From_Account": "B", "MsgBody": text_body("deep")}],
                            },
                        }
                    ],
                }
            ],
        },
    }
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


# ----------------------------------------------------------------------------- another body, same identity

C2C_PK = "c2c:7311_3088123456_1730000000"


@pytest.mark.parametrize(
    "changes",
    [
        {"MsgBody": text_body("pay to account 666")},
        {"MsgBody": []},
        {"MsgBody": [*text_body("hello"), {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "x"}}]},
        {"From_Account": "mallory"},
        {"To_Account": "someone_else"},
        {"CloudCustomData": '{"order": 1}'},
        {"MsgTime": 1},
    ],
    ids=["text", "no-elements", "extra-element", "sender", "recipient", "custom-data", "time"],
)
def test_another_body_for_an_archived_message_is_kept_beside_it_and_flagged(
    archiver: Archiver, store: MemoryStore, changes: dict[str, Any]
) -> None:
    first, raw_first = event("C2C.CallbackAfterSendMsg")
    second, raw_second = event("C2C.CallbackAfterSendMsg", **changes)
    assert first.identity == second.identity
    assert archiver.archive(first, raw_first) == ["stored"]
    kept = dict(store.items[(C2C_PK, "MSG")])
    assert archiver.archive(second, raw_second) == ["conflict"]
    # The first stays as it was; the second is stored beside it, under its content's hash.
    assert store.items[(C2C_PK, "MSG")] == kept
    other = store.items[(C2C_PK, f"MSG#CONFLICT#{content_hash(raw_second)}")]
    assert other["body"] == raw_second
    assert other["content_hash"] == content_hash(raw_second) != kept["content_hash"]
    # Either body again (a redelivery) changes nothing; the second stays a conflict (it is not published).
    assert archiver.archive(second, raw_second) == ["repeated_conflict"]
    assert archiver.archive(first, raw_first) == ["duplicate"]
    assert len(store.items) == 2


def test_a_third_body_is_kept_and_flagged_too(archiver: Archiver, store: MemoryStore) -> None:
    for n, text in enumerate(["one", "two", "three"]):
        msg, raw = event("C2C.CallbackAfterSendMsg", MsgBody=text_body(text))
        assert archiver.archive(msg, raw) == ["stored" if n == 0 else "conflict"]
    assert len(store.items) == 3


def test_same_message_in_another_envelope_is_a_duplicate(archiver: Archiver, store: MemoryStore) -> None:
    # The callback around the message differs between deliveries and between the after-send and
    # the bot callback: other key order, EventTime, unread count, robots mentioned, empty vs absent.
    after, raw_after = event("Group.CallbackAfterSendMsg")
    assert archiver.archive(after, raw_after) == ["stored"]
    doc = payload("Bot.OnGroupMessage", EventTime=1670574499999, OptPlatform="Web")
    doc.pop("CloudCustomData")
    doc["CloudCustomData"] = payload("Group.CallbackAfterSendMsg")["CloudCustomData"]
    doc.pop("Operator_Account")
    reordered = json.dumps(dict(reversed(list(doc.items()))), ensure_ascii=False)
    bot = REQUEST_MODELS["Bot.OnGroupMessage"].model_validate_json(reordered)
    assert archiver.archive(bot, reordered) == ["duplicate"]
    c2c, raw_c2c = event("C2C.CallbackAfterSendMsg", CloudCustomData="")
    assert archiver.archive(c2c, raw_c2c) == ["stored"]
    without = payload("C2C.CallbackAfterSendMsg", UnreadMsgNum=9)
    del without["CloudCustomData"]
    raw_without = json.dumps(without)
    msg = REQUEST_MODELS["C2C.CallbackAfterSendMsg"].model_validate_json(raw_without)
    assert archiver.archive(msg, raw_without) == ["duplicate"]
    assert len(store.items) == 2


def test_message_archived_before_content_hashes_is_compared_by_its_body(archiver: Archiver, store: MemoryStore) -> None:
    first, raw_first = event("C2C.CallbackAfterSendMsg")
    store.items[(C2C_PK, "MSG")] = {"command": first.CallbackCommand, "body": raw_first, "archived_at": 1}
    assert archiver.archive(first, raw_first) == ["duplicate"]
    second, raw_second = event("C2C.CallbackAfterSendMsg", MsgBody=text_body("other"))
    assert archiver.archive(second, raw_second) == ["conflict"]
    assert store.items[(C2C_PK, "MSG")] == {"command": first.CallbackCommand, "body": raw_first, "archived_at": 1}


# ----------------------------------------------------------------------------- topics

TOPIC_A = "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_a"
TOPIC_B = "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_b"


def test_two_topics_messages_with_one_seq_are_archived_apart(archiver: Archiver, store: MemoryStore) -> None:
    group = "@TGS#_@TGS#cQVLVHIM62CJ"
    a, raw_a = event("Group.CallbackAfterSendMsg", GroupId=group, TopicId=TOPIC_A, MsgBody=text_body("in a"))
    b, raw_b = event("Group.CallbackAfterSendMsg", GroupId=group, TopicId=TOPIC_B, MsgBody=text_body("in b"))
    plain, raw_plain = event("Group.CallbackAfterSendMsg", GroupId=group, TopicId="", MsgBody=text_body("group"))
    assert (a.MsgSeq, a.GroupId) == (b.MsgSeq, b.GroupId) == (plain.MsgSeq, plain.GroupId)
    assert archiver.archive(a, raw_a) == ["stored"]
    assert archiver.archive(b, raw_b) == ["stored"]
    assert archiver.archive(plain, raw_plain) == ["stored"]
    assert {pk: item["conversation"] for (pk, _), item in store.items.items()} == {
        f"topic:{group}:{TOPIC_A}:123": f"topic:{group}:{TOPIC_A}",
        f"topic:{group}:{TOPIC_B}:123": f"topic:{group}:{TOPIC_B}",
        f"group:{group}:123": f"group:{group}",
    }
    # A modification or recall in a topic is recorded against that topic's message.
    recall, raw_recall = event(
        "Group.CallbackAfterRecallMsg", GroupId=group, TopicId=TOPIC_B, MsgSeqList=[{"MsgSeq": 123}]
    )
    assert archiver.archive(recall, raw_recall) == ["stored"]
    assert [sk.split("#")[0] for pk, sk in store.items if pk == f"topic:{group}:{TOPIC_B}:123"] == ["MSG", "RECALL"]


def test_captured_merger_keys_are_recorded_by_element_index(archiver: Archiver, store: MemoryStore) -> None:
    msg, raw = event("C2C.CallbackAfterSendMsg")
    assert archiver.archive(msg, raw, captured={0: "mkey0", 2: "mkey2"}) == ["stored"]
    assert store.items[(C2C_PK, "MSG")]["captured_mergers"] == {"0": "mkey0", "2": "mkey2"}
    other, raw_other = event("C2C.CallbackAfterSendMsg", To_Account="u_9")
    archiver.archive(other, raw_other)
    assert "captured_mergers" not in store.items[(C2C_PK, f"MSG#CONFLICT#{content_hash(raw_other)}")]
