"""Group broadcasts: one message to many groups, under Tencent's rate limits, exactly once each; and
the scheduled admin jobs that share their machinery (a message send, bot friends).

A job is recorded, then planned page by page (its groups recorded with the Random each keeps for
all its attempts, and queued as one work item per group), then sent by workers. Planning and
sending are both safe to repeat: a page is recorded once (the job's cursor moves by condition),
and a group is sent under a claim that only a pending group, or one whose last holder's lease ran
out, can give. A resend keeps the Random, so Tencent drops it as a repeat if the earlier attempt
got through (docs/protocol.md §6.4) — but only for 5 minutes, so past that an uncertain group is failed
rather than risk a second delivery.

A scheduled message or friends job is a job of the same records with one target, RUN_TARGET: planned,
claimed and finished as a group is, so a schedule that fires twice (or a work item delivered twice)
runs it once; its outcome is the send's answer, kept on the target.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools import Logger

from timkit.admin import AccountNotFound, AdminService
from timkit.models.admin import (
    ACCOUNT_NOT_FOUND,
    ALWAYS_DROPPED,
    NO_ANSWER,
    OUTCOME_UNKNOWN,
    BotFriendsRequest,
    BotFriendsResponse,
    Broadcast,
    BroadcastList,
    BroadcastRequest,
    BroadcastSummary,
    GroupResult,
    JobKind,
    JobState,
    MessageRequest,
    MessageResponse,
    Outgoing,
    Progress,
    Schedule,
    ScheduledFriends,
)
from timkit.models.broadcast import PlanItem, SendItem, WorkItem
from timkit.models.messages import new_random
from timkit.stores.jobs import PLAN_PAGE, Job, JobGroup, JobStore
from timkit.stores.schedules import Schedules, WorkQueue
from timkit.tim.errors import MessageDropped, TimError
from timkit.tim.rest import TimRestClient

logger = Logger(child=True)

# Tencent drops a repeated Random for 5 minutes; resends stop well before that.
DEDUPE_SAFE_MS = 270_000
# A one-to-one message is a repeat for 120 s (sender, MsgSeq, MsgRandom and body: docs/protocol.md §5.10).
C2C_DEDUPE_SAFE_MS = 100_000
# A message dropped by the per-group frequency limit is resent as a new one, a second later.
DROP_RESENDS = 3
# Work items come back from the queue this many times before a group is given up as failed (the
# queue's redrive to its dead-letter queue is set one higher, for items that crash every time).
MAX_RECEIVES = 4
# Seconds until a handed-back work item comes again, by how often it came already: all its
# deliveries fall well inside Tencent's 5-minute window for dropping a repeated Random.
RETRY_AFTER_S = (5, 15, 30)
# Planning stops to hand over to a new work item when less than this is left of an invocation.
PLAN_RESERVE_S = 5.0
RUN_LIMIT_SHOWN = 20
# The one target of a message or friends job (a job's targets are its groups for a broadcast).
RUN_TARGET = "run"


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no broadcast {job_id}")
        self.job_id = job_id


class ScheduleInPast(ValueError):
    """A schedule that never runs again; ``field`` names its at or cron."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class BroadcastAdmin:
    """The admin API's side: jobs created (now, at a time or on a cron schedule), cancelled, viewed."""

    store: JobStore
    queue: WorkQueue
    schedules: Schedules
    clock: Callable[[], float] = time.time

    def create(self, request: BroadcastRequest) -> Broadcast:
        message = _outgoing(request).model_dump_json(by_alias=True, exclude_unset=True)
        return self._create("broadcast", message, request.schedule, request.all_groups, request.group_ids)

    def schedule_message(self, request: MessageRequest) -> Broadcast:
        """A send of POST /admin/messages, at its schedule's time(s)."""
        assert request.schedule is not None
        message = request.model_dump_json(by_alias=True, exclude_unset=True, exclude={"schedule"})
        return self._create("message", message, request.schedule, False, [RUN_TARGET])

    def schedule_friends(self, bot_id: str, request: BotFriendsRequest) -> Broadcast:
        """POST /admin/bots/{botId}/friends, at its schedule's time(s)."""
        assert request.schedule is not None
        friends = ScheduledFriends(bot_id=bot_id, user_ids=request.user_ids)
        return self._create("friends", friends.model_dump_json(by_alias=True), request.schedule, False, [RUN_TARGET])

    def _create(
        self, job_kind: JobKind, message: str, schedule: Schedule | None, all_groups: bool, targets: list[str] | None
    ) -> Broadcast:
        now = self.clock()
        # Judged as Scheduler will run it.
        if schedule is not None and schedule.next_run(datetime.fromtimestamp(now, UTC)) is None:
            if schedule.at is not None:
                raise ScheduleInPast("schedule.at", "schedule.at is in the past")
            raise ScheduleInPast("schedule.cron", "schedule.cron never fires again: its years are past")
        job_id = secrets.token_hex(10)
        job = Job(
            job_id=job_id,
            kind="once" if schedule is None or schedule.at is not None else "recurring",
            job_kind=job_kind,
            created_at=_ms(now),
            message=message,
            all_groups=all_groups,
            status="started" if schedule is None else "scheduled",
            schedule=None if schedule is None else schedule.model_dump_json(by_alias=True, exclude_none=True),
            # One name scheme for every kind of job: the schedules made before keep theirs.
            schedule_name=None if schedule is None else f"broadcast-{job_id}",
        )
        self.store.create(job, targets)
        try:
            if schedule is None:
                self.queue.send([PlanItem(job_id=job_id)])
            else:
                self.schedules.create(f"broadcast-{job_id}", schedule.expression(), schedule.timezone, job_id)
        except Exception:
            # Never left looking as if it will run.
            self.store.cancel(job_id, _ms(self.clock()))
            raise
        return self.view(job_id)

    def cancel(self, job_id: str) -> Broadcast:
        job = self.store.cancel(job_id, _ms(self.clock()))
        if job is None:
            raise JobNotFound(job_id)
        if job.schedule_name:
            self.schedules.delete(job.schedule_name)
        for run in job.runs[-RUN_LIMIT_SHOWN:]:
            self.store.cancel(run, _ms(self.clock()))
        return self.view(job_id)

    def view(self, job_id: str, limit: int = 100, token: str | None = None) -> Broadcast:
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        summary = self._summary(job).model_dump()
        runs = list(reversed(job.runs))[:RUN_LIMIT_SHOWN]
        if job.job_kind != "broadcast":
            target = self.store.group(job_id, RUN_TARGET)
            answer = MessageResponse if job.job_kind == "message" else BotFriendsResponse
            result = answer.model_validate_json(target.result) if target and target.result else None
            return Broadcast(**summary, runs=runs, result=result)
        groups, next_token = self.store.groups(job_id, limit, token)
        return Broadcast(
            **summary,
            runs=runs,
            groups=[
                GroupResult(
                    group_id=g.group_id,
                    state=g.state,
                    attempts=g.attempts,
                    code=g.code,
                    info=g.info or None,
                    msg_seq=g.msg_seq,
                )
                for g in groups
            ],
            next_token=next_token,
        )

    def list(self, limit: int = 50, token: str | None = None) -> BroadcastList:
        jobs, next_token = self.store.list(limit, token)
        return BroadcastList(jobs=[self._summary(job) for job in jobs], next_token=next_token)

    def _summary(self, job: Job) -> BroadcastSummary:
        schedule = Schedule.model_validate_json(job.schedule) if job.schedule else None
        pending = job.total - job.sent - job.failed - job.cancelled
        state: JobState
        if job.cancelled_at is not None:
            state = "cancelled"
        elif job.status == "scheduled":
            state = "scheduled"
        elif not job.planned:
            state = "planning"
        elif pending > 0:
            state = "sending"
        else:
            state = "done"
        next_run = None
        if state == "scheduled" and schedule is not None:
            next_run = schedule.next_run(datetime.fromtimestamp(self.clock(), UTC))
        return BroadcastSummary(
            job_id=job.job_id,
            kind=job.job_kind,
            state=state,
            created_at=_utc(job.created_at),
            parent_id=job.parent_id,
            schedule=schedule,
            next_run=next_run,
            all_groups=job.all_groups,
            progress=Progress(
                total=job.total,
                sent=job.sent,
                failed=job.failed,
                pending=pending,
                cancelled=job.cancelled,
                failed_codes=job.failed_codes,
            ),
        )


