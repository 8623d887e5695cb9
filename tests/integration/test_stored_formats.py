"""Items as the stores have always written them (DynamoDB attribute values spelled out, as they are
in tables today) read back through the stores, and the stores still write exactly that: moving the
stores to TypeSerializer / TypeDeserializer and typed records changed no stored format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.moto_env import offline_aws, template_table
from timkit.history import HistoryService
from timkit.stores.archive import ArchiveStore
from timkit.stores.bots import BotStore
from timkit.stores.chat_tokens import ChatTokenStore
from timkit.stores.jobs import Claim, Job, JobGroup, JobStore
from timkit.stores.mergers import MergerMeta

T = 1_730_000_000
MESSAGE = json.dumps({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]})

# A cron job with a run, a failure counted and a cancel, as JobStore wrote it.
JOB_ITEM = {
    "pk": {"S": "JOB#j1"},
    "sk": {"S": "JOB"},
    "job_id": {"S": "j1"},
    "kind": {"S": "recurring"},
    "created_at": {"N": str(T * 1000)},
    "message": {"S": MESSAGE},
    "all_groups": {"BOOL": False},
    "status": {"S": "scheduled"},
    "schedule": {"S": '{"cron":"cron(0 10 * * ? *)","timezone":"UTC"}'},
    "schedule_name": {"S": "broadcast-j1"},
    "total": {"N": "3"},
    "sent": {"N": "1"},
    "failed": {"N": "1"},
    "cancelled": {"N": "0"},
    "failed_codes": {"M": {"10010": {"N": "1"}}},
    "cursor": {"S": ""},
    "planned": {"BOOL": True},
    "list_pk": {"S": "JOBS"},
    "list_sk": {"S": f"{T * 1000:013d}#j1"},
    "runs": {"L": [{"S": "j1-20241027T1000Z"}]},
    "cancelled_at": {"N": str(T * 1000 + 5)},
}
GROUP_ITEMS = [
    {
        "pk": {"S": "JOB#j1"},
        "sk": {"S": "G#a"},
        "group_id": {"S": "a"},
        "state": {"S": "sent"},
        "random": {"N": "11"},
        "attempts": {"N": "1"},
        "first_try_ms": {"N": "5"},
        "lease_until": {"N": "0"},
        "updated_ms": {"N": "6"},
        "info": {"S": ""},
        "msg_seq": {"N": "42"},
        "code": {"NULL": True},
    },
    {
        "pk": {"S": "JOB#j1"},
        "sk": {"S": "G#b"},
        "group_id": {"S": "b"},
        "state": {"S": "failed"},
        "random": {"N": "12"},
        "attempts": {"N": "1"},
        "first_try_ms": {"N": "5"},
        "lease_until": {"N": "0"},
        "updated_ms": {"N": "6"},
        "info": {"S": "no such group"},
        "code": {"N": "10010"},
    },
    {
        "pk": {"S": "JOB#j1"},
        "sk": {"S": "G#c"},
        "group_id": {"S": "c"},
        "state": {"S": "pending"},
        "random": {"N": "13"},
        "attempts": {"N": "0"},
    },
]


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with offline_aws(monkeypatch):
        for logical, name in (
            ("JobsTable", "jobs"),
            ("ArchiveTable", "archive"),
            ("BotStateTable", "bots"),
            ("IdempotencyTable", "idempotency"),
        ):
            template_table(logical, name)
        yield boto3.client("dynamodb")


def test_a_job_and_its_groups_read_back(db: Any) -> None:
    for item in (JOB_ITEM, *GROUP_ITEMS):
        db.put_item(TableName="jobs", Item=item)
    db.put_item(
        TableName="jobs",
        Item={"pk": {"S": "JOB#j1"}, "sk": {"S": "TARGETS"}, "groups": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]}},
    )
    store = JobStore("jobs", db)

    job = store.get("j1")
    assert job == Job(
        job_id="j1",
        kind="recurring",
        created_at=T * 1000,
        message=MESSAGE,
        all_groups=False,
        status="scheduled",
        schedule='{"cron":"cron(0 10 * * ? *)","timezone":"UTC"}',
        schedule_name="broadcast-j1",
        total=3,
        sent=1,
        failed=1,
        failed_codes={"10010": 1},
        planned=True,
        runs=["j1-20241027T1000Z"],
        cancelled_at=T * 1000 + 5,
    )
    assert store.list(10, None)[0] == [job]
    assert store.targets("j1") == ["a", "b", "c"]
    groups, _ = store.groups("j1", 10, None)
    assert [(g.group_id, g.state, g.code, g.msg_seq, g.info) for g in groups] == [
        ("a", "sent", None, 42, ""),
        ("b", "failed", 10010, None, "no such group"),
        ("c", "pending", None, None, ""),
    ]
    # A settled group is not taken; a pending one is, with the Random it was planned with.
    assert isinstance(store.claim("j1", "a", 10, 100), JobGroup)
    assert store.claim("j1", "c", 10, 100) == Claim(random=13, attempts=1, first_try_ms=10)


def test_a_job_and_its_groups_are_written_as_before(db: Any) -> None:
    store = JobStore("jobs", db)
    job = Job(job_id="j2", kind="once", created_at=T * 1000, message=MESSAGE, all_groups=False, status="started")
    assert store.create(job, ["a"])
    assert store.plan_page("j2", "", "", {"a": 7}, False)
    assert store.finish("j2", "a", "failed", 9, code=10010, info="no") is False  # not claimed yet
    assert isinstance(store.claim("j2", "a", 5, 50), Claim)
    assert store.finish("j2", "a", "failed", 9, code=10010, info="no")

    def raw(sk: str) -> dict[str, Any]:
        return db.get_item(TableName="jobs", Key={"pk": {"S": "JOB#j2"}, "sk": {"S": sk}})["Item"]

    assert raw("JOB") == {
        "pk": {"S": "JOB#j2"},
        "sk": {"S": "JOB"},
        "job_id": {"S": "j2"},
        "kind": {"S": "once"},
        "created_at": {"N": str(T * 1000)},
        "message": {"S": MESSAGE},
        "all_groups": {"BOOL": False},
        "status": {"S": "started"},
        "total": {"N": "1"},
        "sent": {"N": "0"},
        "failed": {"N": "1"},
        "cancelled": {"N": "0"},
        "failed_codes": {"M": {"10010": {"N": "1"}}},
        "cursor": {"S": ""},
        "planned": {"BOOL": True},
        "list_pk": {"S": "JOBS"},
        "list_sk": {"S": f"{T * 1000:013d}#j2"},
    }
    assert raw("TARGETS") == {"pk": {"S": "JOB#j2"}, "sk": {"S": "TARGETS"}, "groups": {"L": [{"S": "a"}]}}
    assert raw("G#a") == {
        "pk": {"S": "JOB#j2"},
        "sk": {"S": "G#a"},
        "group_id": {"S": "a"},
        "state": {"S": "failed"},
        "random": {"N": "7"},
        "attempts": {"N": "1"},
        "first_try_ms": {"N": "5"},
        "lease_until": {"N": "0"},
        "updated_ms": {"N": "9"},
        "info": {"S": "no"},
        "code": {"N": "10010"},
    }


def test_a_message_job_is_written_with_its_kind_and_its_target_with_the_answer(db: Any) -> None:
    # Items of the kinds added after broadcasts: the kind on the job, the answer on its one target.
    store = JobStore("jobs", db)
    request = json.dumps({"toUser": "bob", "msgBody": json.loads(MESSAGE)["MsgBody"]})
    job = Job(
        job_id="m1",
        kind="once",
        job_kind="message",
        created_at=T * 1000,
        message=request,
        all_groups=False,
        status="started",
    )
    assert store.create(job, ["run"])
    assert store.plan_page("m1", "", "", {"run": 7}, False)
    assert isinstance(store.claim("m1", "run", 5, 50), Claim)
    answer = '{"sent":1,"failed":0,"results":[]}'
    assert store.finish("m1", "run", "sent", 9, result=answer)

    def raw(sk: str) -> dict[str, Any]:
        return db.get_item(TableName="jobs", Key={"pk": {"S": "JOB#m1"}, "sk": {"S": sk}})["Item"]

    assert raw("JOB")["job_kind"] == {"S": "message"}
    assert raw("G#run")["result"] == {"S": answer}
    stored = store.get("m1")
    assert stored is not None and (stored.job_kind, stored.message) == ("message", request)
    target = store.group("m1", "run")
    assert target is not None and (target.state, target.result) == ("sent", answer)


ARCHIVED = {
    "pk": {"S": "c2c:1_2_3"},
    "sk": {"S": "MSG"},
    "command": {"S": "C2C.CallbackAfterSendMsg"},
    "sender": {"S": "alice"},
    "conversation": {"S": "c2c:alice:bob"},
    "timeline": {"S": f"{T:010d}#000#1#2"},
    "msg_time": {"N": str(T)},
    "body": {
        "S": json.dumps(
            {
                "From_Account": "alice",
                "To_Account": "bob",
                "MsgTime": T,
                "MsgSeq": 1,
                "MsgRandom": 2,
                "MsgKey": "1_2_3",
                "MsgBody": json.loads(MESSAGE)["MsgBody"],
            }
        )
    },
    "content_hash": {"S": "h"},
    "archived_at": {"N": str(T + 1)},
    "inline_mergers": {"N": "0"},
    "captured_mergers": {"M": {"0": {"S": "key0"}}},
}


def test_an_archived_message_reads_back_and_is_written_as_before(db: Any) -> None:
    db.put_item(TableName="archive", Item=ARCHIVED)
    store = ArchiveStore("archive", db)
    item = store.entry("c2c:1_2_3")
    assert item is not None
    assert (item["msg_time"], item["archived_at"], item["captured_mergers"]) == (T, T + 1, {"0": "key0"})
    entry = HistoryService(store).get("c2c:alice:bob", "c2c:1_2_3")
    assert (entry.sender, entry.time, entry.seq) == ("alice", T, 1)

    attributes = {name: value for name, value in store.entry("c2c:1_2_3").items() if name not in ("pk", "sk")}
    assert store.put_once("c2c:copy", "MSG", attributes) is None
    copy = db.get_item(TableName="archive", Key={"pk": {"S": "c2c:copy"}, "sk": {"S": "MSG"}})["Item"]
    assert copy == {**ARCHIVED, "pk": {"S": "c2c:copy"}}


def test_bot_memory_and_chat_tokens_read_back_and_are_written_as_before(db: Any) -> None:
    db.put_item(
        TableName="bots",
        Item={
            "pk": {"S": "memory#@RBT#a#c2c:a:b"},
            "turns": {"L": [{"M": {"q": {"S": "q1"}, "a": {"S": "a1"}}}]},
            "version": {"N": "3"},
            "expires_at": {"N": str(T)},
        },
    )
    bots = BotStore("bots", db, clock=lambda: T)
    assert [(m.role, m.content) for m in bots.history("@RBT#a", "c2c:a:b", 5, 1000)] == [
        ("user", "q1"),
        ("assistant", "a1"),
    ]
    bots.remember("@RBT#a", "c2c:a:b", "q2", "a2", 5, 1000, ttl=10)
    assert db.get_item(TableName="bots", Key={"pk": {"S": "memory#@RBT#a#c2c:a:b"}})["Item"] == {
        "pk": {"S": "memory#@RBT#a#c2c:a:b"},
        "turns": {"L": [{"M": {"q": {"S": "q1"}, "a": {"S": "a1"}}}, {"M": {"q": {"S": "q2"}, "a": {"S": "a2"}}}]},
        "version": {"N": "4"},
        "expires_at": {"N": str(T + 10)},
    }

    tokens = ChatTokenStore("idempotency", db, clock=lambda: T)
    db.put_item(
        TableName="idempotency",
        Item={
            "id": {"S": "chat-send#old"},
            "fingerprint": {"S": "f"},
            "state": {"S": "done"},
            "started_at": {"N": "1"},
            "lease_until": {"N": "2"},
            "random": {"N": "3"},
            "expiration": {"N": "4"},
            "result": {"S": "group:g:1"},
        },
    )
    record = tokens.get("chat-send#old")
    assert record is not None
    assert (record.state, record.started_at, record.lease_until, record.random, record.result) == (
        "done",
        1,
        2,
        3,
        "group:g:1",
    )
    assert tokens.begin("chat-send#new", "f", 7, 30) is None
    assert db.get_item(TableName="idempotency", Key={"id": {"S": "chat-send#new"}})["Item"] == {
        "id": {"S": "chat-send#new"},
        "fingerprint": {"S": "f"},
        "state": {"S": "pending"},
        "started_at": {"N": str(T)},
        "lease_until": {"N": str(T + 30)},
        "random": {"N": "7"},
        "expiration": {"N": str(T + 24 * 3600)},
    }


def test_merger_metadata_reads_back_and_is_written_as_before() -> None:
    item = {
        "pk": {"S": "k1"},
        "uploader": {"S": "alice"},
        "kind": {"S": "group"},
        "conversation": {"S": "@TGS#1"},
        "msg_count": {"N": "2"},
        "levels": {"N": "1"},
        "layers_over_limit": {"BOOL": False},
        "size_bytes": {"N": "300"},
        "created_at": {"N": str(T)},
        "expires_at": {"N": str(T + 60)},
        "source": {"S": "upload"},
    }
    meta = MergerMeta.from_item({**item, "stored_bytes": {"N": "120"}})
    assert meta == MergerMeta(
        key="k1",
        uploader="alice",
        kind="group",
        conversation="@TGS#1",
        msg_count=2,
        levels=1,
        layers_over_limit=False,
        size_bytes=300,
        created_at=T,
        expires_at=T + 60,
        source="upload",
    )
    assert meta.to_item() == item
