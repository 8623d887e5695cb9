"""The broadcast services (admin, starter, worker) against moto in-process (the jobs and rate
tables with template.yaml's key schemas, an SQS queue, EventBridge Scheduler) and the Tencent IM
emulator in-process, the queue worked the way the broadcast worker function works it; then
AdminService against the emulator.

One fake clock is the time of everything: the service (claims, leases, the 5-minute dedupe
margin), its waits after a dropped message, the REST client (UserSig, retry backoff), the rate
limiter and the emulator (rate windows, per-group frequency control, Random dedupe). Nothing
sleeps: a wait moves the clock (the one real wait is the client's read timeout on a call the
emulator hangs). The emulator's record of its calls, stored messages and drops is what the
assertions count."""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from local.cfn_yaml import load_template
from local.tim_emulator import FakeClock, FaultRule, Identity, Seed, SeedGroup, Settings, TimEmulator
from tests.moto_env import offline_aws, template_table
from timkit.admin import FRIEND_BATCH, MAX_ROBOTS, AccountNotFound, AdminService, RobotLimitReached
from timkit.broadcast import (
    ALWAYS_DROPPED,
    C2C_DEDUPE_SAFE_MS,
    DEDUPE_SAFE_MS,
    DROP_RESENDS,
    MAX_RECEIVES,
    NO_ANSWER,
    OUTCOME_UNKNOWN,
    BroadcastAdmin,
    BroadcastStarter,
    BroadcastWorker,
    JobNotFound,
    ScheduleInPast,
    WorkBatch,
    retry_after,
)
from timkit.keys import KeySource
from timkit.models.admin import (
    ACCOUNT_NOT_FOUND,
    BotFriendsRequest,
    Broadcast,
    BroadcastRequest,
    MessageRequest,
    RobotCreateRequest,
)
from timkit.models.broadcast import PlanItem, SendItem, WorkItem
from timkit.ratelimit import RateLimiter
from timkit.stores.jobs import KEEP_RUNS, PLAN_PAGE, Job, JobStore
from timkit.stores.paging import InvalidToken
from timkit.stores.rates import RateBuckets
from timkit.stores.schedules import Schedules, WorkQueue
from timkit.tim.rest import RetryPolicy, TimRestClient

ROOT = Path(__file__).resolve().parents[2]
APP = 1400000001
KEY = "broadcast-test-key-0123456789abcdef"
ADMIN = "administrator"
T0 = 1_730_000_000.0  # 2024-10-27T03:33:20Z
JOBS = "timkit-jobs-test"
RATES = "timkit-rates-test"
SCHEDULE_GROUP = "default"
TARGET_ARN = "arn:aws:lambda:us-east-1:123456789012:function:broadcast-scheduler"
ROLE_ARN = "arn:aws:iam::123456789012:role/broadcast-scheduler"
SEND = "group_open_http_svc/send_group_msg"
LIST = "group_open_http_svc/get_appid_group_list"
BOT = "@RBT#assistant"
# A worker holds a claimed group until its invocation ends.
LEASE_S = 30.0
WORLD = Seed(accounts=("alice", "bob"), robots=(BOT,))


def text(value: str = "maintenance at 22:00") -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}]


class Died(BaseException):
    """The worker's invocation ended in the middle of an item (timed out, crashed): nothing after
    this point ran, not even an exception handler."""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    with offline_aws(monkeypatch):
        template_table("JobsTable", JOBS)
        template_table("RateTable", RATES)
        visibility = resources["BroadcastQueue"]["Properties"]["VisibilityTimeout"]
        yield boto3.client("sqs").create_queue(
            QueueName="broadcast-test", Attributes={"VisibilityTimeout": str(visibility)}
        )["QueueUrl"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[TimEmulator]:
    # Tencent's per-API limit is the rate limiter's business, tested on its own: out of the way here.
    settings = Settings(rate_limit_per_second=1_000_000, rate_limits={})
    with TimEmulator(Identity(APP, KEY, ADMIN), settings, port=0, clock=clock, seed=WORLD) as running:
        yield running


def make_client(
    emulator: TimEmulator,
    clock: FakeClock,
    pace: Callable[[str, dict[str, Any]], None] | None = None,
    read_timeout: float = 5.0,
    key: KeySource = KEY,
) -> TimRestClient:
    return TimRestClient(
        APP,
        key,
        ADMIN,
        base_url=emulator.url,
        timeout=(2.0, read_timeout),
        retry=RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.5),
        clock=clock.now,
        sleep=clock.advance,
        rng=random.Random(11),
        pace=pace,
    )


def make_groups(emulator: TimEmulator, count: int, prefix: str = "g") -> list[str]:
    groups = [f"{prefix}{i:03d}" for i in range(count)]
    emulator.service.apply_seed(Seed(groups=tuple(SeedGroup(g, g, "Public", "alice", ("alice",)) for g in groups)))
    return groups


