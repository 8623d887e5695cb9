"""History from the archive against moto, with the table (and its index) as template.yaml makes it:
paging in order without gaps or repeats, one-to-one ids either way round, edits and recalls in any
arrival order, system events, read marks, and the backfill of items archived before the index."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from tests.moto_env import offline_aws, template_table
from timkit.archive import Archiver, summarise
from timkit.history import HistoryService, InvalidHistoryRequest, MessageNotFound
from timkit.models.callbacks import parse_callback
from timkit.models.history import HistoryPage
from timkit.stores.archive import ArchiveStore
from timkit.stores.paging import InvalidToken

TABLE = "archive"
BASE = 1_730_000_000
ARCHIVED_AT = 1_730_100_000


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArchiveStore]:
    with offline_aws(monkeypatch):
        template_table("ArchiveTable", TABLE)
        yield ArchiveStore(TABLE)


@pytest.fixture
def archiver(store: ArchiveStore) -> Archiver:
    return Archiver(store, clock=lambda: ARCHIVED_AT)


@pytest.fixture
def history(store: ArchiveStore) -> HistoryService:
    return HistoryService(store)


def text(value: str) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}]


def c2c(sender: str, to: str, seq: int, rnd: int, at: int, body: str = "hi") -> dict[str, Any]:
    return {
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "From_Account": sender,
        "To_Account": to,
        "MsgSeq": seq,
        "MsgRandom": rnd,
        "MsgTime": at,
        "MsgKey": f"{seq}_{rnd}_{at}",
        "MsgBody": text(body),
        "CloudCustomData": "",
        "SendMsgResult": 0,
        "EventTime": at * 1000,
    }


def group(group_id: str, seq: int, at: int, body: str = "hi", sender: str = "leckie") -> dict[str, Any]:
    return {
        "CallbackCommand": "Group.CallbackAfterSendMsg",
        "GroupId": group_id,
        "Type": "Public",
        "From_Account": sender,
        "Random": seq,
        "MsgSeq": seq,
        "MsgTime": at,
        "MsgBody": text(body),
        "EventTime": at * 1000,
    }


def archive(archiver: Archiver, doc: dict[str, Any]) -> list[str]:
    raw = json.dumps(doc)
    return archiver.archive(parse_callback(doc["CallbackCommand"], raw), raw)


# ----------------------------------------------------------------------------- bulk loading


class _Collector:
    """The archiver's writes for a new message, kept to be loaded in bulk (archiving 10,000
    messages one call at a time would make this test minutes long): the items are the ones the
    archiver makes."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_once(self, pk: str, sk: str, attributes: dict[str, Any]) -> None:
        self.items.append({"pk": pk, "sk": sk, **attributes})

    def history(self, pk: str) -> list[dict[str, Any]]:
        return [{"pk": pk, "sk": "MSG"}]


def load(docs: list[dict[str, Any]]) -> None:
    collector = _Collector()
    bulk = Archiver(collector, clock=lambda: ARCHIVED_AT)
    for doc in docs:
        raw = json.dumps(doc)
        bulk.archive(parse_callback(doc["CallbackCommand"], raw), raw)
    client, serialise = boto3.client("dynamodb"), TypeSerializer().serialize
    for start in range(0, len(collector.items), 25):
        chunk = collector.items[start : start + 25]
        requests = [{"PutRequest": {"Item": {k: serialise(v) for k, v in item.items()}}} for item in chunk]
        assert not client.batch_write_item(RequestItems={TABLE: requests}).get("UnprocessedItems")


