"""EventBridge Scheduler schedule expressions: ``at()`` and ``cron()`` (what broadcasts are scheduled
with), read and evaluated as Scheduler does. ``rate()`` and a schedule's start date, which only the
local stack's ticker needs, are local/schedule_expressions.py's.

    expression = parse_expression("cron(0 9 ? * MON-FRI *)")    # ValueError naming what is wrong
    expression.next_after(datetime.now(UTC), "Europe/Berlin")   # the next run (aware, in UTC), or None

Times are wall-clock times in the schedule's time zone (``ScheduleExpressionTimezone``, UTC by default).
Daylight saving time as Scheduler handles it: a cron time that does not exist (skipped when clocks go
forward) does not run, and one that exists twice (when clocks go back) runs once, the first time. An
``at()`` time that does not exist runs when the clock shows it would have been (02:30 on a night that
skips from 02:00 to 03:00 runs at 03:30).

Cron expressions have six fields, ``minutes hours day-of-month month day-of-week year``: exactly one of
day-of-month and day-of-week is ``?``; day-of-week counts 1-7 from Sunday (or SUN-SAT), months 1-12 (or
JAN-DEC), years 1970-2199. Every field takes ``*``, ``,``, ``-`` ranges and ``/`` steps (``*/15``, ``0/15``,
``10-50/20``) except day-of-week, which takes no steps; day-of-month also takes ``L`` (the last day), ``LW``
(its last weekday) and ``nW`` (the weekday nearest to day n, within the month); day-of-week also takes
``L`` (Saturday), ``nL`` (the month's last day n) and ``n#k`` (its k-th day n).
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["AtExpression", "CronExpression", "ScheduleExpression", "as_utc", "parse_expression", "time_zone"]


class ScheduleExpression(ABC):
    """A parsed schedule expression; ``text`` is the expression as given."""

    kind: ClassVar[Literal["at", "cron"]]
    text: str

    @abstractmethod
    def next_after(self, moment: datetime, timezone: str = "UTC") -> datetime | None:
        """The first run strictly after ``moment`` (aware), in UTC; None when there is none."""


@dataclass(frozen=True)
class AtExpression(ScheduleExpression):
    kind: ClassVar[Literal["at"]] = "at"
    text: str
    at: datetime  # naive: a wall-clock time in the schedule's time zone

    def next_after(self, moment: datetime, timezone: str = "UTC") -> datetime | None:
        moment = as_utc(moment)
        # fold=0: the first of a time that exists twice; a skipped time keeps the offset from before the change.
        run = self.at.replace(tzinfo=time_zone(timezone)).astimezone(UTC)
        return run if run > moment else None


@dataclass(frozen=True)
class CronExpression(ScheduleExpression):
    kind: ClassVar[Literal["cron"]] = "cron"
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    # Exactly one of the two is None (the field that is ?).
    days_of_month: tuple[_DayRule, ...] | None
    days_of_week: tuple[_DayRule, ...] | None

    def next_after(self, moment: datetime, timezone: str = "UTC") -> datetime | None:
        moment = as_utc(moment)
        zone = time_zone(timezone)
        # From the day before: where clocks go back at midnight, a later instant can fall on an earlier date.
        first_day = moment.astimezone(zone).date() - timedelta(days=1)
        for year in (y for y in self.years if y >= first_day.year):
            for month in self.months:
                if (year, month) < (first_day.year, first_day.month):
                    continue
                for day in self._days(year, month):
                    if date(year, month, day) < first_day:
                        continue
                    for hour in self.hours:
                        for minute in self.minutes:
                            run = _existing(datetime(year, month, day, hour, minute), zone)
                            if run is not None and run > moment:
                                return run
        return None

    def _days(self, year: int, month: int) -> list[int]:
        rules = self.days_of_month if self.days_of_month is not None else self.days_of_week
        assert rules is not None
        return sorted({day for rule in rules for day in rule.days(year, month)})


def _existing(local: datetime, zone: ZoneInfo) -> datetime | None:
    """``local`` in UTC; its first occurrence when the clocks go back, None when they skip it."""
    run = local.replace(tzinfo=zone).astimezone(UTC)
    return run if run.astimezone(zone).replace(tzinfo=None) == local else None


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: give an aware datetime")
    return moment.astimezone(UTC)


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from None


# ---------------------------------------------------------------------- days


def _weekday(year: int, month: int, day: int) -> int:
    """AWS's day of the week: 1 is Sunday, 7 Saturday."""
    return (date(year, month, day).weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class _DayRule:
    """One item of a day-of-month or day-of-week field."""

    kind: Literal["days", "weekdays", "last", "last-weekday", "nearest-weekday", "last-of", "nth-of"]
    values: frozenset[int] = frozenset()  # days of the month, or AWS days of the week
    n: int = 0  # the day for nearest-weekday, the occurrence for nth-of

    def days(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        all_days = range(1, length + 1)
        if self.kind == "days":
            return {d for d in self.values if d <= length}
        if self.kind == "weekdays":
            return {d for d in all_days if _weekday(year, month, d) in self.values}
        if self.kind == "last":
            return {length}
        if self.kind == "last-weekday":
            return {max(d for d in all_days if _weekday(year, month, d) not in (1, 7))}
        if self.kind == "nearest-weekday":
            if self.n > length:
                return set()
            weekday = _weekday(year, month, self.n)
            if weekday == 7:  # Saturday: the Friday before, or the Monday after on the 1st
                return {self.n - 1 if self.n > 1 else self.n + 2}
            if weekday == 1:  # Sunday: the Monday after, or the Friday before on the last day
                return {self.n + 1 if self.n < length else self.n - 2}
            return {self.n}
        (weekday,) = self.values
        matching = [d for d in all_days if _weekday(year, month, d) == weekday]
        if self.kind == "last-of":
            return {matching[-1]}
        return {matching[self.n - 1]} if self.n <= len(matching) else set()


# ---------------------------------------------------------------------- parsing

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # for low, low + 1, ...
    steps: bool = True

    def value(self, text: str) -> int:
        if text.upper() in self.names:
            return self.low + self.names.index(text.upper())
        if not (text.isascii() and text.isdigit()):
            spelled = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
            raise ValueError(f"{self.name}: {text!r} is not a value ({self.low}-{self.high}{spelled})")
        if not self.low <= int(text) <= self.high:
            raise ValueError(f"{self.name}: {text} is out of range {self.low}-{self.high}")
        return int(text)

    def values(self, text: str) -> frozenset[int]:
        """The values one item (``*``, ``a``, ``a-b``, each with an optional ``/step``) stands for."""
        base, slash, step_text = text.partition("/")
        if slash:
            if not self.steps:
                raise ValueError(f"{self.name}: steps (/) are not allowed")
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise ValueError(f"{self.name}: {text!r} needs a positive whole step after /")
        step = int(step_text) if slash else 1
        if base == "*":
            low, high = self.low, self.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = self.value(first), self.value(last)
            if low > high:
                raise ValueError(f"{self.name}: the range {base} runs backwards")
        else:
            low = self.value(base)
            high = self.high if slash else low  # a/n: from a to the end, every n
        return frozenset(range(low, high + 1, step))

    def parse(self, text: str) -> tuple[int, ...]:
        values: set[int] = set()
        for item in self._items(text):
            values |= self.values(item)
        return tuple(sorted(values))

    def _items(self, text: str) -> list[str]:
        items = text.split(",")
        if "" in items:
            raise ValueError(f"{self.name}: {text!r} has an empty item")
        return items


_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS)
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, _WEEKDAYS, steps=False)
_YEAR = _Field("year", 1970, 2199)