class Harness:
    """The services as the functions wire them, and the broadcast worker's loop over the queue."""

    def __init__(self, queue_url: str, emulator: TimEmulator, clock: FakeClock) -> None:
        self.emulator = emulator
        self.clock = clock
        self.url = queue_url
        self.sqs = boto3.client("sqs")
        # A high budget: pacing is tested in tests/unit/test_ratelimit.py.
        self.limiter = RateLimiter(RateBuckets(RATES), 100_000, 40, clock=clock.now, sleep=clock.advance)
        self.rest = make_client(emulator, clock, pace=self.limiter.acquire)
        self.store = JobStore(JOBS)
        self.queue = WorkQueue(queue_url)
        self.admin = BroadcastAdmin(
            self.store, self.queue, Schedules(SCHEDULE_GROUP, TARGET_ARN, ROLE_ARN), clock=clock.now
        )
        self.starter = BroadcastStarter(self.store, self.queue, clock=clock.now)
        self.worker = BroadcastWorker(self.store, self.queue, lambda: self.rest, clock=clock.now, sleep=clock.advance)
        # What the plan step is told is left of its invocation.
        self.time_left = 100.0
        # How long an item handed back takes to come back: past a dead worker's lease.
        self.comeback_s = LEASE_S + 1
        self.handled: list[dict[str, Any]] = []

    def create(self, **request: Any) -> Broadcast:
        return self.admin.create(BroadcastRequest.model_validate({"msgBody": text(), **request}))

    def work(self, items: int | None = None) -> int:
        """Handles work items until the queue is empty (or ``items`` of them were handled). An item
        the worker reports failed, or that its worker died on, comes back ``comeback_s`` later."""
        handled = 0
        while items is None or handled < items:
            assert handled < 5000, "the queue does not drain"
            batch = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(10, items - handled if items else 10),
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            if not batch:
                break
            jobs: dict[str, Job] = {}  # read once per batch, as the worker does
            done = []
            for message in batch:
                item = json.loads(message["Body"])
                self.handled.append(item)
                handled += 1
                try:
                    settled = self._handle(
                        WorkQueue.parse(message["Body"]), int(message["Attributes"]["ApproximateReceiveCount"]), jobs
                    )
                except Died:
                    settled = False
                if settled:
                    done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
                else:
                    self.clock.advance(self.comeback_s)
                    self.sqs.change_message_visibility(
                        QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
            if done:
                self.sqs.delete_message_batch(QueueUrl=self.url, Entries=done)
        return handled

    def _handle(self, item: WorkItem, receives: int, jobs: dict[str, Job]) -> bool:
        if isinstance(item, PlanItem):
            self.worker.plan(item.job_id, item.cursor, lambda: self.time_left)
            return True
        if item.job_id not in jobs:
            job = self.store.get(item.job_id)
            assert job is not None
            jobs[item.job_id] = job
        return self.worker.send(jobs[item.job_id], item.group_id, receives, self.clock.now() + LEASE_S)

    def queued(self) -> list[dict[str, Any]]:
        """The items waiting in the queue (read, then made visible again)."""
        found = []
        while batch := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            found += [(json.loads(m["Body"]), m["ReceiptHandle"]) for m in batch]
        for _, handle in found:
            self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle, VisibilityTimeout=0)
        return [item for item, _ in found]

    # -------------------------------------------------------------- what Tencent saw

    def calls(self, api: str = SEND) -> list[dict[str, Any]]:
        return [c for c in self.emulator.service.read("calls") if c["api"] == api]

    def sends_to(self, group: str, sender: str = ADMIN) -> list[dict[str, Any]]:
        return [
            c
            for c in self.calls()
            if c["request"]["GroupId"] == group and c["request"].get("From_Account", ADMIN) == sender
        ]

    def delivered(self, sender: str = ADMIN) -> Counter[str]:
        """Messages stored per group from ``sender``."""
        return Counter(
            m["GroupId"]
            for m in self.emulator.service.read("messages")
            if m["kind"] == "group" and m["From_Account"] == sender
        )

    def drops(self, reason: str) -> list[dict[str, Any]]:
        return [d for d in self.emulator.service.read("dropped") if d["reason"] == reason]

    def all_groups(self, job_id: str) -> dict[str, Any]:
        found, token = {}, None
        while True:
            page = self.admin.view(job_id, limit=500, token=token)
            found.update({g.group_id: g for g in page.groups})
            if not (token := page.next_token):
                return found


@pytest.fixture
def h(queue_url: str, emulator: TimEmulator, clock: FakeClock) -> Harness:
    return Harness(queue_url, emulator, clock)


def progress(h: Harness, job_id: str) -> tuple[str, dict[str, Any]]:
    view = h.admin.view(job_id, limit=1)
    return view.state, view.progress.model_dump(by_alias=True)


def counts(
    total: int,
    sent: int = 0,
    failed: int = 0,
    cancelled: int = 0,
    pending: int = 0,
    codes: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "total": total,
        "sent": sent,
        "failed": failed,
        "pending": pending,
        "cancelled": cancelled,
        "failedCodes": codes or {},
    }


# ----------------------------------------------------------------------------- delivery


def test_explicit_groups_each_get_the_message_once_as_given(h: Harness) -> None:
    groups = make_groups(h.emulator, 2 * PLAN_PAGE + 3)
    body = [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"notice":1}'}}]
    job = h.create(msgBody=body, groupIds=groups, **{"from": BOT}, options={"priority": "High", "noUnread": True})
    assert (job.state, job.progress.total) == ("planning", 0)

    h.work()

    assert progress(h, job.job_id) == ("done", counts(len(groups), sent=len(groups)))
    assert h.delivered(BOT) == dict.fromkeys(groups, 1)
    messages = h.emulator.service.read("messages")
    # The body exactly as given (no defaults written out), with the options asked for.
    assert all(m["MsgBody"] == body and m["MsgPriority"] == "High" for m in messages)
    assert all(c["request"]["SendMsgControl"] == ["NoUnread"] for c in h.calls())
    recorded = h.all_groups(job.job_id)
    by_group = {m["GroupId"]: m for m in messages}
    for group in groups:
        result = recorded[group]
        assert (result.state, result.attempts, result.code) == ("sent", 1, None)
        assert result.msg_seq == by_group[group]["MsgSeq"]
    stored = {g: record.random for g in groups if (record := h.store.group(job.job_id, g))}
    assert {m["GroupId"]: m["Random"] for m in messages} == stored


def test_all_groups_are_listed_page_by_page_and_each_gets_one_message(h: Harness) -> None:
    groups = make_groups(h.emulator, 2 * PLAN_PAGE + 12)
    h.time_left = 0.0  # every page hands the rest over to a new plan item
    job = h.create(allGroups=True)

    h.work()

    assert progress(h, job.job_id) == ("done", counts(len(groups), sent=len(groups)))
    assert h.delivered() == dict.fromkeys(groups, 1)
    assert [c["request"]["Next"] for c in h.calls(LIST)] == [0, PLAN_PAGE, 2 * PLAN_PAGE]
    plans = [item["cursor"] for item in h.handled if item["kind"] == "plan"]
    assert plans == ["", str(PLAN_PAGE), str(2 * PLAN_PAGE)]