def conversation_docs() -> dict[str, list[dict[str, Any]]]:
    """10,000 messages in 50 conversations (25 one-to-one, 25 groups), several a second, in the
    order they were sent."""
    docs: dict[str, list[dict[str, Any]]] = {}
    for n in range(25):
        a, b = f"user{n:02d}a", f"user{n:02d}b"
        seqs = {a: itertools.count(1), b: itertools.count(1)}
        messages = []
        for i in range(200):
            sender, to = (a, b) if i % 3 else (b, a)
            # Three a second; within one, the order of MsgSeq then MsgRandom.
            messages.append(c2c(sender, to, next(seqs[sender]), 1000 * n + 999 - i, BASE + i // 3, f"{n}-{i}"))
        docs[f"c2c:{a}:{b}"] = sorted(messages, key=lambda d: (d["MsgTime"], d["MsgSeq"], d["MsgRandom"]))
    for n in range(25):
        gid = f"@TGS#g{n:02d}"
        docs[f"group:{gid}"] = [group(gid, 100 + i, BASE + i // 4, f"g{n}-{i}") for i in range(200)]
    return docs


def ids(doc: dict[str, Any]) -> str:
    if "MsgKey" in doc:
        return f"c2c:{doc['MsgKey']}"
    return f"group:{doc['GroupId']}:{doc['MsgSeq']}"


def every_page(history: HistoryService, conversation: str, **options: Any) -> list[HistoryPage]:
    pages, token = [], None
    while True:
        page = history.page(conversation, next_token=token, **options)
        pages.append(page)
        if (token := page.next_token) is None:
            return pages


@pytest.fixture
def loaded(store: ArchiveStore) -> dict[str, list[dict[str, Any]]]:
    docs = conversation_docs()
    load([doc for conversation in docs.values() for doc in conversation])
    return docs


def test_every_page_of_a_conversation_in_order_without_gaps_or_repeats(
    history: HistoryService, loaded: dict[str, list[dict[str, Any]]]
) -> None:
    assert sum(map(len, loaded.values())) == 10_000 and len(loaded) == 50
    for conversation in ("c2c:user07a:user07b", "group:@TGS#g13"):
        expected = [ids(doc) for doc in loaded[conversation]]
        for page_size, newest_first in [(9, True), (13, False), (100, True)]:
            pages = every_page(history, conversation, page_size=page_size, newest_first=newest_first)
            got = [entry.id for page in pages for entry in page.entries]
            assert got == (expected[::-1] if newest_first else expected), (conversation, page_size, newest_first)
            assert all(len(page.entries) == page_size for page in pages[:-1])
            assert len(pages) == -(-len(expected) // page_size)
            assert {entry.conversation for page in pages for entry in page.entries} == {conversation}


def test_pages_between_a_start_and_an_end_time(
    history: HistoryService, loaded: dict[str, list[dict[str, Any]]]
) -> None:
    conversation = "c2c:user03a:user03b"
    start, end = BASE + 10, BASE + 20
    expected = [ids(d) for d in loaded[conversation] if start <= d["MsgTime"] <= end]
    assert len(expected) == 33
    for newest_first in (True, False):
        pages = every_page(
            history, conversation, start_time=start, end_time=end, page_size=5, newest_first=newest_first
        )
        got = [entry.id for page in pages for entry in page.entries]
        assert got == (expected[::-1] if newest_first else expected)
    only_start = every_page(history, conversation, start_time=BASE + 60, page_size=50, newest_first=False)
    assert [e.id for p in only_start for e in p.entries] == [
        ids(d) for d in loaded[conversation] if d["MsgTime"] >= BASE + 60
    ]
    only_end = every_page(history, conversation, end_time=BASE, page_size=50)
    assert [e.id for p in only_end for e in p.entries] == [ids(d) for d in loaded[conversation][:3]][::-1]
    assert history.page(conversation, start_time=BASE + 1000).entries == []


def test_a_one_to_one_conversation_is_the_same_whichever_user_is_named_first(
    history: HistoryService, loaded: dict[str, list[dict[str, Any]]]
) -> None:
    forward = history.page("c2c:user05a:user05b", page_size=30)
    backward = history.page("c2c:user05b:user05a", page_size=30)
    assert forward == backward
    assert forward.conversation == "c2c:user05a:user05b"
    # A token from one spelling goes on in the other.
    assert [e.id for e in history.page("c2c:user05b:user05a", page_size=30, next_token=forward.next_token).entries] == [
        e.id for e in history.page("c2c:user05a:user05b", page_size=30, next_token=forward.next_token).entries
    ]


def test_a_token_is_bound_to_its_conversation_order_and_range(
    history: HistoryService, loaded: dict[str, list[dict[str, Any]]]
) -> None:
    token = history.page("group:@TGS#g01", page_size=10).next_token
    assert token is not None
    with pytest.raises(InvalidToken):
        history.page("group:@TGS#g02", page_size=10, next_token=token)
    with pytest.raises(InvalidToken):
        history.page("group:@TGS#g01", page_size=10, next_token=token, newest_first=False)
    with pytest.raises(InvalidToken):  # the key it holds is outside the new range
        history.page("group:@TGS#g01", page_size=10, next_token=token, end_time=BASE)
    for bad in ["x", "e30=", token[:-4], json.dumps({"pk": "x"})]:
        with pytest.raises(InvalidToken):
            history.page("group:@TGS#g01", next_token=bad)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "pageSize"),
        ({"page_size": 101}, "pageSize"),
        ({"start_time": -1}, "startTime"),
        ({"end_time": 10**10}, "endTime"),
    ],
)
def test_bad_arguments_name_the_field(history: HistoryService, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidHistoryRequest) as raised:
        history.page("group:g", **kwargs)
    assert raised.value.field == field


def test_a_range_that_ends_before_it_starts_is_an_empty_page(history: HistoryService) -> None:
    page = history.page("group:g", start_time=5, end_time=4)
    assert (page.entries, page.next_token) == ([], None)


@pytest.mark.parametrize("conversation", ["", "c2c:alice", "group:", "dm:a:b", "topic:g", "group:a:b", "c" * 201])
def test_a_bad_conversation_id_is_refused_with_the_reason(history: HistoryService, conversation: str) -> None:
    with pytest.raises(InvalidHistoryRequest) as raised:
        history.page(conversation)
    assert raised.value.field == "conversationId"


def test_covers_is_the_earliest_entry(history: HistoryService, loaded: dict[str, list[dict[str, Any]]]) -> None:
    assert history.covers("group:@TGS#g04") == BASE
    assert history.covers("c2c:user04b:user04a") == BASE
    assert history.covers("group:@TGS#nothing") is None


# ----------------------------------------------------------------------------- edits and recalls

MESSAGE = c2c("alice", "bob", 7, 42, BASE, "original")
PK = "c2c:7_42_" + str(BASE)


def modify(text_value: str, at_ms: int, custom: str | None = None) -> dict[str, Any]:
    doc = {
        "CallbackCommand": "C2C.CallbackAfterModifyMsg",
        "Operator_Account": "alice",
        "From_Account": "alice",
        "To_Account": "bob",
        "MsgSeq": 7,
        "MsgRandom": 42,
        "MsgTime": BASE,
        "MsgKey": MESSAGE["MsgKey"],
        "MsgBody": text(text_value),
        "EventTime": at_ms,
    }
    if custom is not None:
        doc["CloudCustomData"] = custom
    return doc


RECALL = {
    "CallbackCommand": "C2C.CallbackAfterMsgWithDraw",
    "From_Account": "alice",
    "To_Account": "bob",
    "MsgKey": MESSAGE["MsgKey"],
    "UnreadMsgNum": 0,
}
EVENTS = [MESSAGE, modify("first edit", (BASE + 5) * 1000), modify("second edit", (BASE + 9) * 1000, '{"v":2}'), RECALL]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o)))
def test_edits_and_recalls_show_on_the_message_whatever_the_arrival_order(
    store: ArchiveStore, archiver: Archiver, history: HistoryService, order: tuple[int, ...]
) -> None:
    for index in order:
        archive(archiver, EVENTS[index])
    (entry,) = history.page("c2c:bob:alice").entries
    assert entry.id == PK
    assert [e.MsgContent.Text for e in entry.body] == ["second edit"]
    assert (entry.edited_at, entry.cloud_custom_data) == (BASE + 9, '{"v":2}')
    # C2C recalls carry no EventTime: the time it was archived.
    assert (entry.deleted_at, entry.deleted_by) == (ARCHIVED_AT, "alice")
    assert history.get("c2c:alice:bob", PK) == entry
    # A repeated delivery of any of them changes nothing.
    before = store.history(PK)
    archive(archiver, EVENTS[order[0]])
    assert store.history(PK) == before


