"""What of EventBridge Scheduler's schedule expressions only the local ticker (local/scheduler.py) needs:
``rate()``, and when a recurring schedule runs from its start (its StartDate, else when it was created or
last updated). ``at()`` and ``cron()`` are the layer's (timkit.schedule), which deployed functions use.

A rate runs every fixed interval (a day is 24 hours) from the schedule's start; a cron expression runs on
or after its start; ``at()`` ignores it, as Scheduler ignores a one-time schedule's StartDate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from timkit import schedule
from timkit.schedule import AtExpression, CronExpression, as_utc, time_zone

_RATE_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class RateExpression:
    kind: ClassVar[Literal["rate"]] = "rate"
    text: str
    interval: timedelta

    def next_after(self, moment: datetime, timezone: str = "UTC", start: datetime | None = None) -> datetime | None:
        """The first run strictly after ``moment`` (aware), in UTC: ``start`` and every interval after it;
        without ``start``, one interval after ``moment``."""
        moment = as_utc(moment)
        time_zone(timezone)  # a rate keeps no wall-clock time, but the schedule's time zone must still be valid
        if start is None:
            return moment + self.interval
        start = as_utc(start)
        if start > moment:
            return start
        return start + self.interval * ((moment - start) // self.interval + 1)


Expression = AtExpression | CronExpression | RateExpression


def parse_expression(text: str) -> Expression:
    """Reads ``rate(value unit)``, or what timkit.schedule reads; ValueError says what is wrong."""
    if match := re.fullmatch(r"rate\((.*)\)", text):
        rate = re.fullmatch(r"(\d+) (minute|hour|day)(s?)", match.group(1))
        if rate is None:
            raise ValueError(f"{text}: a rate expression is rate(value unit), the unit minutes, hours or days")
        value, unit, plural = int(rate.group(1)), rate.group(2), rate.group(3)
        if value == 0:
            raise ValueError(f"{text}: the rate must be a positive whole number")
        if (value == 1) == bool(plural):
            raise ValueError(f"{text}: write {value} {unit}{'' if value == 1 else 's'}")
        return RateExpression(text, _RATE_UNITS[unit] * value)
    return schedule.parse_expression(text)


def next_run(
    expression: Expression, moment: datetime, timezone: str = "UTC", start: datetime | None = None
) -> datetime | None:
    """The schedule's first run strictly after ``moment`` (aware), in UTC, from ``start`` on; None when
    there is none."""
    if isinstance(expression, RateExpression):
        return expression.next_after(moment, timezone, start)
    if isinstance(expression, CronExpression) and start is not None and as_utc(start) > as_utc(moment):
        moment = as_utc(start) - timedelta(microseconds=1)  # a run at the start itself counts
    return expression.next_after(moment, timezone)
