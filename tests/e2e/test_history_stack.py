"""History end to end through the local stack: users' messages sent through the Tencent IM emulator
reach the archive through the callbacks, and the admin API's history routes read them back; a group's
system callback shows in its history too."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import requests

from tests.e2e.test_callback import answer
from tests.waiting import wait_for

TIMEOUT = 30


def history(stack: dict, conversation: str, **query: Any) -> requests.Response:
    return requests.get(
        f"{stack['api_url']}/admin/conversations/{quote(conversation, safe='')}/messages", params=query, timeout=TIMEOUT
    )


def texts(page: dict[str, Any]) -> list[str]:
    return [e["body"][0]["MsgContent"]["Text"] for e in page["entries"] if e["kind"] == "message" and e["body"]]


def test_sent_messages_are_read_back_from_the_archive(local_stack, tim, aws) -> None:
    # The archive index exists in the stack's table, as the template declares it.
    table = aws("dynamodb").describe_table(TableName=local_stack["resources"]["ArchiveTable"])["Table"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["ByConversation"]

    since = int(time.time()) - 1
    mark = uuid.uuid4().hex[:8]
    first = tim.send_c2c("alice", "bob", f"history one {mark}")
    second = tim.send_c2c("bob", "alice", f"history two {mark}")
    assert first["ErrorCode"] == second["ErrorCode"] == 0

    def ours() -> dict[str, Any] | None:
        page = history(local_stack, "c2c:bob:alice", startTime=since, pageSize=100).json()
        return page if sum(mark in text for text in texts(page)) == 2 else None

    page = wait_for(ours, timeout=TIMEOUT, what="both messages in the conversation's history")
    assert page["conversation"] == "c2c:alice:bob"
    mine = [e for e in page["entries"] if mark in e["body"][0]["MsgContent"]["Text"]]
    # The ids are the messages' MsgKeys; newest first (two sent in one second without the callbacks'
    # EventTime, which the emulator leaves out, are in MsgSeq then MsgRandom order).
    assert {(e["id"], e["sender"]) for e in mine} == {
        (f"c2c:{second['MsgKey']}", "bob"),
        (f"c2c:{first['MsgKey']}", "alice"),
    }
    assert [e["time"] for e in page["entries"]] == sorted((e["time"] for e in page["entries"]), reverse=True)
    # The other way round names the same conversation.
    again = history(local_stack, "c2c:alice:bob", startTime=since, pageSize=100).json()
    assert [e["id"] for e in again["entries"]] == [e["id"] for e in page["entries"]]

    one = requests.get(
        f"{local_stack['api_url']}/admin/conversations/{quote('c2c:alice:bob', safe='')}/messages/"
        f"c2c:{quote(first['MsgKey'], safe='')}",
        timeout=TIMEOUT,
    )
    assert one.status_code == 200 and one.json()["body"][0]["MsgContent"]["Text"] == f"history one {mark}"

    refused = history(local_stack, "c2c:alice", pageSize=5)
    assert refused.status_code == 422 and refused.json()["field"] == "path.conversationId"


def test_a_groups_system_event_shows_in_its_history(local_stack) -> None:
    group = f"@TGS#hist{uuid.uuid4().hex[:8]}"
    joined = {
        "CallbackCommand": "Group.CallbackAfterNewMemberJoin",
        "GroupId": group,
        "Type": "Public",
        "JoinType": "Invited",
        "Operator_Account": "alice",
        "NewMemberList": [{"Member_Account": "bob"}],
        "EventTime": str(int(time.time() * 1000)),
    }
    for _ in range(2):  # delivered twice, archived once
        assert answer(local_stack, joined)[0] == 200

    def archived() -> list[dict[str, Any]]:
        return history(local_stack, f"group:{group}").json()["entries"]

    (entry,) = wait_for(archived, timeout=TIMEOUT, what="the system event in the group's history")
    assert entry["kind"] == "system" and entry["system"]["type"] == "participants_added"
    assert (entry["system"]["operator"], entry["system"]["participants"]) == ("alice", ["bob"])


def test_a_group_made_through_tencent_has_its_story_in_history(local_stack, tim) -> None:
    from timkit.tim.rest import TimRestClient

    rest = TimRestClient(int(local_stack["sdkappid"]), local_stack["secret_key"], base_url=local_stack["tim_api_base"])
    group = f"hist-{uuid.uuid4().hex[:8]}"
    # The emulator sends the group's callbacks (docs/protocol.md §13) as Tencent does.
    rest.call(
        "group_open_http_svc",
        "create_group",
        {"Owner_Account": "alice", "Type": "Public", "Name": "History", "GroupId": group},
    )
    rest.call("group_open_http_svc", "add_group_member", {"GroupId": group, "MemberList": [{"Member_Account": "bob"}]})
    assert tim.send_group("bob", group, "hello everyone")["ErrorCode"] == 0

    def told() -> list[dict[str, Any]] | None:
        entries = history(local_stack, f"group:{group}").json()["entries"]
        return entries if len(entries) == 3 else None

    entries = wait_for(told, timeout=TIMEOUT, what="the group's creation, the join and the message")
    assert [(e["kind"], (e.get("system") or {}).get("type")) for e in reversed(entries)] == [
        ("system", "thread_created"),
        ("system", "participants_added"),
        ("message", None),
    ]
    assert entries[1]["system"]["participants"] == ["bob"]
    assert entries[0]["sender"] == "bob" and entries[0]["body"][0]["MsgContent"]["Text"] == "hello everyone"