def test_a_stale_recompute_never_overwrites_a_newer_summary(
    store: ArchiveStore, archiver: Archiver, history: HistoryService
) -> None:
    archive(archiver, MESSAGE)
    archive(archiver, EVENTS[1])
    # A recompute that read the partition now (one event)...
    stale, stale_count = summarise(store.history(PK))
    # ... loses the race against the one that follows the second edit.
    archive(archiver, EVENTS[2])
    assert stale_count == 1 and stale["edited_at"] == BASE + 5
    assert store.set_summary(PK, stale, stale_count) is False
    (entry,) = history.page("c2c:alice:bob").entries
    assert entry.edited_at == BASE + 9
    # The same recompute twice (two deliveries at once) writes once.
    assert store.set_summary(PK, *summarise(store.history(PK))) is False


def test_a_summary_is_never_written_without_its_message(store: ArchiveStore, archiver: Archiver) -> None:
    archive(archiver, EVENTS[1])
    assert [item["sk"].split("#")[0] for item in store.history(PK)] == ["MODIFY"]
    assert store.set_summary(PK, {"edited_at": 1}, 5) is False
    assert [item["sk"].split("#")[0] for item in store.history(PK)] == ["MODIFY"]


def test_a_group_recall_of_several_messages_marks_each(archiver: Archiver, history: HistoryService) -> None:
    for seq in (5, 6, 7):
        archive(archiver, group("@TGS#r", seq, BASE + seq))
    archive(
        archiver,
        {
            "CallbackCommand": "Group.CallbackAfterRecallMsg",
            "Operator_Account": "admin",
            "GroupId": "@TGS#r",
            "MsgSeqList": [{"MsgSeq": 5}, {"MsgSeq": 7}],
            "EventTime": str((BASE + 30) * 1000),
        },
    )
    entries = history.page("group:@TGS#r", newest_first=False).entries
    assert [(e.seq, e.deleted_at, e.deleted_by) for e in entries] == [
        (5, BASE + 30, "admin"),
        (6, None, None),
        (7, BASE + 30, "admin"),
    ]


