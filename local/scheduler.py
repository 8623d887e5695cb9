"""EventBridge Scheduler's firing, for the local stack: moto stores schedules but never runs them.

About every second the ticker lists the schedules in moto and fires each ENABLED one whose run has come,
once per run: it invokes the stack's function the schedule's target names, with the target's Input (its
context attributes such as <aws.scheduler.scheduled-time> filled in) as the event, asynchronously, as
Scheduler invokes Lambda. An at() schedule runs once, at once if it was created past due, and is deleted
after it when its ActionAfterCompletion is DELETE. A rate schedule runs at its start (StartDate, else when
it was created or last updated) and every interval after it; a cron schedule at each matching time from
its start; neither from its EndDate on. Runs missed while the ticker could not look (a clock that jumps)
are made up by one run.

Not emulated: flexible time windows (runs are on time), retry policies and dead-letter queues (a failed
invocation is logged), targets other than the stack's functions (logged once, and not run).
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.functions import LocalFunction
from local.schedule_expressions import Expression, next_run, parse_expression

log = logging.getLogger("local")

TICK_S = 1.0
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class _Tracked:
    """What the ticker knows of one version of a schedule (an update makes a new version)."""

    modified: datetime  # its LastModificationDate
    schedule: dict[str, Any]  # GetSchedule's answer
    function: LocalFunction | None  # None: not run
    expression: Expression | None
    start: datetime
    next_run: datetime | None


class ScheduleTicker:
    def __init__(
        self,
        scheduler: Any,
        functions: Mapping[str, LocalFunction],
        tick_s: float = TICK_S,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``scheduler`` is a boto3 client for moto; ``functions`` are the stack's functions by ARN;
        ``clock`` gives the current time (aware)."""
        self._scheduler = scheduler
        self._functions = dict(functions)
        self._tick_s = tick_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tracked: dict[str, _Tracked] = {}  # by schedule ARN
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule-ticker", daemon=True)
        self._invocations: set[threading.Thread] = set()
        self._invocations_lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def signal_stop(self) -> None:
        self._stopping.set()

    def stop(self) -> None:
        """Stops ticking and waits for the invocations under way."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._invocations_lock:
            invocations = list(self._invocations)
        for invocation in invocations:
            invocation.join()

    def tick(self) -> None:
        """Fires every schedule whose run has come, each invocation in a thread of its own."""
        with self._lock:
            now = self._clock()
            seen = set()
            for summary in self._summaries():
                seen.add(summary["Arn"])
                tracked = self._tracked.get(summary["Arn"])
                if tracked is None or tracked.modified != summary["LastModificationDate"]:
                    tracked = self._tracked[summary["Arn"]] = self._track(summary)
                if summary["State"] == "ENABLED" and tracked.next_run is not None and tracked.next_run <= now:
                    self._fire(tracked, tracked.next_run, now)
            for gone in set(self._tracked) - seen:
                del self._tracked[gone]

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                if self._stopping.is_set():
                    break
                log.error("the schedule ticker failed:\n%s", traceback.format_exc())
            self._stopping.wait(self._tick_s)

    def _summaries(self) -> Iterator[dict[str, Any]]:
        # Without a group name, ListSchedules lists the schedules of every group.
        for page in self._scheduler.get_paginator("list_schedules").paginate():
            yield from page["Schedules"]

    def _track(self, summary: dict[str, Any]) -> _Tracked:
        schedule = self._scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
        where = f"schedule {summary['GroupName']}/{summary['Name']}"
        start = schedule.get("StartDate") or summary["LastModificationDate"]
        tracked = _Tracked(summary["LastModificationDate"], schedule, None, None, start, None)
        target = schedule["Target"]["Arn"]
        tracked.function = self._functions.get(_unqualified(target))
        if tracked.function is None:
            log.warning("%s: its target %s is not a function of the local stack: it does not run", where, target)
            return tracked
        try:
            tracked.expression = parse_expression(schedule["ScheduleExpression"])
            if tracked.expression.kind == "at":
                # Its one run, however long ago: Scheduler runs a one-time schedule created past due at once.
                tracked.next_run = tracked.expression.next_after(_LONG_AGO, self._timezone(tracked))
            else:
                tracked.next_run = self._after(tracked, start - timedelta(microseconds=1))
        except ValueError as exc:
            log.warning("%s does not run: %s", where, exc)
        return tracked

    def _after(self, tracked: _Tracked, moment: datetime) -> datetime | None:
        assert tracked.expression is not None
        run = next_run(tracked.expression, moment, self._timezone(tracked), start=tracked.start)
        end = tracked.schedule.get("EndDate")
        return None if run is None or (end is not None and run >= end) else run

    def _timezone(self, tracked: _Tracked) -> str:
        return tracked.schedule.get("ScheduleExpressionTimezone") or "UTC"

    def _fire(self, tracked: _Tracked, run: datetime, now: datetime) -> None:
        assert tracked.expression is not None and tracked.function is not None
        tracked.next_run = self._after(tracked, max(run, now))
        schedule = tracked.schedule
        where = f"schedule {schedule['GroupName']}/{schedule['Name']}"
        if tracked.expression.kind == "at" and schedule.get("ActionAfterCompletion") == "DELETE":
            self._scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
        payload = schedule["Target"].get("Input") or "{}"
        for attribute, value in (
            ("schedule-arn", schedule["Arn"]),
            ("scheduled-time", run.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("execution-id", uuid.uuid4().hex[:16]),
            ("attempt-number", "1"),
        ):
            payload = payload.replace(f"<aws.scheduler.{attribute}>", value)
        try:
            event = json.loads(payload)
        except ValueError as exc:
            log.error("%s: its target input is not JSON (%s): %s is not invoked", where, exc, tracked.function.name)
            return
        log.info("%s: invoking %s for its run at %s", where, tracked.function.spec.logical_id, run.isoformat())
        invocation = threading.Thread(
            target=self._invoke, args=(tracked.function, event, where), name=f"schedule-{schedule['Name']}"
        )
        with self._invocations_lock:
            self._invocations.add(invocation)
        invocation.start()

    def _invoke(self, function: LocalFunction, event: Any, where: str) -> None:
        try:
            function.invoke(event)
        except Exception:
            log.error("%s: %s failed:\n%s", where, function.spec.logical_id, traceback.format_exc())
        finally:
            with self._invocations_lock:
                self._invocations.discard(threading.current_thread())


def _unqualified(arn: str) -> str:
    """A function ARN without its version or alias (arn:aws:lambda:region:account:function:name:qualifier)."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) == 8 and parts[2] == "lambda" else arn