def test_planning_twice_and_replayed_records_and_counts_each_group_once(h: Harness) -> None:
    groups = make_groups(h.emulator, PLAN_PAGE + 10)
    job = h.create(groupIds=groups)
    # The plan item delivered again (the queue's at-least-once), before any send.
    h.worker.plan(job.job_id, "", lambda: 100.0)
    h.work()
    assert progress(h, job.job_id) == ("done", counts(len(groups), sent=len(groups)))
    assert h.delivered() == dict.fromkeys(groups, 1)
    sends = len(h.calls())
    assert sends == len(groups)

    # A plan item of the second page, replayed long after its page was recorded.
    h.worker.plan(job.job_id, str(PLAN_PAGE), lambda: 100.0)
    assert len(h.queued()) == len(groups) - PLAN_PAGE
    h.work()
    assert progress(h, job.job_id) == ("done", counts(len(groups), sent=len(groups)))
    assert len(h.calls()) == sends


def test_a_group_listed_twice_is_recorded_once(h: Harness) -> None:
    store = h.store
    store.create(Job(job_id="j", kind="once", created_at=1, message="{}", all_groups=True, status="started"), None)
    # Only the page at the job's cursor is taken: a page further on waits for the ones before it.
    assert not store.plan_page("j", "2", "", {"c": 4}, False)
    assert store.group("j", "c") is None
    assert store.plan_page("j", "", "2", {"a": 1, "b": 2}, False)
    # The listing moved between pages: "b" comes again on the next one.
    assert store.plan_page("j", "2", "", {"b": 3, "c": 4}, False)
    assert not store.plan_page("j", "2", "", {"b": 3, "c": 4}, False)
    job = store.get("j")
    assert job is not None and (job.total, job.planned) == (3, True)
    assert job.total - job.sent - job.failed - job.cancelled == 3  # all three pending
    b = store.group("j", "b")
    assert b is not None and b.random == 2


def test_a_repeated_send_item_does_not_deliver_twice(h: Harness) -> None:
    groups = make_groups(h.emulator, 3)
    job = h.create(groupIds=groups)
    h.work(items=1)  # the plan: three send items
    h.queue.send([WorkQueue.parse(json.dumps(item)) for item in h.queued()])  # every one delivered twice
    h.work()
    assert h.delivered() == dict.fromkeys(groups, 1)
    assert len(h.calls()) == 3
    assert progress(h, job.job_id) == ("done", counts(3, sent=3))