@dataclass(frozen=True)
class BroadcastStarter:
    """The scheduler function's side: a scheduled job starts when its schedule fires."""

    store: JobStore
    queue: WorkQueue
    clock: Callable[[], float] = time.time

    def start(self, job_id: str, fired_at: datetime) -> str | None:
        """A schedule fired: a one-off job starts; a cron job starts a run of its own (one per
        firing, however often Scheduler delivers it). Returns the job that plans, or None."""
        job = self.store.get(job_id)
        if job is None or job.cancelled_at is not None:
            logger.info("schedule fired for a job that is gone or cancelled", job_id=job_id)
            return None
        if job.kind == "once":
            # Planning is idempotent: a repeated firing queues a plan item that finds the work done.
            self.queue.send([PlanItem(job_id=job_id)])
            self.store.set_started(job_id)
            return job_id
        run_id = f"{job_id}-{fired_at.astimezone(UTC):%Y%m%dT%H%MZ}"
        run = Job(
            job_id=run_id,
            kind="run",
            job_kind=job.job_kind,
            parent_id=job_id,
            created_at=_ms(self.clock()),
            message=job.message,
            all_groups=job.all_groups,
            status="started",
        )
        if self.store.create(run, None if job.all_groups else self.store.targets(job_id)):
            self.store.add_run(job_id, run_id)
        self.queue.send([PlanItem(job_id=run_id)])
        return run_id


