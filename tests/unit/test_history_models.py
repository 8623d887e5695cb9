"""History's pieces without AWS: conversation ids, timelines, the summary of a message's events, the
group callbacks' models (docs/protocol.md §13 examples) and what history makes of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.conftest import CHANGED, CREATED, DESTROYED, EXITED, JOINED, MemoryStore, payload, text_body
from timkit.archive import Archiver, conversation_of, summarise, system_id
from timkit.history import entry, system_event
from timkit.models.callbacks import (
    ASYNC_COMMANDS,
    REQUEST_MODELS,
    GroupCreated,
    GroupDestroyed,
    GroupInfoChanged,
    GroupMembersExited,
    GroupMembersJoined,
    group_identity,
    parse_callback,
)
from timkit.models.conversations import (
    InvalidConversationId,
    c2c_conversation,
    group_conversation,
    normalise_conversation,
)
from timkit.models.elements import TextElem, UnknownElem
from timkit.stores.archive import timeline

SYSTEM = [CREATED, JOINED, EXITED, CHANGED, DESTROYED]


def parsed(doc: dict[str, Any]) -> Any:
    return parse_callback(doc["CallbackCommand"], json.dumps(doc))


# ----------------------------------------------------------------------------- conversation ids


def test_one_helper_names_a_groups_conversation_everywhere() -> None:
    # models/callbacks.py and the archive use models/conversations.py's helper: escaped alike.
    after = parsed(payload("Group.CallbackAfterSendMsg", GroupId="a:b%c"))
    assert conversation_of(after) == group_conversation("a:b%c") == "group:a%3Ab%25c"
    assert normalise_conversation("group:a%3Ab%25c") == "group:a%3Ab%25c"
    topic = parsed(payload("Group.CallbackAfterSendMsg", GroupId="g:1", TopicId="t%1"))
    assert conversation_of(topic) == "topic:g%3A1:t%251"
    assert group_identity("g:1", 5, "t%1") == "topic:g%3A1:t%251:5"


def test_one_to_one_conversations_are_the_same_both_ways() -> None:
    a = parsed(payload("C2C.CallbackAfterSendMsg", From_Account="zed", To_Account="a:my"))
    b = parsed(payload("C2C.CallbackAfterSendMsg", From_Account="a:my", To_Account="zed"))
    assert conversation_of(a) == conversation_of(b) == c2c_conversation("zed", "a:my") == "c2c:a%3Amy:zed"
    assert normalise_conversation("c2c:zed:a%3Amy") == "c2c:a%3Amy:zed"


# ----------------------------------------------------------------------------- timelines


def test_timelines_sort_by_time_then_the_order_within_the_second() -> None:
    def c2c(seq: int, rnd: int, at: int, event_time: int | None = None) -> str:
        return timeline(
            parsed(payload("C2C.CallbackAfterSendMsg", MsgSeq=seq, MsgRandom=rnd, MsgTime=at, EventTime=event_time))
        )

    assert c2c(7, 3088123456, 1730000000, 1730000000123) == "1730000000#123#0000000007#3088123456"
    ordered = [c2c(9, 9, 99), c2c(1, 5, 100), c2c(1, 6, 100), c2c(2, 0, 100), c2c(0, 0, 1000)]
    assert sorted(ordered) == ordered
    # Each side counts its own MsgSeq: within a second, the callbacks' milliseconds come first (a
    # late callback counts as the second's end, a clock behind as its start).
    question, answer = c2c(57, 1, 100, 100_250), c2c(3, 2, 100, 100_600)
    assert question < answer
    assert c2c(1, 1, 100, 99_000) < c2c(1, 1, 100, 100_500) < c2c(1, 1, 100, 105_000) < c2c(0, 0, 101)

    def grp(seq: int, at: int) -> str:
        return timeline(parsed(payload("Group.CallbackAfterSendMsg", MsgSeq=seq, MsgTime=at)))

    assert grp(123, 1490686222) == "1490686222#00000000000000000123"
    assert sorted([grp(10, 5), grp(9, 6), grp(11, 5)]) == [grp(10, 5), grp(11, 5), grp(9, 6)]
    # Seq beyond 32 bits (a group's is 64-bit) keeps its place.
    assert grp(2**40, 5) > grp(2**32, 5)


def test_a_system_event_sits_before_or_after_the_seconds_messages() -> None:
    message = timeline(parsed(payload("Group.CallbackAfterSendMsg", MsgSeq=1, MsgTime=1670574414)))
    joined = timeline(parsed(JOINED), event_id="abc")
    exited = timeline(parsed(EXITED), event_id="abc")
    assert joined == "1670574414#!123#abc" and exited == "1670574414#~123#abc"
    assert joined < message < exited < "1670574414$"
    # Without an EventTime, the time it was archived.
    undated = parsed({k: v for k, v in CHANGED.items() if k != "EventTime"})
    assert timeline(undated, archived_at=1700000000, event_id="x") == "1700000000#~000#x"


def test_a_system_events_id_is_its_content_however_laid_out() -> None:
    raw = json.dumps(CREATED)
    assert system_id(raw) == system_id(json.dumps(dict(reversed(list(CREATED.items()))), indent=2))
    assert system_id(raw) != system_id(json.dumps({**CREATED, "EventTime": "1670574414124"}))


# ----------------------------------------------------------------------------- summaries


def event_item(kind: str, millis: int, body: dict[str, Any], archived_at: int = 0, eid: str = "e") -> dict[str, Any]:
    return {"sk": f"{kind}#{millis:015d}#{eid}", "body": json.dumps(body), "archived_at": archived_at}


def test_the_summary_is_the_last_edit_and_the_first_recall_whatever_the_order() -> None:
    items = [
        {"sk": "MSG", "body": "{}"},
        event_item("MODIFY", 5000, {"MsgBody": text_body("late"), "CloudCustomData": "c"}),
        event_item("MODIFY", 3000, {"MsgBody": text_body("early")}),
        event_item("RECALL", 9000, {"Operator_Account": "admin"}, eid="b"),
        event_item("RECALL", 7000, {"Operator_Account": "owner"}, eid="a"),
        {"sk": "MSG#CONFLICT#x", "body": "{}"},
    ]
    summary, count = summarise(items)
    assert count == 4
    assert summary == {
        "edited_at": 5,
        "edited_body": json.dumps(text_body("late")),
        "edited_custom_data": "c",
        "deleted_at": 7,
        "deleted_by": "owner",
    }
    assert summarise(list(reversed(items))) == (summary, 4)


def test_events_without_a_time_use_when_they_were_archived_and_ties_keep_one_order() -> None:
    c2c_recall = event_item("RECALL", 0, payload("C2C.CallbackAfterMsgWithDraw"), archived_at=1730000050)
    summary, _ = summarise([c2c_recall])
    assert summary == {"deleted_at": 1730000050, "deleted_by": "u_1001"}
    same_time = [event_item("MODIFY", 1000, {"MsgBody": text_body(t)}, eid=t) for t in ("b", "a")]
    assert json.loads(str(summarise(same_time)[0]["edited_body"])) == text_body("b")
    assert summarise([{"sk": "MSG"}]) == ({}, 0)


# ----------------------------------------------------------------------------- group callbacks


@pytest.mark.parametrize("doc", SYSTEM, ids=lambda d: d["CallbackCommand"])
def test_group_callbacks_are_modelled_and_queued(doc: dict[str, Any]) -> None:
    event = parsed(doc)
    assert event.GroupId == "@TGS#2J4SZEAEL" and event.EventTime == 1670574414123
    assert doc["CallbackCommand"] in ASYNC_COMMANDS and doc["CallbackCommand"] in REQUEST_MODELS
    # Fields the models do not declare are kept (Wire), as everywhere.
    extra = parse_callback(doc["CallbackCommand"], json.dumps({**doc, "New": 1})).model_extra
    assert extra is not None and extra["New"] == 1


@pytest.mark.parametrize(
    "doc",
    [
        {**JOINED, "NewMemberList": "bob"},
        {**EXITED, "ExitMemberList": [{"Member": "x"}]},
        {**CREATED, "GroupId": 5},
        {k: v for k, v in DESTROYED.items() if k != "GroupId"},
        {**CHANGED, "Name": ["x"]},
    ],
)
def test_a_group_callback_of_the_wrong_shape_is_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parsed(doc)


def test_what_each_group_callback_says_happened() -> None:
    created, joined, exited, changed, destroyed = (system_event(parsed(doc)) for doc in SYSTEM)
    assert isinstance(parsed(CREATED), GroupCreated) and isinstance(parsed(DESTROYED), GroupDestroyed)
    assert isinstance(parsed(JOINED), GroupMembersJoined) and isinstance(parsed(EXITED), GroupMembersExited)
    assert isinstance(parsed(CHANGED), GroupInfoChanged)
    assert (created.type, created.operator, created.participants, created.topic) == (
        "thread_created",
        "group_root",
        ["leckie", "bob", "peter"],
        "MyFirstGroup",
    )
    assert (joined.type, joined.participants) == ("participants_added", ["jared", "tommy"])
    assert (exited.type, exited.participants) == ("participants_removed", ["jared", "tommy"])
    assert (changed.type, changed.topic, changed.changes) == ("info_updated", None, {"Notification": "NewNotification"})
    renamed = system_event(parsed({**CHANGED, "Name": "New name"}))
    assert (renamed.type, renamed.topic) == ("topic_updated", "New name")
    assert (destroyed.type, destroyed.operator, destroyed.participants) == (
        "thread_deleted",
        None,
        ["leckie", "peter", "bob"],
    )


def test_a_group_callback_is_archived_once_in_its_groups_conversation() -> None:
    store = MemoryStore()
    archiver = Archiver(store, clock=lambda: 1700000000)
    raw = json.dumps(JOINED)
    assert archiver.archive(parsed(JOINED), raw) == ["stored"]
    assert archiver.archive(parsed(JOINED), raw) == ["duplicate"]
    (((pk, sk), item),) = store.items.items()
    assert (pk, sk) == (f"system:{system_id(raw)}", "SYSTEM")
    assert item["conversation"] == "group:@TGS#2J4SZEAEL"
    assert item["timeline"] == f"1670574414#!123#{system_id(raw)}"


# ----------------------------------------------------------------------------- entries


def test_an_entry_carries_the_current_body_and_what_happened() -> None:
    doc = payload("Group.CallbackAfterSendMsg", CloudCustomData="first")
    item = {
        "pk": "group:@TGS#2J4SZEAEL:123",
        "sk": "MSG",
        "body": json.dumps(doc),
        "msg_time": 1490686222,
        "sender": "leckie",
        "edited_at": 5,
        "edited_body": json.dumps(text_body("new")),
        "deleted_at": 6,
        "deleted_by": "admin",
    }
    made = entry(item, "group:@TGS#2J4SZEAEL")
    assert (made.seq, made.time, made.sender, made.cloud_custom_data) == (123, 1490686222, "leckie", "first")
    assert made.body == [TextElem.model_validate(text_body("new")[0])]
    assert (made.edited_at, made.deleted_at, made.deleted_by) == (5, 6, "admin")
    assert entry({**item, "edited_custom_data": ""}, "g").cloud_custom_data is None


def test_an_element_todays_models_refuse_does_not_break_the_entry() -> None:
    body = [
        *text_body("ok"),
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": ["not", "text"]}},
        {"MsgType": "TIMBrandNewElem", "MsgContent": {"x": 1}},
        "junk",
    ]
    doc = payload("C2C.CallbackAfterSendMsg", MsgBody=body)
    made = entry({"pk": "c2c:k", "sk": "MSG", "body": json.dumps(doc), "msg_time": 1}, "c2c:a:b")
    assert [type(e) for e in made.body] == [TextElem, UnknownElem, UnknownElem, UnknownElem]
    assert [e.MsgType for e in made.body] == [
        "TIMTextElem",
        "TIMUnreadableElem",
        "TIMBrandNewElem",
        "TIMUnreadableElem",
    ]
    assert made.body[1].MsgContent == {"Text": ["not", "text"]}


@pytest.mark.parametrize(
    "bad", ["", "c2c:alice", "c2c:a:b:c", "group:", "dm:alice:bob", "topic:g", "c2c:0:0", "c2c:alice:alice", "x" * 201]
)
def test_a_conversation_id_of_the_wrong_shape_is_refused_with_the_reason(bad: str) -> None:
    # c2c:0:0 was found by the contract run: a chat with oneself reached Tencent's history (a 500).
    with pytest.raises(InvalidConversationId, match="conversation"):
        normalise_conversation(bad)