def test_a_group_held_by_a_live_worker_is_left_to_it(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    job = h.create(groupIds=[group])
    h.work(items=1)
    now_ms = int(h.clock.now() * 1000)
    assert h.store.claim(job.job_id, group, now_ms, now_ms + 10_000) is not None
    record = h.store.get(job.job_id)
    assert record is not None
    assert h.worker.send(record, group, 1, h.clock.now() + LEASE_S) is False
    assert h.calls() == []
    h.clock.advance(11)  # its holder's lease ran out: the holder died
    assert h.worker.send(record, group, 2, h.clock.now() + LEASE_S) is True
    assert h.delivered() == {group: 1}


class DiesOnRetry:
    """A pace hook: the first attempt goes out; the worker dies before its retry (the invocation
    timed out waiting for Tencent), once."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.attempts = 0

    def __call__(self, api: str, body: dict[str, Any]) -> None:
        self.attempts += 1
        if self.attempts == 2:
            raise Died()
        self.limiter.acquire(api, body)


@pytest.mark.parametrize(
    "fault",
    [
        FaultRule(api=SEND, error_share=1.0, codes=[502], fault_after_commit=1.0),
        FaultRule(api=SEND, hang_share=1.0, hang_seconds=2.0, fault_after_commit=1.0),
    ],
    ids=["error-after-commit", "hang-after-commit"],
)
def test_a_worker_dying_after_tencent_committed_resends_with_the_same_random(h: Harness, fault: FaultRule) -> None:
    (group,) = make_groups(h.emulator, 1)
    job = h.create(groupIds=[group])
    h.work(items=1)
    h.emulator.configure(faults=[fault])
    h.rest = make_client(h.emulator, h.clock, pace=DiesOnRetry(h.limiter), read_timeout=0.3)
    h.work(items=1)  # claimed, sent (stored by Tencent), no answer seen, died
    assert h.admin.view(job.job_id).groups[0].state == "sending"

    h.emulator.configure(faults=[])
    h.work()  # back after the lease: claimed again

    # Tencent stored the first attempt and took the resend for a repeat of it (same sender and
    # Random): one message. (A hung call is only logged once its hang ends: messages and drops
    # are the record here.)
    (message,) = h.emulator.service.read("messages")
    recorded = h.store.group(job.job_id, group)
    assert recorded is not None and (message["GroupId"], message["Random"]) == (group, recorded.random)
    (duplicate,) = h.drops("duplicate")
    assert duplicate["original_send_id"] == message["send_id"]
    assert {c["request"]["Random"] for c in h.sends_to(group)} == {message["Random"]}
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.attempts) == ("sent", 2)
    assert result.msg_seq == message["MsgSeq"]
    assert progress(h, job.job_id) == ("done", counts(1, sent=1))


def test_past_the_dedupe_margin_an_uncertain_group_fails_instead_of_resending(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    job = h.create(groupIds=[group])
    h.work(items=1)
    h.emulator.configure(faults=[FaultRule(api=SEND, error_share=1.0, codes=[502], fault_after_commit=1.0)])
    h.rest = make_client(h.emulator, h.clock, pace=DiesOnRetry(h.limiter))
    h.comeback_s = DEDUPE_SAFE_MS / 1000 + 1
    h.work()

    assert len(h.sends_to(group)) == 1  # no second attempt
    assert h.delivered() == {group: 1}  # (the first one did get through)
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.code) == ("failed", OUTCOME_UNKNOWN)
    assert progress(h, job.job_id) == ("done", counts(1, failed=1, codes={str(OUTCOME_UNKNOWN): 1}))


def test_transient_faults_are_retried_until_sent(h: Harness) -> None:
    groups = make_groups(h.emulator, 40)
    h.emulator.configure(
        fault_seed=7,
        faults=[FaultRule(api=SEND, error_share=0.6, codes=[10002, 60018, 502], fault_after_commit=0.5)],
    )
    job = h.create(groupIds=groups)
    h.work()

    assert progress(h, job.job_id) == ("done", counts(len(groups), sent=len(groups)))
    assert h.delivered() == dict.fromkeys(groups, 1)
    calls = h.calls()
    faults = [c["fault"] for c in calls if c["fault"]]
    # The run met what it is about: every kind of fault, some after Tencent had stored the message,
    # and groups whose every attempt in one delivery failed (sent on a later delivery).
    assert {f["code"] for f in faults} == {10002, 60018, 502}
    assert any(f["after_commit"] for f in faults)
    assert len([item for item in h.handled if item["kind"] == "send"]) > len(groups)
    for group in groups:
        assert len({c["request"]["Random"] for c in h.sends_to(group)}) == 1


def test_a_group_that_does_not_exist_fails_at_once_with_its_code(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    job = h.create(groupIds=[group, "nope"])
    h.work()

    assert len(h.sends_to("nope")) == 1
    result = h.all_groups(job.job_id)["nope"]
    assert (result.state, result.code, result.attempts) == ("failed", 10010, 1)
    assert result.info and "nope" in result.info
    assert h.delivered() == {group: 1}
    assert progress(h, job.job_id) == ("done", counts(2, sent=1, failed=1, codes={"10010": 1}))


def test_a_work_batch_plans_sends_hands_back_and_drops(h: Harness) -> None:
    groups = make_groups(h.emulator, 2)
    batch = WorkBatch(h.worker, lambda: h.time_left)

    def receive() -> list[tuple[WorkItem, str, int]]:
        messages = h.sqs.receive_message(
            QueueUrl=h.url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])
        return [
            (WorkQueue.parse(m["Body"]), m["ReceiptHandle"], int(m["Attributes"]["ApproximateReceiveCount"]))
            for m in messages
        ]

    job = h.create(groupIds=groups)
    ((plan, handle, receives),) = receive()
    assert isinstance(plan, PlanItem) and batch.handle(plan, receives, handle) == "done"
    (first, first_handle, _), (second, second_handle, _) = receive()
    assert batch.handle(first, 1, first_handle) == "settled"
    h.emulator.configure(faults=[FaultRule(api=SEND, error_share=1.0, codes=[502])])
    assert batch.handle(second, 1, second_handle) == "retry"
    h.emulator.configure(faults=[])
    assert isinstance(first, SendItem)
    sent = first.group_id
    # Handed back for retry_after(1) seconds, not the queue's whole visibility timeout.
    assert receive() == []
    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[h.url.rsplit("/", 1)[1]]
    (back,) = [m for m in queue._messages if m.had_receipt_handle(second_handle)]
    assert abs(back.visible_at / 1000 - time.time() - retry_after(1)) < 1
    # An item of a job that is gone is dropped.
    assert batch.handle(SendItem(job_id="gone", group_id=sent), 1, handle) == "done"
    assert progress(h, job.job_id)[1]["sent"] == 1


def test_a_refusal_without_a_tencent_code_fails_at_once(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    h.emulator.configure(faults=[FaultRule(api=SEND, error_share=1.0, codes=[403])])
    job = h.create(groupIds=[group])
    h.work()

    assert len(h.sends_to(group)) == 1  # a 4xx is not retried, and not handed back
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.code) == ("failed", NO_ANSWER)
    assert result.info and "HTTP 403" in result.info
    assert progress(h, job.job_id) == ("done", counts(1, failed=1, codes={str(NO_ANSWER): 1}))


def test_a_dropped_message_is_resent_as_a_new_one(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    # Two messages a second: Normal priority gets one of them (10% kept for High).
    h.emulator.configure(group_msg_per_second=2)
    job = h.create(groupIds=[group])
    h.work(items=1)
    make_client(h.emulator, h.clock).send_group(
        MessageRequest.model_validate({"msgBody": text("chatter"), "toGroup": group})
        .message()
        .group_request(group, "bob")
    )
    h.work()

    dropped = h.drops("MsgFreqCtrl")
    delivered = [m for m in h.emulator.service.read("messages") if m["From_Account"] == ADMIN]
    assert len(dropped) == 1 and len(delivered) == 1
    assert dropped[0]["Random"] != delivered[0]["Random"]
    record = h.store.group(job.job_id, group)
    assert record is not None and record.random == delivered[0]["Random"]
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.attempts, result.msg_seq) == ("sent", 1, delivered[0]["MsgSeq"])
    assert progress(h, job.job_id) == ("done", counts(1, sent=1))


class Chatter:
    """A pace hook: before every broadcast attempt another member's message fills the group's
    second, so the broadcast's is always the one over the limit."""

    def __init__(self, emulator: TimEmulator, clock: FakeClock) -> None:
        self.member = make_client(emulator, clock)

    def __call__(self, api: str, body: dict[str, Any]) -> None:
        if api == SEND:
            request = MessageRequest.model_validate({"msgBody": text("chatter"), "toGroup": body["GroupId"]})
            self.member.send_group(request.message().group_request(body["GroupId"], "bob"))


def test_a_group_whose_every_resend_is_dropped_fails_after_the_last_delivery(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    h.emulator.configure(group_msg_per_second=1)
    job = h.create(groupIds=[group])
    h.work(items=1)
    h.rest = make_client(h.emulator, h.clock, pace=Chatter(h.emulator, h.clock))
    h.work()

    randoms = [c["request"]["Random"] for c in h.sends_to(group)]
    assert len(randoms) == len(set(randoms)) == MAX_RECEIVES * DROP_RESENDS
    assert len(h.drops("MsgFreqCtrl")) == MAX_RECEIVES * DROP_RESENDS
    assert h.delivered() == {}
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.code) == ("failed", ALWAYS_DROPPED)
    assert progress(h, job.job_id) == ("done", counts(1, failed=1, codes={str(ALWAYS_DROPPED): 1}))


def test_a_group_still_failing_after_max_receives_is_settled_failed(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    h.emulator.configure(faults=[FaultRule(api=SEND, error_share=1.0, codes=[10002])])
    job = h.create(groupIds=[group])
    h.work()

    attempts = RetryPolicy().attempts
    assert len(h.sends_to(group)) == MAX_RECEIVES * attempts
    assert [item["kind"] for item in h.handled] == ["plan"] + ["send"] * MAX_RECEIVES
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.code, result.attempts) == ("failed", 10002, MAX_RECEIVES)
    assert progress(h, job.job_id) == ("done", counts(1, failed=1, codes={"10002": 1}))


def test_a_send_without_a_usable_key_waits_for_it_and_tencent_is_not_called(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    key = {"now": ""}
    h.rest = make_client(h.emulator, h.clock, pace=h.limiter.acquire, key=lambda: key["now"])
    job = h.create(groupIds=[group])
    h.work(items=2)  # the plan, and the send the missing key stops

    assert h.calls() == []
    (result,) = h.admin.view(job.job_id).groups
    # Handed back for a later attempt, not settled.
    assert progress(h, job.job_id)[1] == counts(1, pending=1)
    assert "secret_key in the TIM_SECRET_ID secret is not configured (it is empty)" in (result.info or "")
    key["now"] = KEY  # the operator sets it; the item comes back
    h.work()
    assert progress(h, job.job_id) == ("done", counts(1, sent=1))
    assert h.delivered() == {group: 1}


def test_a_send_whose_key_is_never_set_fails_naming_the_setting(h: Harness) -> None:
    (group,) = make_groups(h.emulator, 1)
    h.rest = make_client(h.emulator, h.clock, pace=h.limiter.acquire, key="REPLACE_ME")
    job = h.create(groupIds=[group])
    h.work()

    assert h.calls() == []
    assert [item["kind"] for item in h.handled] == ["plan"] + ["send"] * MAX_RECEIVES
    (result,) = h.admin.view(job.job_id).groups
    assert (result.state, result.code) == ("failed", NO_ANSWER)
    assert "secret_key in the TIM_SECRET_ID secret is not configured (it is a placeholder)" in (result.info or "")


# ----------------------------------------------------------------------------- cancel


def test_cancel_mid_way_cancels_the_pending_groups(h: Harness) -> None:
    groups = make_groups(h.emulator, 20)
    job = h.create(groupIds=groups)
    h.work(items=1 + 5)  # the plan, then five sends
    sent = set(h.delivered())
    assert len(sent) == 5

    cancelled = h.admin.cancel(job.job_id)
    assert cancelled.state == "cancelled"
    h.work()

    state, numbers = progress(h, job.job_id)
    assert (state, numbers) == ("cancelled", counts(20, sent=5, cancelled=15))
    assert numbers["sent"] + numbers["failed"] + numbers["cancelled"] == numbers["total"]
    assert set(h.delivered()) == sent and len(h.calls()) == 5
    results = h.all_groups(job.job_id)
    assert {g for g, r in results.items() if r.state == "cancelled"} == set(groups) - sent


def test_cancel_while_planning_records_the_rest_cancelled(h: Harness) -> None:
    groups = make_groups(h.emulator, 2 * PLAN_PAGE + 5)
    h.time_left = 0.0
    job = h.create(allGroups=True)
    h.work(items=1)  # the first page is planned
    h.admin.cancel(job.job_id)
    h.work()

    assert progress(h, job.job_id) == ("cancelled", counts(len(groups), cancelled=len(groups)))
    assert h.calls() == []


def test_cancel_of_an_unknown_broadcast(h: Harness) -> None:
    with pytest.raises(JobNotFound):
        h.admin.cancel("nope")
    with pytest.raises(JobNotFound):
        h.worker.plan("nope", "", lambda: 100.0)


# ----------------------------------------------------------------------------- view and list


def test_view_and_list_page_with_next_token(h: Harness) -> None:
    groups = make_groups(h.emulator, 5)
    jobs = []
    for _ in range(3):
        jobs.append(h.create(groupIds=groups).job_id)
        h.clock.advance(1)
    h.work()

    first = h.admin.list(limit=2)
    assert [j.job_id for j in first.jobs] == jobs[:0:-1] and first.next_token
    second = h.admin.list(limit=2, token=first.next_token)
    assert [j.job_id for j in second.jobs] == [jobs[0]] and second.next_token is None
    assert all(j.state == "done" for j in first.jobs + second.jobs)

    seen, token, pages = [], None, 0
    while True:
        page = h.admin.view(jobs[0], limit=2, token=token)
        seen += [g.group_id for g in page.groups]
        pages += 1
        if not (token := page.next_token):
            break
    assert seen == groups and pages == 3


def test_a_bad_next_token_is_invalid(h: Harness) -> None:
    groups = make_groups(h.emulator, 3)
    one, two = h.create(groupIds=groups).job_id, h.create(groupIds=groups).job_id
    h.work()
    list_token = h.admin.list(limit=1).next_token
    other_job = h.admin.view(two, limit=1).next_token
    assert list_token and other_job

    def b64(key: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()

    bad = [
        "not a token",
        "e30=",
        b64([1]),
        b64({"pk": {"N": "1"}, "sk": {"S": "G#g000"}}),
        b64({"pk": {"S": f"JOB#{one}"}, "sk": {"S": "JOB"}}),
        list_token,
        other_job,
    ]
    for token in bad:
        with pytest.raises(InvalidToken):
            h.admin.view(one, limit=1, token=token)
    for token in [other_job, b64({"x": {"S": "1"}})]:
        with pytest.raises(InvalidToken):
            h.admin.list(limit=1, token=token)
    with pytest.raises(JobNotFound):
        h.admin.view("nope")


# ----------------------------------------------------------------------------- schedules


def schedule_of(name: str) -> dict[str, Any]:
    return boto3.client("scheduler").get_schedule(Name=name, GroupName=SCHEDULE_GROUP)


def test_a_cron_broadcast_runs_once_per_firing(h: Harness) -> None:
    groups = make_groups(h.emulator, 3)
    job = h.create(groupIds=groups, schedule={"cron": "cron(0 10 * * ? *)", "timezone": "Asia/Shanghai"})
    assert job.state == "scheduled"
    assert job.next_run == datetime(2024, 10, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    schedule = schedule_of(f"broadcast-{job.job_id}")
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 10 * * ? *)",
        "Asia/Shanghai",
    )
    assert json.loads(schedule["Target"]["Input"])["jobId"] == job.job_id
    assert h.queued() == []

    first = datetime(2024, 10, 28, 2, 0, tzinfo=UTC)
    run = h.starter.start(job.job_id, first)
    assert h.starter.start(job.job_id, first) == run  # the same firing delivered again
    h.work()
    assert h.delivered() == dict.fromkeys(groups, 1)
    assert run is not None and progress(h, run) == ("done", counts(3, sent=3))
    assert h.admin.view(run).parent_id == job.job_id

    later = h.starter.start(job.job_id, first + timedelta(days=1))
    h.work()
    assert later not in (None, run)
    assert h.delivered() == dict.fromkeys(groups, 2)
    parent = h.admin.view(job.job_id)
    assert (parent.state, parent.runs) == ("scheduled", [later, run])

    h.admin.cancel(job.job_id)
    with pytest.raises(ClientError) as gone:
        schedule_of(f"broadcast-{job.job_id}")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert h.starter.start(job.job_id, first + timedelta(days=2)) is None
    assert h.queued() == []


def test_a_cron_broadcast_keeps_only_its_newest_runs(h: Harness) -> None:
    job = h.create(groupIds=make_groups(h.emulator, 1), schedule={"cron": "cron(0 10 * * ? *)"})
    runs = [f"{job.job_id}-run{i:03d}" for i in range(KEEP_RUNS + 3)]
    for run in runs:
        h.store.add_run(job.job_id, run)
    record = h.store.get(job.job_id)
    assert record is not None and record.runs == runs[3:]


def test_a_one_off_broadcast_started_twice_plans_once(h: Harness) -> None:
    groups = make_groups(h.emulator, 5)
    at = datetime.fromtimestamp(T0 + 3600, UTC)
    job = h.create(groupIds=groups, schedule={"at": at.isoformat()})
    schedule = schedule_of(f"broadcast-{job.job_id}")
    assert schedule["ScheduleExpression"] == f"at({at:%Y-%m-%dT%H:%M:%S})"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert job.next_run == at

    assert h.starter.start(job.job_id, at) == job.job_id
    assert h.starter.start(job.job_id, at) == job.job_id
    h.work()
    assert h.delivered() == dict.fromkeys(groups, 1)
    assert progress(h, job.job_id) == ("done", counts(len(groups), sent=len(groups)))


def test_an_at_in_the_past_is_refused_and_nothing_is_kept(h: Harness) -> None:
    # 11:00 in Shanghai is 03:00Z, half an hour before the clock's 03:33Z (as UTC it would be ahead).
    with pytest.raises(ScheduleInPast):
        h.create(groupIds=["g"], schedule={"at": "2024-10-27T11:00:00", "timezone": "Asia/Shanghai"})
    with pytest.raises(ScheduleInPast):
        h.create(allGroups=True, schedule={"at": datetime.fromtimestamp(T0 - 1, UTC).isoformat()})
    with pytest.raises(ScheduleInPast) as info:
        h.create(allGroups=True, schedule={"cron": "cron(0 10 * * ? 2020-2023)"})
    assert info.value.field == "schedule.cron"
    assert h.admin.list().jobs == []
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


# ----------------------------------------------------------------------------- AdminService


@pytest.fixture
def admin(emulator: TimEmulator, clock: FakeClock) -> AdminService:
    return AdminService(make_client(emulator, clock))


def calls(emulator: TimEmulator, api: str) -> list[dict[str, Any]]:
    return [c for c in emulator.service.read("calls") if c["api"] == api]


def test_bot_friends_in_batches_then_already_without_adding(admin: AdminService, emulator: TimEmulator) -> None:
    users = [f"u{i:03d}" for i in range(2 * FRIEND_BATCH + 50)]
    emulator.service.apply_seed(Seed(accounts=tuple(users)))

    first = admin.bot_friends(BOT, users)
    assert (first.added, first.already, first.failed) == (len(users), 0, 0)
    assert [r.user_id for r in first.results] == users
    adds = calls(emulator, "sns/friend_add")
    assert [len(c["request"]["AddFriendItem"]) for c in adds] == [FRIEND_BATCH, FRIEND_BATCH, 50]
    friendships = {(f["From_Account"], f["To_Account"]) for f in emulator.service.state()["friendships"]}
    assert all((BOT, u) in friendships and (u, BOT) in friendships for u in users)

    again = admin.bot_friends(BOT, users)
    assert (again.added, again.already, again.failed) == (0, len(users), 0)
    assert len(calls(emulator, "sns/friend_add")) == len(adds)


def test_bot_friends_mixed_and_an_unknown_bot(admin: AdminService, emulator: TimEmulator) -> None:
    admin.bot_friends(BOT, ["alice"])
    answer = admin.bot_friends(BOT, ["alice", "bob", "ghost"])
    assert [(r.user_id, r.result, r.code) for r in answer.results] == [
        ("alice", "already", 0),
        ("bob", "added", 0),
        ("ghost", "failed", 30003),
    ]
    with pytest.raises(AccountNotFound) as missing:
        admin.bot_friends("@RBT#nobody", ["alice"])
    assert missing.value.account == "@RBT#nobody"


def test_robots_create_list_delete(admin: AdminService) -> None:
    admin.create_robot(RobotCreateRequest.model_validate({"robotId": "@RBT#helper", "nick": "Helper"}))
    assert set(admin.robots()) == {BOT, "@RBT#helper"}
    admin.delete_robot("@RBT#helper")
    assert admin.robots() == [BOT]
    with pytest.raises(AccountNotFound):
        admin.delete_robot("@RBT#helper")


def test_a_robot_past_tencents_limit_is_refused_as_the_limit(admin: AdminService) -> None:
    def create(robot: str) -> None:
        admin.create_robot(RobotCreateRequest.model_validate({"robotId": robot}))

    for n in range(MAX_ROBOTS - 1):  # the world has one robot already
        create(f"@RBT#r{n}")
    with pytest.raises(RobotLimitReached):
        create("@RBT#one-too-many")
    create("@RBT#r0")  # re-creating one that exists is no new robot
    admin.delete_robot("@RBT#r0")
    create("@RBT#one-too-many")
    assert len(admin.robots()) == MAX_ROBOTS


def test_send_to_one_user_and_to_a_group(admin: AdminService, emulator: TimEmulator) -> None:
    (group,) = make_groups(emulator, 1)
    to_user = admin.send(MessageRequest.model_validate({"msgBody": text("hi"), "toUser": "alice", "from": BOT}))
    assert (to_user.sent, to_user.failed) == (1, 0)
    (result,) = to_user.results
    stored = emulator.service.read("messages")[-1]
    assert (result.recipient, result.result, result.msg_key) == ("alice", "sent", stored["MsgKey"])
    assert (stored["From_Account"], stored["To_Account"]) == (BOT, "alice")

    to_group = admin.send(MessageRequest.model_validate({"msgBody": text("hi"), "toGroup": group}))
    assert [(r.recipient, r.result, r.msg_seq) for r in to_group.results] == [(group, "sent", 1)]
    missing = admin.send(MessageRequest.model_validate({"msgBody": text("hi"), "toGroup": "nope"}))
    assert [(r.result, r.code) for r in missing.results] == [("failed", 10010)]


def test_send_to_600_users_in_two_batches(admin: AdminService, emulator: TimEmulator) -> None:
    users = [f"u{i:03d}" for i in range(599)]
    emulator.service.apply_seed(Seed(accounts=tuple(users)))
    recipients = [*users[:300], "ghost", *users[300:]]
    body = [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "x"}}]
    answer = admin.send(MessageRequest.model_validate({"msgBody": body, "toUsers": recipients}))

    batches = calls(emulator, "openim/batchsendmsg")
    assert [len(c["request"]["To_Account"]) for c in batches] == [500, 100]
    assert all(c["request"]["MsgBody"] == body for c in batches)
    assert (answer.sent, answer.failed) == (599, 1)
    assert [r.recipient for r in answer.results] == recipients
    assert [(r.result, r.code) for r in answer.results if r.recipient == "ghost"] == [("failed", 70107)]
    delivered = Counter(m["To_Account"] for m in emulator.service.read("messages"))
    assert delivered == dict.fromkeys(users, 1)