@dataclass(frozen=True)
class BroadcastWorker:
    """The broadcast worker's side: jobs planned into work items, and groups sent one by one."""

    store: JobStore
    queue: WorkQueue
    rest: Callable[[], TimRestClient]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ planning

    def plan(self, job_id: str, cursor: str, time_left: Callable[[], float]) -> None:
        """Records and queues the job's groups from ``cursor`` on, page by page, handing the rest
        over to a new work item when the invocation runs short of time."""
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        targets = None if job.all_groups else self.store.targets(job_id)
        while True:
            cancelled = job.cancelled_at is not None
            if targets is None:
                reply = self.rest().group_id_page(int(cursor or 0), PLAN_PAGE)
                page = [item.GroupId for item in reply.GroupIdList]
                next_cursor = str(reply.Next) if reply.Next else ""
            else:
                start = int(cursor or 0)
                page = targets[start : start + PLAN_PAGE]
                next_cursor = str(start + PLAN_PAGE) if start + PLAN_PAGE < len(targets) else ""
            randoms = {group: new_random() for group in dict.fromkeys(page)}
            self.store.plan_page(job_id, cursor, next_cursor, randoms, cancelled)
            if not cancelled:
                # Also when another invocation recorded this page: queuing twice is harmless.
                self.queue.send([SendItem(job_id=job_id, group_id=group) for group in randoms])
            if not next_cursor:
                return
            cursor = next_cursor
            if time_left() < PLAN_RESERVE_S:
                self.queue.send([PlanItem(job_id=job_id, cursor=cursor)])
                return
            # Read again for every page: a cancel stops the queuing at the next page.
            job = self.store.get(job_id) or job

    # ------------------------------------------------------------------ sending

    def lease_until(self, time_left: float) -> float:
        """A claim is held until the invocation that took it ends."""
        return self.clock() + time_left

    def send(self, job: Job, group_id: str, receive_count: int, lease_until: float) -> bool:
        """Sends the job's message to one group, at most once. True when the group is settled (sent,
        failed or cancelled); False when it must be tried again later (the work item is returned)."""
        job_id = job.job_id
        now_ms = _ms(self.clock())
        if job.cancelled_at is not None and self.store.finish(job_id, group_id, "cancelled", now_ms):
            return True
        claim = self.store.claim(job_id, group_id, now_ms, _ms(lease_until))
        if claim is None:
            logger.warning("work item for a group the job does not have", job_id=job_id, group_id=group_id)
            return True
        if isinstance(claim, JobGroup):
            return claim.state not in ("pending", "sending")  # held by a live worker: later
        window = _resend_window(job)
        if claim.attempts > 1 and window is not None and now_ms - claim.first_try_ms > window[0]:
            self._fail(
                job_id,
                group_id,
                OUTCOME_UNKNOWN,
                f"an earlier attempt may have been delivered; too late to resend under Tencent's {window[1]}",
            )
            return True
        if job.job_kind != "broadcast":
            return self._run(job, group_id, claim.random, receive_count)
        outgoing = Outgoing.model_validate_json(job.message)
        request = outgoing.message().group_request(
            group_id, outgoing.from_account, outgoing.options, random=claim.random
        )
        for _ in range(DROP_RESENDS):
            try:
                reply = self.rest().send_group(request)
            except MessageDropped:
                # Not delivered (docs/protocol.md §6.1): a new message, with a Random of its own, a second later.
                fresh = new_random()
                if not self.store.new_random(job_id, group_id, request.Random, fresh):
                    return True
                request = request.model_copy(update={"Random": fresh})
                self.sleep(1.0)
                continue
            except TimError as exc:
                code = exc.error_code if exc.error_code is not None else NO_ANSWER
                if not exc.retryable:
                    # Tencent's refusal, or one the client makes itself (too large, HTTP 4xx): final.
                    self._fail(job_id, group_id, code, exc.error_info if exc.error_code is not None else str(exc))
                    return True
                return self._later(job_id, group_id, receive_count, code, str(exc))
            self.store.finish(job_id, group_id, "sent", _ms(self.clock()), msg_seq=reply.MsgSeq)
            return True
        return self._later(job_id, group_id, receive_count, ALWAYS_DROPPED, "dropped by the group's frequency limit")

    def _run(self, job: Job, target: str, random: int, receive_count: int) -> bool:
        """A message or friends job's send, once claimed. Per-recipient failures are the answer's (the
        job ran); a failure of the whole call is the target's, final or tried again as a group's is."""
        service = AdminService(self.rest())
        answer: MessageResponse | BotFriendsResponse
        try:
            if job.job_kind == "message":
                # Its Random is the claim's: a resend after a crash is one Tencent can recognise.
                answer = service.send(MessageRequest.model_validate_json(job.message), random=random)
            else:
                friends = ScheduledFriends.model_validate_json(job.message)
                answer = service.bot_friends(friends.bot_id, friends.user_ids)
        except AccountNotFound as exc:
            self._fail(job.job_id, target, ACCOUNT_NOT_FOUND, str(exc))
            return True
        except TimError as exc:
            code = exc.error_code if exc.error_code is not None else NO_ANSWER
            if not exc.retryable:
                self._fail(job.job_id, target, code, exc.error_info if exc.error_code is not None else str(exc))
                return True
            return self._later(job.job_id, target, receive_count, code, str(exc))
        result = answer.model_dump_json(by_alias=True)
        self.store.finish(job.job_id, target, "sent", _ms(self.clock()), result=result)
        return True

    def _fail(self, job_id: str, group_id: str, code: int, info: str) -> None:
        self.store.finish(job_id, group_id, "failed", _ms(self.clock()), code=code, info=info[:500])

    def _later(self, job_id: str, group_id: str, receive_count: int, code: int, info: str) -> bool:
        if receive_count >= MAX_RECEIVES:
            self._fail(job_id, group_id, code, info)
            return True
        self.store.release(job_id, group_id, code, info[:500])
        return False