def test_another_body_under_an_archived_identity_stays_out_of_history(
    archiver: Archiver, history: HistoryService
) -> None:
    archive(archiver, MESSAGE)
    assert archive(archiver, dict(MESSAGE, MsgBody=text("forged"))) == ["conflict"]
    assert [[e.MsgContent.Text for e in entry.body] for entry in history.page("c2c:alice:bob").entries] == [
        ["original"]
    ]


# ----------------------------------------------------------------------------- read marks


def test_one_to_one_pages_carry_each_users_latest_read_mark(archiver: Archiver, history: HistoryService) -> None:
    archive(archiver, MESSAGE)
    for reader, peer, at in [
        ("bob", "alice", BASE + 3),
        ("bob", "alice", BASE + 9),
        ("bob", "alice", BASE + 5),
        ("alice", "bob", BASE + 1),
        ("alice", "carol", BASE + 99),
    ]:
        archive(
            archiver,
            {
                "CallbackCommand": "C2C.CallbackAfterMsgReport",
                "Report_Account": reader,
                "Peer_Account": peer,
                "LastReadTime": at,
                "UnreadMsgNum": 0,
            },
        )
    assert history.page("c2c:bob:alice").read_marks == {"alice": BASE + 1, "bob": BASE + 9}
    assert history.page("c2c:alice:carol").read_marks == {"alice": BASE + 99}
    assert history.page("group:@TGS#x").read_marks == {}


# ----------------------------------------------------------------------------- system events