def test_a_batch_that_gets_no_answer_fails_alone(admin: AdminService, emulator: TimEmulator) -> None:
    users = [f"v{i:03d}" for i in range(600)]
    emulator.service.apply_seed(Seed(accounts=tuple(users)))
    calls_before = len(calls(emulator, "openim/batchsendmsg"))
    # The second batch call (and the client's retries of it) hang up with HTTP 502.
    original = admin.rest.batch_send_c2c

    def second_fails(request: Any) -> Any:
        if len(calls(emulator, "openim/batchsendmsg")) > calls_before:
            emulator.configure(faults=[FaultRule(api="openim/batchsendmsg", error_share=1.0, codes=[502])])
        return original(request)

    admin.rest.batch_send_c2c = second_fails
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]
    answer = admin.send(MessageRequest.model_validate({"msgBody": body, "toUsers": users}))
    assert (answer.sent, answer.failed) == (500, 100)
    assert {(r.result, r.code) for r in answer.results[500:]} == {("failed", NO_ANSWER)}


# ----------------------------------------------------------------------------- scheduled messages and friends

SENDMSG = "openim/sendmsg"


def schedule_message(h: Harness, **request: Any) -> Broadcast:
    return h.admin.schedule_message(MessageRequest.model_validate({"msgBody": text(), **request}))