def _days_of_month(text: str) -> tuple[_DayRule, ...]:
    rules = []
    for item in _DAY_OF_MONTH._items(text):
        if item == "L":
            rules.append(_DayRule("last"))
        elif item == "LW":
            rules.append(_DayRule("last-weekday"))
        elif item.endswith("W"):
            if not (item[:-1].isascii() and item[:-1].isdigit()):
                raise ValueError(f"day-of-month: {item!r}: W follows a single day, as in 15W")
            rules.append(_DayRule("nearest-weekday", n=_DAY_OF_MONTH.value(item[:-1])))
        else:
            rules.append(_DayRule("days", _DAY_OF_MONTH.values(item)))
    return tuple(rules)


def _days_of_week(text: str) -> tuple[_DayRule, ...]:
    rules = []
    for item in _DAY_OF_WEEK._items(text):
        if item == "L":
            rules.append(_DayRule("weekdays", frozenset({7})))
        elif item.endswith("L"):
            rules.append(_DayRule("last-of", frozenset({_DAY_OF_WEEK.value(item[:-1])})))
        elif "#" in item:
            day, _, nth = item.partition("#")
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ValueError(f"day-of-week: {item!r}: # is followed by the occurrence in the month, 1-5")
            rules.append(_DayRule("nth-of", frozenset({_DAY_OF_WEEK.value(day)}), int(nth)))
        else:
            rules.append(_DayRule("weekdays", _DAY_OF_WEEK.values(item)))
    return tuple(rules)


def _cron(text: str, body: str) -> CronExpression:
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(
            f"{text}: a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), "
            f"not {len(fields)}"
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"{text}: exactly one of day-of-month and day-of-week must be ?")
    for name, value in (("minutes", minutes), ("hours", hours), ("month", month), ("year", year)):
        if "?" in value:
            raise ValueError(f"{text}: {name}: ? is only for day-of-month or day-of-week")
    try:
        return CronExpression(
            text=text,
            minutes=_MINUTES.parse(minutes),
            hours=_HOURS.parse(hours),
            months=_MONTH.parse(month),
            years=_YEAR.parse(year),
            days_of_month=None if day_of_month == "?" else _days_of_month(day_of_month),
            days_of_week=None if day_of_week == "?" else _days_of_week(day_of_week),
        )
    except ValueError as exc:
        raise ValueError(f"{text}: {exc}") from None


def parse_expression(text: str) -> AtExpression | CronExpression:
    """Reads ``at(yyyy-mm-ddThh:mm:ss)`` or ``cron(fields)``; ValueError says what is wrong."""
    if match := re.fullmatch(r"at\((.*)\)", text):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", match.group(1)):
            raise ValueError(f"{text}: an at() expression is at(yyyy-mm-ddThh:mm:ss)")
        try:
            return AtExpression(text, datetime.fromisoformat(match.group(1)))
        except ValueError:
            raise ValueError(f"{text}: {match.group(1)} is not a date and time") from None
    if match := re.fullmatch(r"cron\((.*)\)", text):
        return _cron(text, match.group(1))
    raise ValueError(f"{text!r} is not a schedule expression: at(...) or cron(...)")