GID = "@TGS#sys"
SYSTEM = [
    {
        "CallbackCommand": "Group.CallbackAfterCreateGroup",
        "GroupId": GID,
        "Operator_Account": "group_root",
        "Owner_Account": "leckie",
        "Type": "Public",
        "Name": "MyFirstGroup",
        "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "peter"}],
        "UserDefinedDataList": [{"Key": "UserDefined1", "Value": "hello"}],
        "EventTime": str(BASE * 1000 + 5),
    },
    {
        "CallbackCommand": "Group.CallbackAfterNewMemberJoin",
        "GroupId": GID,
        "Type": "Public",
        "JoinType": "Invited",
        "Operator_Account": "leckie",
        "NewMemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}],
        "EventTime": (BASE + 1) * 1000,
    },
    {
        "CallbackCommand": "Group.CallbackAfterMemberExit",
        "GroupId": GID,
        "Type": "Public",
        "ExitType": "Kicked",
        "Operator_Account": "leckie",
        "ExitMemberList": [{"Member_Account": "tommy"}],
        "EventTime": (BASE + 1) * 1000,
    },
    {
        "CallbackCommand": "Group.CallbackAfterGroupInfoChanged",
        "GroupId": GID,
        "Type": "Public",
        "Operator_Account": "leckie",
        "Name": "Renamed",
        "Notification": "hello all",
        "EventTime": (BASE + 2) * 1000,
    },
    {
        "CallbackCommand": "Group.CallbackAfterGroupInfoChanged",
        "GroupId": GID,
        "Type": "Public",
        "Operator_Account": "leckie",
        "FaceUrl": "https://example.com/f.png",
        "EventTime": (BASE + 3) * 1000,
    },
    {
        "CallbackCommand": "Group.CallbackAfterGroupDestroyed",
        "GroupId": GID,
        "Type": "Public",
        "Owner_Account": "leckie",
        "Name": "Renamed",
        "MemberList": [{"Member_Account": "leckie"}, {"Member_Account": "bob"}],
        "EventTime": (BASE + 9) * 1000,
    },
]


def test_group_system_events_are_archived_once_in_the_groups_timeline(
    archiver: Archiver, history: HistoryService
) -> None:
    archive(archiver, group(GID, 1, BASE, "first"))
    archive(archiver, group(GID, 2, BASE + 1, "after the join"))
    for doc in reversed(SYSTEM):
        assert archive(archiver, doc) == ["stored"]
    for doc in SYSTEM:  # again, and laid out otherwise
        raw = json.dumps(dict(reversed(list(doc.items()))), indent=1)
        assert archiver.archive(parse_callback(doc["CallbackCommand"], raw), raw) == ["duplicate"]
    entries = history.page(f"group:{GID}", newest_first=False).entries
    summary = [(e.kind, e.time, e.system.type if e.system else e.seq) for e in entries]
    assert summary == [
        ("system", BASE, "thread_created"),
        ("message", BASE, 1),
        # Joins come before the second's messages, leaving after them.
        ("system", BASE + 1, "participants_added"),
        ("message", BASE + 1, 2),
        ("system", BASE + 1, "participants_removed"),
        ("system", BASE + 2, "topic_updated"),
        ("system", BASE + 3, "info_updated"),
        ("system", BASE + 9, "thread_deleted"),
    ]
    created, _, joined, _, exited, renamed, face, destroyed = (e.system for e in entries)
    assert created is not None and (created.operator, created.participants, created.topic) == (
        "group_root",
        ["leckie", "bob", "peter"],
        "MyFirstGroup",
    )
    assert joined is not None and (joined.operator, joined.participants) == ("leckie", ["jared", "tommy"])
    assert exited is not None and exited.participants == ["tommy"]
    assert renamed is not None and (renamed.topic, renamed.changes) == (
        "Renamed",
        {"Name": "Renamed", "Notification": "hello all"},
    )
    assert face is not None and (face.topic, face.changes) == (None, {"FaceUrl": "https://example.com/f.png"})
    assert destroyed is not None and (destroyed.operator, destroyed.participants) == (None, ["leckie", "bob"])
    assert history.get(f"group:{GID}", entries[0].id) == entries[0]
    with pytest.raises(MessageNotFound):
        history.get("group:@TGS#other", entries[0].id)


# ----------------------------------------------------------------------------- one entry


def test_get_finds_a_message_only_in_its_own_conversation(archiver: Archiver, history: HistoryService) -> None:
    archive(archiver, MESSAGE)
    assert history.get("c2c:bob:alice", PK).sender == "alice"
    for conversation, message_id in [("c2c:alice:carol", PK), ("c2c:alice:bob", "c2c:1_1_1"), ("group:x", PK)]:
        with pytest.raises(MessageNotFound):
            history.get(conversation, message_id)
    for message_id in ["", "msg:1", "x" * 401]:
        with pytest.raises(InvalidHistoryRequest):
            history.get("c2c:alice:bob", message_id)


