"""Scheduled admin jobs end to end: POST /admin/messages and /admin/bots/{botId}/friends with a schedule,
fired by the local stack's schedule ticker into the scheduler function, run by the broadcast workers, and
shown by /admin/jobs; what Tencent received is the emulator's record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from local.tim_emulator.control import EmulatorControl
from tests.e2e.test_admin import admin, schedules_naming
from tests.e2e.test_callback import wait_for
from timkit.tim.rest import TimRestClient

SENDMSG = "openim/sendmsg"
BOT = "@RBT#assistant"


def text(tag: str) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"scheduled {tag}"}}]


def sends_of(tim: EmulatorControl, tag: str) -> list[dict[str, Any]]:
    wanted = f"scheduled {tag}"
    return [c for c in tim.calls(api=SENDMSG) if c["request"]["MsgBody"][0]["MsgContent"].get("Text") == wanted]


def ran(stack: dict, job_id: str) -> dict[str, Any] | None:
    found = admin(stack, "GET", f"/jobs/{job_id}").json()
    return found if found["state"] in ("done", "cancelled") else None


def soon(seconds: int) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


def test_a_scheduled_one_to_one_send_runs_at_its_time_once(local_stack, tim: EmulatorControl) -> None:
    tag, at = uuid.uuid4().hex[:8], soon(3)
    body = {
        "toUser": "bob",
        "msgBody": text(tag),
        "options": {"needReadReceipt": True},
        "schedule": {"at": at.isoformat()},
    }
    created = admin(local_stack, "POST", "/messages", body)
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["kind"], job["state"]) == ("message", "scheduled")
    assert sends_of(tim, tag) == []

    final = wait_for(lambda: ran(local_stack, job["jobId"]), timeout=60, what="the scheduled send to run")
    assert final["state"] == "done"
    assert [(r["recipient"], r["result"]) for r in final["result"]["results"]] == [("bob", "sent")]
    (sent,) = sends_of(tim, tag)
    assert sent["time"] >= at.timestamp() and sent["request"]["IsNeedReadReceipt"] == 1
    listed = admin(local_stack, "GET", "/jobs").json()["jobs"]
    assert {"jobId": job["jobId"], "kind": "message", "state": "done"}.items() <= next(
        j for j in listed if j["jobId"] == job["jobId"]
    ).items()


def test_a_cron_friends_job_fires_and_shows_its_run(local_stack, tim: EmulatorControl, rest: TimRestClient) -> None:
    users = [f"sched-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    rest.call("im_open_login_svc", "multiaccount_import", {"Accounts": users})
    schedule = {"cron": "cron(* * * * ? *)"}  # every minute: the first run within a minute
    created = admin(
        local_stack, "POST", f"/bots/{quote(BOT, safe='')}/friends", {"userIds": users, "schedule": schedule}
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["jobId"]

    def first_run() -> str | None:
        runs = admin(local_stack, "GET", f"/jobs/{job_id}").json()["runs"]
        return runs[-1] if runs and ran(local_stack, runs[-1]) else None

    run = wait_for(first_run, timeout=90, what="the friends job's first run")
    shown = admin(local_stack, "GET", f"/jobs/{run}").json()
    assert (shown["kind"], shown["state"], shown["parentId"]) == ("friends", "done", job_id)
    assert (shown["result"]["added"], shown["result"]["failed"]) == (2, 0)
    cancelled = admin(local_stack, "POST", f"/jobs/{job_id}/cancel").json()
    assert (cancelled["kind"], cancelled["state"]) == ("friends", "cancelled") and run in cancelled["runs"]
    for user in users:
        assert rest.friend_check(user, [BOT]).InfoItem[0].Relation == "CheckResult_Type_BothWay"


def test_a_cancelled_scheduled_send_never_fires(local_stack, aws, tim: EmulatorControl) -> None:
    tag, marker, at = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8], soon(3)
    job_id = admin(
        local_stack, "POST", "/messages", {"toUser": "bob", "msgBody": text(tag), "schedule": {"at": at.isoformat()}}
    ).json()["jobId"]
    # Due a second later: once it has run, the cancelled one's time has passed too.
    later = admin(
        local_stack,
        "POST",
        "/messages",
        {"toUser": "bob", "msgBody": text(marker), "schedule": {"at": (at + timedelta(seconds=1)).isoformat()}},
    ).json()["jobId"]
    assert len(schedules_naming(aws, job_id)) == 1
    assert admin(local_stack, "POST", f"/jobs/{job_id}/cancel").json()["state"] == "cancelled"
    assert schedules_naming(aws, job_id) == []

    wait_for(lambda: ran(local_stack, later), timeout=60, what="the later send to run")
    assert len(sends_of(tim, marker)) == 1
    assert sends_of(tim, tag) == []
    shown = admin(local_stack, "GET", f"/jobs/{job_id}").json()
    assert (shown["state"], shown.get("result"), shown["progress"]["sent"]) == ("cancelled", None, 0)