def _resend_window(job: Job) -> tuple[int, str] | None:
    """How long after its first attempt a target may still be resent without risking a second delivery
    (and what Tencent's de-duplication is called); None: a resend is harmless (adding friends again)."""
    if job.job_kind == "friends":
        return None
    if job.job_kind == "message" and MessageRequest.model_validate_json(job.message).to_group is None:
        return C2C_DEDUPE_SAFE_MS, "120-second de-duplication of one-to-one messages"
    return DEDUPE_SAFE_MS, "5-minute de-duplication"


def _outgoing(request: BroadcastRequest) -> Outgoing:
    # Only what was given: defaults written out would change the body Tencent gets (and its size).
    return Outgoing.model_validate(request.model_dump(include=set(Outgoing.model_fields), exclude_unset=True))


class WorkBatch:
    """One worker invocation's batch of work items: each job read once per batch (a cancel is seen
    by the next one), and the invocation's end, until which a claimed group is held."""

    def __init__(self, worker: BroadcastWorker, time_left: Callable[[], float]) -> None:
        self._worker = worker
        self._time_left = time_left
        self._jobs: dict[str, Job | None] = {}

    def handle(self, item: WorkItem, receives: int, receipt_handle: str) -> Literal["done", "settled", "retry"]:
        """``done``: planned, or dropped (its job is gone); ``settled``: its group was sent, failed or
        cancelled; ``retry``: handed back to the queue, to come again in :func:`retry_after` seconds."""
        worker = self._worker
        if isinstance(item, PlanItem):
            try:
                worker.plan(item.job_id, item.cursor, self._time_left)
            except JobNotFound:
                logger.warning("plan item for a job that does not exist: dropped")
            return "done"
        if item.job_id not in self._jobs:
            self._jobs[item.job_id] = worker.store.get(item.job_id)
        job = self._jobs[item.job_id]
        if job is None:
            logger.warning("send item for a job that does not exist: dropped", group_id=item.group_id)
            return "done"
        if worker.send(job, item.group_id, receives, worker.lease_until(self._time_left())):
            return "settled"
        # Back sooner than the queue's visibility timeout would bring it.
        worker.queue.retry_in(receipt_handle, retry_after(receives))
        return "retry"


def retry_after(receives: int) -> int:
    """Seconds until a work item handed back on its ``receives``-th delivery comes again."""
    return RETRY_AFTER_S[min(receives, len(RETRY_AFTER_S)) - 1]