def test_a_scheduled_message_sends_once_at_its_time_however_often_it_fires(h: Harness) -> None:
    job = schedule_message(h, toUser="bob", schedule={"at": "2024-10-28T09:00:00+08:00"})
    assert (job.kind, job.state, job.next_run) == ("message", "scheduled", datetime(2024, 10, 28, 1, 0, tzinfo=UTC))
    assert schedule_of(f"broadcast-{job.job_id}")["ScheduleExpression"] == "at(2024-10-28T01:00:00)"
    assert h.calls(SENDMSG) == [] and h.queued() == []

    fired = datetime(2024, 10, 28, 1, 0, tzinfo=UTC)
    assert h.starter.start(job.job_id, fired) == job.job_id
    assert h.starter.start(job.job_id, fired) == job.job_id  # Scheduler delivered the firing twice
    h.work()
    (sent,) = h.calls(SENDMSG)
    assert sent["request"]["To_Account"] == "bob"
    view = h.admin.view(job.job_id)
    assert (view.kind, view.state, view.groups) == ("message", "done", [])
    assert view.result is not None and (view.result.sent, view.result.failed) == (1, 0)
    (result,) = view.result.results
    assert (result.recipient, result.result) == ("bob", "sent") and result.msg_key


def test_a_message_jobs_work_item_delivered_twice_sends_once(h: Harness) -> None:
    job = schedule_message(h, toUsers=["alice", "bob"], schedule={"at": "2024-10-28T01:00:00"})
    h.starter.start(job.job_id, datetime(2024, 10, 28, 1, 0, tzinfo=UTC))
    h.work()
    h.queue.send([SendItem(job_id=job.job_id, group_id="run")])
    h.work()
    assert len(h.calls("openim/batchsendmsg")) == 1
    assert h.admin.view(job.job_id).progress.sent == 1


