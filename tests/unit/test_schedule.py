"""EventBridge Scheduler expressions at() and cron() (the layer's): parsing, errors that name what is
wrong, and next runs (daylight saving time in Europe/Berlin and America/New_York, L, W, #, ranges,
steps, names, the year field). rate() and start dates: tests/unit/test_local_schedule_expressions.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timkit.schedule import AtExpression, CronExpression, parse_expression


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(text: str, after: datetime, count: int, timezone: str = "UTC") -> list[datetime]:
    expression, found = parse_expression(text), []
    moment: datetime | None = after
    while len(found) < count and moment is not None:
        moment = expression.next_after(moment, timezone)
        if moment is not None:
            found.append(moment)
    return found


def test_the_two_kinds() -> None:
    at = parse_expression("at(2030-01-02T03:04:05)")
    assert isinstance(at, AtExpression) and at.kind == "at" and at.text == "at(2030-01-02T03:04:05)"
    cron = parse_expression("cron(0 9 ? * MON-FRI *)")
    assert isinstance(cron, CronExpression) and cron.kind == "cron"


# ---------------------------------------------------------------------- at()


def test_at_runs_once_at_its_time() -> None:
    at = parse_expression("at(2030-01-02T03:04:05)")
    assert at.next_after(utc(2029, 12, 31)) == utc(2030, 1, 2, 3, 4, 5)
    assert at.next_after(utc(2030, 1, 2, 3, 4, 5)) is None, "no run after its own time"
    assert at.next_after(utc(2031, 1, 1)) is None


def test_at_is_a_wall_clock_time_in_the_time_zone() -> None:
    at = parse_expression("at(2030-07-01T09:00:00)")
    assert at.next_after(utc(2030, 1, 1), "Asia/Shanghai") == utc(2030, 7, 1, 1)
    assert at.next_after(utc(2030, 1, 1), "Europe/Berlin") == utc(2030, 7, 1, 7)  # summer time, UTC+2


def test_at_in_a_skipped_or_repeated_hour() -> None:
    # Berlin skips 02:00-03:00 on 2025-03-30: 02:30 is when the clock would have shown it, 03:30 CEST.
    assert parse_expression("at(2025-03-30T02:30:00)").next_after(utc(2025, 1, 1), "Europe/Berlin") == utc(
        2025, 3, 30, 1, 30
    )
    # 02:00-03:00 happens twice on 2025-10-26: the first time counts.
    assert parse_expression("at(2025-10-26T02:30:00)").next_after(utc(2025, 1, 1), "Europe/Berlin") == utc(
        2025, 10, 26, 0, 30
    )


# ---------------------------------------------------------------------- cron()


def test_cron_weekdays_at_nine_in_berlin_across_the_spring_change() -> None:
    assert runs("cron(0 9 ? * MON-FRI *)", utc(2025, 3, 27, 12), 3, "Europe/Berlin") == [
        utc(2025, 3, 28, 8),  # Friday, 09:00 CET
        utc(2025, 3, 31, 7),  # Monday, 09:00 CEST
        utc(2025, 4, 1, 7),
    ]


def test_cron_time_in_the_skipped_hour_does_not_run() -> None:
    assert runs("cron(30 2 * * ? *)", utc(2025, 3, 28, 12), 2, "Europe/Berlin") == [
        utc(2025, 3, 29, 1, 30),
        utc(2025, 3, 31, 0, 30),  # no 02:30 on the 30th
    ]
    assert runs("cron(30 2 * * ? *)", utc(2025, 3, 8, 12), 2, "America/New_York") == [
        utc(2025, 3, 10, 6, 30),  # no 02:30 on the 9th
        utc(2025, 3, 11, 6, 30),
    ]


def test_cron_time_in_the_repeated_hour_runs_once() -> None:
    assert runs("cron(30 2 * * ? *)", utc(2025, 10, 25, 12), 2, "Europe/Berlin") == [
        utc(2025, 10, 26, 0, 30),  # 02:30 CEST, not again at 02:30 CET
        utc(2025, 10, 27, 1, 30),
    ]
    assert runs("cron(0/30 * * * ? *)", utc(2025, 11, 2, 5, 15), 4, "America/New_York") == [
        utc(2025, 11, 2, 5, 30),  # 01:30 EDT
        utc(2025, 11, 2, 7, 0),  # 02:00 EST: 01:00 and 01:30 EST already ran as EDT
        utc(2025, 11, 2, 7, 30),
        utc(2025, 11, 2, 8, 0),
    ]


def test_cron_ranges_steps_and_lists() -> None:
    assert runs("cron(10-50/20 8-9 * * ? *)", utc(2030, 1, 1), 7) == [
        utc(2030, 1, 1, 8, 10),
        utc(2030, 1, 1, 8, 30),
        utc(2030, 1, 1, 8, 50),
        utc(2030, 1, 1, 9, 10),
        utc(2030, 1, 1, 9, 30),
        utc(2030, 1, 1, 9, 50),
        utc(2030, 1, 2, 8, 10),
    ]
    assert runs("cron(*/20 0 1,15 * ? *)", utc(2030, 1, 1, 0, 30), 3) == [
        utc(2030, 1, 1, 0, 40),
        utc(2030, 1, 15, 0, 0),
        utc(2030, 1, 15, 0, 20),
    ]
    assert runs("cron(0 12 1/10 * ? *)", utc(2030, 1, 25), 2) == [utc(2030, 1, 31, 12), utc(2030, 2, 1, 12)]


def test_cron_names_and_numbers_for_days_and_months() -> None:
    by_name = runs("cron(0 12 ? FEB-MAR MON,WED,FRI *)", utc(2030, 1, 1), 5)
    assert by_name == runs("cron(0 12 ? 2-3 2,4,6 *)", utc(2030, 1, 1), 5)
    assert by_name[:2] == [utc(2030, 2, 1, 12), utc(2030, 2, 4, 12)]  # a Friday, then a Monday
    assert runs("cron(0 0 ? * sun *)", utc(2030, 1, 1), 1) == [utc(2030, 1, 6)]


def test_cron_last_day_and_last_weekday_of_the_month() -> None:
    assert runs("cron(0 0 L * ? *)", utc(2024, 1, 31, 1), 2) == [utc(2024, 2, 29), utc(2024, 3, 31)]
    assert runs("cron(0 0 L 2 ? *)", utc(2025, 1, 1), 1) == [utc(2025, 2, 28)]
    # The 31st of August 2025 is a Sunday, and the 30th a Saturday.
    assert runs("cron(0 0 LW 8 ? 2025)", utc(2025, 1, 1), 1) == [utc(2025, 8, 29)]


@pytest.mark.parametrize(
    ("day", "month", "expected"),
    [
        ("15W", 6, 16),  # Sunday the 15th: Monday
        ("15W", 11, 14),  # Saturday the 15th: Friday
        ("15W", 7, 15),  # a Tuesday
        ("1W", 3, 3),  # Saturday the 1st: Monday the 3rd, not February
        ("31W", 8, 29),  # Sunday the 31st: Friday the 29th, not September
    ],
)
def test_cron_nearest_weekday(day: str, month: int, expected: int) -> None:
    assert runs(f"cron(0 0 {day} {month} ? 2025)", utc(2025, 1, 1), 1) == [utc(2025, month, expected)]


def test_cron_nearest_weekday_to_a_day_the_month_does_not_have() -> None:
    assert runs("cron(0 0 31W * ? 2025)", utc(2025, 4, 1), 1) == [utc(2025, 5, 30)]  # April has no 31st


def test_cron_nth_and_last_day_of_the_week() -> None:
    assert runs("cron(0 10 ? * 2#1 *)", utc(2025, 1, 1), 2) == [utc(2025, 1, 6, 10), utc(2025, 2, 3, 10)]
    # Fifth Fridays only in the months that have five.
    assert [run.month for run in runs("cron(0 10 ? * FRI#5 2025)", utc(2025, 1, 1), 5)] == [1, 5, 8, 10]
    assert runs("cron(0 10 ? * 6L *)", utc(2025, 1, 1), 2) == [utc(2025, 1, 31, 10), utc(2025, 2, 28, 10)]
    assert runs("cron(0 10 ? * L *)", utc(2025, 1, 1), 1) == [utc(2025, 1, 4, 10)]  # L alone: Saturday


def test_cron_year_field() -> None:
    assert runs("cron(0 0 1 1 ? 2030-2032)", utc(2025, 6, 1), 5) == [utc(2030, 1, 1), utc(2031, 1, 1), utc(2032, 1, 1)]
    assert runs("cron(0 0 1 1 ? 2030/5)", utc(2031, 6, 1), 1) == [utc(2035, 1, 1)]
    assert parse_expression("cron(0 0 1 1 ? 2020)").next_after(utc(2025, 1, 1)) is None


def test_cron_that_never_matches_has_no_next_run() -> None:
    assert parse_expression("cron(0 0 30 2 ? *)").next_after(utc(2025, 1, 1)) is None


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every day", "is not a schedule expression"),
        ("at(2030-01-01 10:00:00)", "at(yyyy-mm-ddThh:mm:ss)"),
        ("at(2030-02-30T10:00:00)", "2030-02-30T10:00:00 is not a date and time"),
        # Broadcasts are never scheduled by rate: the layer does not read one.
        ("rate(5 minutes)", "is not a schedule expression: at(...) or cron(...)"),
        ("cron(0 9 * * ?)", "6 fields"),
        ("cron(0 9 * * MON *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(60 9 * * ? *)", "minutes: 60 is out of range 0-59"),
        ("cron(0 24 * * ? *)", "hours: 24 is out of range 0-23"),
        ("cron(0 0 0 * ? *)", "day-of-month: 0 is out of range 1-31"),
        ("cron(0 0 1 13 ? *)", "month: 13 is out of range 1-12"),
        ("cron(0 0 1 JANUARY ? *)", "month: 'JANUARY' is not a value (1-12 or JAN-DEC)"),
        ("cron(0 0 ? * 0 *)", "day-of-week: 0 is out of range 1-7"),
        ("cron(0 0 ? * MON/2 *)", "day-of-week: steps (/) are not allowed"),
        ("cron(0 0 ? * 2#6 *)", "# is followed by the occurrence in the month, 1-5"),
        ("cron(0 0 1 1 ? 1969)", "year: 1969 is out of range 1970-2199"),
        ("cron(0 0 L-2 * ? *)", "day-of-month"),
        ("cron(0 0 1-5W * ? *)", "W follows a single day"),
        ("cron(30-10 * * * ? *)", "minutes: the range 30-10 runs backwards"),
        ("cron(*/0 * * * ? *)", "positive whole step"),
        ("cron(1,,2 * * * ? *)", "minutes: '1,,2' has an empty item"),
        ("cron(? * * * ? *)", "minutes: ? is only for day-of-month or day-of-week"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_expression(text)
    assert message in str(info.value)


def test_the_moment_must_be_aware_and_the_time_zone_known() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        parse_expression("cron(0 0 * * ? *)").next_after(datetime(2030, 1, 1))
    for text in ("at(2030-01-01T00:00:00)", "cron(0 0 * * ? *)"):
        with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
            parse_expression(text).next_after(utc(2030, 1, 1), "Mars/Olympus")
