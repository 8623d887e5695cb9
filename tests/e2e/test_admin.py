"""The admin API end to end: over HTTP through the local stack (`python -m local`), its broadcast
workers in their own processes, moto, and the Tencent IM emulator's record of what arrived.

The stack runs with REST_CALLS_PER_SECOND=BUDGET (tests/e2e/conftest.py) and four concurrent
broadcast workers (the template's BroadcastConcurrency).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from local.tim_emulator.control import EmulatorControl
from tests.e2e.conftest import REST_BUDGET as BUDGET
from tests.e2e.test_callback import wait_for
from timkit.tim.rest import TimRestClient

TIMEOUT = 30
SEND = "group_open_http_svc/send_group_msg"
GROUP_LIMIT = 40  # messages per second per group, all senders (docs/protocol.md §6.1)
TEXT = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "maintenance at 22:00"}}]


def admin(stack: dict, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    return requests.request(method, f"{stack['api_url']}/admin{path}", json=body, headers=headers, timeout=TIMEOUT)


@pytest.fixture
def tim(tim: EmulatorControl) -> Iterator[EmulatorControl]:
    """The session's emulator, its faults cleared after each test."""
    yield tim
    tim.configure(faults=[])


def make_groups(rest: TimRestClient, count: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    groups = [f"e2e-{prefix}-{i:04d}" for i in range(count)]
    for group in groups:
        rest.call(
            "group_open_http_svc",
            "create_group",
            {"Owner_Account": "alice", "Type": "Public", "Name": group, "GroupId": group},
        )
    return groups


def job(stack: dict, job_id: str) -> dict[str, Any]:
    answer = admin(stack, "GET", f"/broadcasts/{job_id}?limit=1")
    assert answer.status_code == 200, answer.text
    return answer.json()


def settled(stack: dict, job_id: str) -> dict[str, Any] | None:
    found = job(stack, job_id)
    return found if found["state"] in ("done", "cancelled") and found["progress"]["pending"] == 0 else None


def group_states(stack: dict, job_id: str, page_size: int) -> dict[str, str]:
    """Every group's state, page by page through nextToken."""
    states: dict[str, str] = {}
    token: str | None = None
    while True:
        query = f"?limit={page_size}" + (f"&nextToken={token}" if token else "")
        page = admin(stack, "GET", f"/broadcasts/{job_id}{query}").json()
        states.update({g["groupId"]: g["state"] for g in page["groups"]})
        if not (token := page.get("nextToken")):
            return states


def sends_to(tim: EmulatorControl, groups: list[str]) -> list[dict[str, Any]]:
    wanted = set(groups)
    return [c for c in tim.calls(api=SEND) if c["request"].get("GroupId") in wanted]


def delivered(tim: EmulatorControl, groups: list[str]) -> Counter[str]:
    wanted = set(groups)
    return Counter(m["GroupId"] for m in tim.messages() if m.get("GroupId") in wanted)


def kill_a_busy_worker(stack: dict) -> int:
    def kill() -> int | None:
        answer = requests.post(f"{stack['api_url']}/_local/functions/BroadcastWorkerFunction/kill", timeout=TIMEOUT)
        return answer.json()["killed"] if answer.status_code == 200 else None

    return wait_for(kill, timeout=30, what="a busy broadcast worker to kill")


# ----------------------------------------------------------------------------- broadcasts


def test_broadcast_to_500_groups_under_faults_and_a_killed_worker(local_stack, tim, rest) -> None:
    groups = make_groups(rest, 500)
    # 10% of sends fail transiently; a third of those after Tencent stored the message.
    tim.configure(
        faults=[{"api": SEND, "error_share": 0.1, "codes": [10002, 502], "fault_after_commit": 0.34}], fault_seed=4
    )
    created = admin(
        local_stack, "POST", "/broadcasts", {"groupIds": groups, "msgBody": TEXT, "options": {"priority": "Low"}}
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]
    wait_for(
        lambda: job(local_stack, job_id)["progress"]["sent"] >= 170, timeout=120, what="a third of the groups sent"
    )
    kill_a_busy_worker(local_stack)

    final = wait_for(lambda: settled(local_stack, job_id), timeout=240, what="the broadcast to settle")
    assert final["state"] == "done"
    assert final["progress"] | {"failedCodes": None} == {
        "total": 500,
        "sent": 500,
        "failed": 0,
        "pending": 0,
        "cancelled": 0,
        "failedCodes": None,
    }
    # Exactly one delivered message per group, although some sends were repeated.
    calls = sends_to(tim, groups)
    assert delivered(tim, groups) == dict.fromkeys(groups, 1)
    assert len(calls) > 500 and any(c.get("fault") for c in calls)
    # Under the budget in every second, and far under Tencent's per-group limit.
    per_second = Counter(int(c["time"]) for c in calls)
    assert max(per_second.values()) <= BUDGET, per_second
    per_group_second = Counter((c["request"]["GroupId"], int(c["time"])) for c in calls)
    assert max(per_group_second.values()) < GROUP_LIMIT
    # Every group shows its end state in the paged results.
    assert group_states(local_stack, job_id, 200) == dict.fromkeys(groups, "sent")


def test_cancel_mid_way_leaves_the_rest_cancelled(local_stack, tim, rest) -> None:
    groups = make_groups(rest, 300)
    job_id = admin(local_stack, "POST", "/broadcasts", {"groupIds": groups, "msgBody": TEXT}).json()["jobId"]
    wait_for(lambda: job(local_stack, job_id)["progress"]["sent"] >= 40, timeout=60, what="some groups sent")
    cancelled = admin(local_stack, "POST", f"/broadcasts/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"

    final = wait_for(lambda: settled(local_stack, job_id), timeout=120, what="the cancel to settle every group")
    progress = final["progress"]
    assert final["state"] == "cancelled" and progress["cancelled"] > 100
    assert progress["sent"] + progress["failed"] + progress["cancelled"] == progress["total"] == 300
    # The cancelled groups got nothing; the others exactly one message.
    states = group_states(local_stack, job_id, 300)
    got = delivered(tim, groups)
    assert {g for g, s in states.items() if s == "sent"} == set(got) and set(got.values()) == {1}
    never_sent = {g for g, s in states.items() if s == "cancelled"}
    assert [c for c in sends_to(tim, groups) if c["request"]["GroupId"] in never_sent] == []


def test_a_scheduled_broadcast_starts_when_its_time_comes(local_stack, tim, rest) -> None:
    groups = make_groups(rest, 3)
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    created = admin(
        local_stack, "POST", "/broadcasts", {"groupIds": groups, "msgBody": TEXT, "schedule": {"at": at.isoformat()}}
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["state"] == "scheduled" and body["nextRun"].startswith(at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert delivered(tim, groups) == {}

    final = wait_for(lambda: settled(local_stack, body["jobId"]), timeout=60, what="the scheduled broadcast to run")
    assert final["state"] == "done" and final["progress"]["sent"] == 3
    assert min(c["time"] for c in sends_to(tim, groups)) >= at.timestamp()
    assert delivered(tim, groups) == dict.fromkeys(groups, 1)


def schedules_naming(aws: Callable[[str], Any], job_id: str) -> list[str]:
    """The schedules in the stack's moto whose target input is for ``job_id``."""
    scheduler = aws("scheduler")
    named = []
    for page in scheduler.get_paginator("list_schedules").paginate():
        for summary in page["Schedules"]:
            try:
                schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
            except scheduler.exceptions.ResourceNotFoundException:
                continue  # run and deleted since it was listed
            if json.loads(schedule["Target"].get("Input") or "{}").get("jobId") == job_id:
                named.append(schedule["Name"])
    return named


def test_cancelling_a_scheduled_broadcast_removes_its_schedule(local_stack, aws, tim, rest) -> None:
    groups, later_groups = make_groups(rest, 2), make_groups(rest, 1)
    at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    job_id = admin(
        local_stack, "POST", "/broadcasts", {"groupIds": groups, "msgBody": TEXT, "schedule": {"at": at.isoformat()}}
    ).json()["jobId"]
    # A broadcast due a second after it: once that one has run, the cancelled one's time has passed too.
    later = admin(
        local_stack,
        "POST",
        "/broadcasts",
        {"groupIds": later_groups, "msgBody": TEXT, "schedule": {"at": (at + timedelta(seconds=1)).isoformat()}},
    )
    assert later.status_code == 202, later.text
    assert len(schedules_naming(aws, job_id)) == 1
    assert admin(local_stack, "POST", f"/broadcasts/{job_id}/cancel").json()["state"] == "cancelled"
    assert schedules_naming(aws, job_id) == []

    wait_for(lambda: settled(local_stack, later.json()["jobId"]), timeout=60, what="the later broadcast to run")
    assert delivered(tim, later_groups) == dict.fromkeys(later_groups, 1)
    assert delivered(tim, groups) == {} and job(local_stack, job_id)["progress"]["total"] == 0


def test_broadcasts_are_listed_newest_first(local_stack, rest) -> None:
    groups = make_groups(rest, 1)
    ids = [
        admin(local_stack, "POST", "/broadcasts", {"groupIds": groups, "msgBody": TEXT}).json()["jobId"]
        for _ in range(2)
    ]
    listed = [j["jobId"] for j in admin(local_stack, "GET", "/broadcasts?limit=50").json()["jobs"]]
    assert listed.index(ids[1]) < listed.index(ids[0])


def test_an_idempotency_key_makes_one_broadcast(local_stack, rest) -> None:
    groups = make_groups(rest, 1)
    key = uuid.uuid4().hex
    body = {"groupIds": groups, "msgBody": TEXT}
    first = admin(local_stack, "POST", "/broadcasts", body, **{"Idempotency-Key": key})
    again = admin(local_stack, "POST", "/broadcasts", body, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202 and first.json()["jobId"] == again.json()["jobId"]
    other = admin(
        local_stack,
        "POST",
        "/broadcasts",
        {**body, "allGroups": False, "msgBody": TEXT * 2},
        **{"Idempotency-Key": key},
    )
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"


# ----------------------------------------------------------------------------- bot friends, robots, messages


def test_bot_friends_for_1000_users_then_the_same_again_changes_nothing(local_stack, tim, rest) -> None:
    users = [f"fan-{uuid.uuid4().hex[:6]}-{i:04d}" for i in range(1000)]
    for start in range(0, 1000, 100):
        rest.call("im_open_login_svc", "multiaccount_import", {"Accounts": users[start : start + 100]})
    bot = quote("@RBT#assistant", safe="")
    first = admin(local_stack, "POST", f"/bots/{bot}/friends", {"userIds": users})
    assert first.status_code == 200, first.text
    assert (first.json()["added"], first.json()["already"], first.json()["failed"]) == (1000, 0, 0)
    for user in users[:3] + users[-3:]:
        relation = rest.friend_check(user, ["@RBT#assistant"]).InfoItem[0].Relation
        assert relation == "CheckResult_Type_BothWay"

    changes_before = len(tim.calls(api="sns/friend_add"))
    again = admin(local_stack, "POST", f"/bots/{bot}/friends", {"userIds": users})
    assert (again.json()["added"], again.json()["already"]) == (0, 1000)
    assert len(tim.calls(api="sns/friend_add")) == changes_before  # only checks, no call that changes state


def test_robots_are_created_listed_and_deleted(local_stack) -> None:
    robot = f"@RBT#e2e{uuid.uuid4().hex[:6]}"
    assert admin(local_stack, "POST", "/robots", {"robotId": robot, "nick": "E2E"}).status_code == 201
    assert robot in admin(local_stack, "GET", "/robots").json()["robots"]
    assert admin(local_stack, "DELETE", f"/robots/{quote(robot, safe='')}").status_code == 204
    assert robot not in admin(local_stack, "GET", "/robots").json()["robots"]
    gone = admin(local_stack, "DELETE", f"/robots/{quote(robot, safe='')}")
    assert gone.status_code == 404 and robot in gone.json()["message"]


def test_messages_to_a_user_many_users_and_a_group(local_stack, tim) -> None:
    text = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"admin says {uuid.uuid4().hex[:6]}"}}]
    one = admin(local_stack, "POST", "/messages", {"toUser": "bob", "msgBody": text, "from": "@RBT#assistant"})
    assert one.status_code == 200 and one.json()["results"][0]["result"] == "sent"
    many = admin(
        local_stack,
        "POST",
        "/messages",
        {"toUsers": ["alice", "bob", "nobody-here"], "msgBody": text, "options": {"noUnread": True}},
    )
    assert [(r["recipient"], r["result"]) for r in many.json()["results"]] == [
        ("alice", "sent"),
        ("bob", "sent"),
        ("nobody-here", "failed"),
    ]
    group = admin(
        local_stack, "POST", "/messages", {"toGroup": "@TGS#demo", "msgBody": text, "options": {"priority": "High"}}
    )
    assert group.json()["results"][0]["msgSeq"] > 0
    content = text[0]["MsgContent"]["Text"]
    arrived = [m for m in tim.messages() if m["MsgBody"][0].get("MsgContent", {}).get("Text") == content]
    assert sorted(m.get("To_Account") or m.get("GroupId") for m in arrived) == ["@TGS#demo", "alice", "bob", "bob"]


# ----------------------------------------------------------------------------- bad input, the published contract


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field", "says"),
    [
        ("POST", "/messages", None, 422, "body", "required"),
        (
            "POST",
            "/messages",
            {"toUser": "bob", "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x" * 13 * 1024}}]},
            422,
            "body.msgBody",
            "12 KB",
        ),
        ("POST", "/robots", {"robotId": "assistant"}, 422, "body.robotId", "@RBT#"),
        ("DELETE", "/robots/assistant", None, 422, "path.robotId", "@RBT#"),
        (
            "POST",
            "/messages",
            {"toUsers": [f"u{i}" for i in range(5001)], "msgBody": TEXT},
            422,
            "body.toUsers",
            "5000",
        ),
        (
            "POST",
            "/broadcasts",
            {"groupIds": [f"g{i}" for i in range(5001)], "msgBody": TEXT},
            422,
            "body.groupIds",
            "5000",
        ),
        ("GET", "/broadcasts/no-such-job", None, 404, "jobId", "no-such-job"),
        ("POST", "/broadcasts/no-such-job/cancel", None, 404, "jobId", "no-such-job"),
        ("GET", "/broadcasts?nextToken=forged", None, 422, "query.nextToken", "nextToken"),
        ("GET", "/broadcasts?nextToken=Zm9yZ2Vk", None, 404, "nextToken", "nextToken"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(local_stack, method, path, body, status, field, says) -> None:
    answer = admin(local_stack, method, path, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field and says in answer.text


def test_the_openapi_document_and_swagger_ui_are_published(local_stack) -> None:
    document = admin(local_stack, "GET", "/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert {
        "/admin/broadcasts",
        "/admin/broadcasts/{jobId}",
        "/admin/messages",
        "/admin/robots",
        "/admin/robots/{robotId}",
        "/admin/bots/{botId}/friends",
    } <= set(paths)
    parameters = {p["name"] for p in paths["/admin/broadcasts"]["post"]["parameters"]}
    assert "idempotency-key" in parameters
    ui = admin(local_stack, "GET", "/swagger")
    assert ui.status_code == 200 and "swagger-ui" in ui.text.lower()