def test_a_cancelled_message_job_never_sends(h: Harness) -> None:
    job = schedule_message(h, toUser="bob", schedule={"cron": "cron(0 10 * * ? *)"})
    cancelled = h.admin.cancel(job.job_id)
    assert (cancelled.kind, cancelled.state) == ("message", "cancelled")
    assert h.starter.start(job.job_id, datetime(2024, 10, 28, 10, 0, tzinfo=UTC)) is None
    h.work()
    assert h.calls(SENDMSG) == []


def test_a_cron_friends_job_runs_once_per_firing(h: Harness) -> None:
    request = BotFriendsRequest.model_validate(
        {"userIds": ["alice", "bob"], "schedule": {"cron": "cron(0 10 * * ? *)"}}
    )
    job = h.admin.schedule_friends(BOT, request)
    assert (job.kind, job.state) == ("friends", "scheduled")
    first = datetime(2024, 10, 28, 10, 0, tzinfo=UTC)
    run = h.starter.start(job.job_id, first)
    assert h.starter.start(job.job_id, first) == run
    h.work()
    assert run is not None
    view = h.admin.view(run)
    assert (view.kind, view.state, view.parent_id) == ("friends", "done", job.job_id)
    assert view.result is not None and (view.result.added, view.result.already) == (2, 0)
    assert len(h.calls("sns/friend_add")) == 1

    later = h.starter.start(job.job_id, first + timedelta(days=1))
    h.work()
    assert later is not None
    again = h.admin.view(later).result
    assert again is not None and (again.added, again.already) == (0, 2)
    assert h.admin.view(job.job_id).runs == [later, run]
    assert {j.kind for j in h.admin.list().jobs} == {"friends"}