# ----------------------------------------------------------------------------- backfill


def old_layout(store: ArchiveStore, docs: list[dict[str, Any]]) -> None:
    """Items as the archiver wrote them before the index: no timeline, the conversation unescaped."""
    for doc in docs:
        raw = json.dumps(doc)
        event = parse_callback(doc["CallbackCommand"], raw)
        if "GroupId" in doc:
            conversation = f"group:{doc['GroupId']}"
        else:
            first, second = sorted((doc["From_Account"], doc["To_Account"]))
            conversation = f"c2c:{first}:{second}"
        store.put_once(
            event.identity,
            "MSG",
            {
                "command": doc["CallbackCommand"],
                "sender": doc["From_Account"],
                "conversation": conversation,
                "msg_time": doc["MsgTime"],
                "body": raw,
                "archived_at": 1,
                "inline_mergers": 0,
            },
        )


def test_backfill_puts_old_records_into_history_resumably(
    store: ArchiveStore, archiver: Archiver, history: HistoryService
) -> None:
    odd = "g:1%"  # escaped in today's conversation ids, not in the old ones
    old = [group(odd, seq, BASE + seq // 2) for seq in range(1, 40)] + [
        c2c("zed", "amy", 1, 1, BASE),
        c2c("amy", "zed", 1, 2, BASE + 1),
    ]
    old_layout(store, old)
    # An old message's edit, an item that cannot be read, a conflicting body (never indexed).
    store.put_once(
        f"group:{odd}:3",
        "MODIFY#000000000000000#x",
        {
            "command": "Group.CallbackAfterModifyMsg",
            "archived_at": BASE + 50,
            "body": json.dumps(
                {
                    "CallbackCommand": "Group.CallbackAfterModifyMsg",
                    "GroupId": odd,
                    "MsgSeq": 3,
                    "MsgBody": text("edited long ago"),
                }
            ),
        },
    )
    store.put_once("c2c:broken", "MSG", {"command": "C2C.CallbackAfterSendMsg", "body": '{"no": 1}'})
    store.put_once(
        f"group:{odd}:4",
        "MSG#CONFLICT#abc",
        {"command": "Group.CallbackAfterSendMsg", "body": json.dumps(group(odd, 4, 1, "forged"))},
    )
    conversation = "group:g%3A1%25"
    assert history.page(conversation).entries == []
    # Archived again before the backfill reaches it: today's layout stays as it is.
    archive(archiver, group(odd, 40, BASE + 20))

    calls, token = [], None
    while True:
        # No time at all: one scan page a call (of 10 items), so it takes many calls.
        progress = archiver.backfill(token, seconds=0, page=10)
        calls.append(progress)
        if progress.done:
            assert progress.next_token is None
            break
        token = progress.next_token
        assert token is not None
    assert len(calls) > 3
    assert sum(p.updated for p in calls) == 41
    assert sum(p.unreadable for p in calls) == 1 and [i for p in calls for i in p.unreadable_ids] == ["c2c:broken"]

    entries = [e for page in every_page(history, conversation, newest_first=False, page_size=9) for e in page.entries]
    assert [e.seq for e in entries] == list(range(1, 41))
    assert [e.MsgContent.Text for e in entries[2].body] == ["edited long ago"]
    assert entries[2].edited_at == BASE + 50
    assert [e.sender for e in history.page("c2c:zed:amy", newest_first=False).entries] == ["zed", "amy"]
    # Nothing left to do; a second run changes nothing.
    again = archiver.backfill(None, seconds=5)
    assert (again.updated, again.done, again.unreadable) == (0, True, 1)
    with pytest.raises(InvalidToken):
        archiver.backfill("bm90IGEga2V5", seconds=1)


def test_get_finds_an_old_record_before_the_backfill(store: ArchiveStore, history: HistoryService) -> None:
    old_layout(store, [group("a:b", 9, BASE)])
    assert history.get("group:a%3Ab", "group:a:b:9").seq == 9
    with pytest.raises(MessageNotFound):
        history.get("group:a", "group:a:b:9")