def test_a_friends_job_for_a_bot_that_is_gone_fails_naming_it(h: Harness) -> None:
    request = BotFriendsRequest.model_validate({"userIds": ["alice"], "schedule": {"at": "2024-10-28T01:00:00"}})
    job = h.admin.schedule_friends("@RBT#gone", request)
    h.starter.start(job.job_id, datetime(2024, 10, 28, 1, 0, tzinfo=UTC))
    h.work()
    view = h.admin.view(job.job_id)
    assert (view.state, view.progress.failed, view.progress.failed_codes) == ("done", 1, {str(ACCOUNT_NOT_FOUND): 1})
    assert view.result is None


def test_a_message_job_in_the_past_is_refused_naming_the_field(h: Harness) -> None:
    with pytest.raises(ScheduleInPast) as refused:
        schedule_message(h, toUser="bob", schedule={"at": "2020-01-01T00:00:00"})
    assert refused.value.field == "schedule.at"


def test_a_scheduled_one_to_one_send_is_resent_as_the_same_message_then_given_up(h: Harness) -> None:
    job = schedule_message(h, toUser="bob", schedule={"at": "2024-10-28T01:00:00"})
    h.starter.start(job.job_id, datetime(2024, 10, 28, 1, 0, tzinfo=UTC))
    h.work(items=1)  # planned
    # Tencent stores it but the answer is lost, and the worker dies before its own retry: the item
    # comes back after the lease, inside the one-to-one de-duplication window (docs/protocol.md §5.10).
    h.emulator.configure(faults=[FaultRule(api=SENDMSG, error_share=1.0, codes=[502], fault_after_commit=1.0)])
    h.rest = make_client(h.emulator, h.clock, pace=DiesOnRetry(h.limiter))
    h.work(items=1)
    h.emulator.configure(faults=[])
    h.work()
    first, resend = h.calls(SENDMSG)
    assert (resend["request"]["MsgSeq"], resend["request"]["MsgRandom"]) == (
        first["request"]["MsgSeq"],
        first["request"]["MsgRandom"],
    )
    assert h.admin.view(job.job_id).state == "done"

    # Past the window an uncertain send is not resent: it fails, saying why.
    late = schedule_message(h, toUser="bob", schedule={"at": "2024-10-28T01:00:00"})
    h.starter.start(late.job_id, datetime(2024, 10, 28, 1, 0, tzinfo=UTC))
    h.work(items=1)
    h.emulator.configure(faults=[FaultRule(api=SENDMSG, error_share=1.0, codes=[502], fault_after_commit=1.0)])
    h.rest = make_client(h.emulator, h.clock, pace=DiesOnRetry(h.limiter))
    h.comeback_s = C2C_DEDUPE_SAFE_MS / 1000 + 1
    sends = len(h.calls(SENDMSG))
    h.work()
    assert len(h.calls(SENDMSG)) == sends + 1  # the first attempt only
    view = h.admin.view(late.job_id)
    assert (view.state, view.progress.failed_codes) == ("done", {str(OUTCOME_UNKNOWN): 1})
    assert C2C_DEDUPE_SAFE_MS < DEDUPE_SAFE_MS  # a group message's window is longer


def test_a_friends_job_is_retried_whenever_it_comes_back(h: Harness) -> None:
    request = BotFriendsRequest.model_validate({"userIds": ["alice"], "schedule": {"at": "2024-10-28T01:00:00"}})
    job = h.admin.schedule_friends(BOT, request)
    h.starter.start(job.job_id, datetime(2024, 10, 28, 1, 0, tzinfo=UTC))
    h.work(items=1)
    h.emulator.configure(faults=[FaultRule(api="sns/friend_add", error_share=1.0, codes=[502], fault_after_commit=1.0)])
    h.rest = make_client(h.emulator, h.clock, pace=DiesOnRetry(h.limiter))
    h.comeback_s = DEDUPE_SAFE_MS / 1000 + 1  # long after: adding friends again is harmless
    h.work(items=1)
    h.emulator.configure(faults=[])
    h.work()
    view = h.admin.view(job.job_id)
    assert view.state == "done" and view.result is not None
    assert (view.result.added + view.result.already, view.result.failed) == (1, 0)


def test_a_broadcast_carries_the_sdk_options_to_every_group(h: Harness) -> None:
    groups = make_groups(h.emulator, 3)
    push = {"Desc": "notice", "ApnsInfo": {"BadgeMode": 1}, "AndroidInfo": {"OPPOChannelID": "im"}}
    options = {
        "receiverList": ["alice"],
        "needReadReceipt": True,
        "supportExtension": True,
        "excludedFromContentModeration": True,
        "offlinePush": push,
    }
    job = h.create(groupIds=groups, options=options)
    h.work()
    assert progress(h, job.job_id) == ("done", counts(3, sent=3))
    for call in h.calls():
        request = call["request"]
        assert (request["To_Account"], request["NeedReadReceipt"], request["SupportMessageExtension"]) == (
            ["alice"],
            1,
            1,
        )
        assert (request["SendMsgControl"], request["OfflinePushInfo"]) == (["NoMsgCheck"], push)
