"""The local ticker's part of EventBridge Scheduler's expressions (local/schedule_expressions.py):
rate(), and recurring schedules run from their start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local.schedule_expressions import RateExpression, next_run, parse_expression
from timkit.schedule import AtExpression, CronExpression


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_rate_and_what_the_layer_reads() -> None:
    rate = parse_expression("rate(5 minutes)")
    assert isinstance(rate, RateExpression) and rate.kind == "rate" and rate.interval == timedelta(minutes=5)
    assert isinstance(parse_expression("at(2030-01-02T03:04:05)"), AtExpression)
    assert isinstance(parse_expression("cron(0 9 ? * MON-FRI *)"), CronExpression)


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(15 minutes)", timedelta(minutes=15)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_rate_units(text: str, interval: timedelta) -> None:
    assert next_run(parse_expression(text), utc(2030, 1, 1)) == utc(2030, 1, 1) + interval


def test_rate_runs_at_its_start_and_every_interval_after() -> None:
    rate = parse_expression("rate(10 minutes)")
    start = utc(2030, 1, 1, 12, 0)
    assert next_run(rate, utc(2030, 1, 1, 11), start=start) == start
    assert next_run(rate, start, start=start) == utc(2030, 1, 1, 12, 10)
    assert next_run(rate, utc(2030, 1, 1, 12, 25, 30), start=start) == utc(2030, 1, 1, 12, 30)


def test_a_rate_day_is_24_hours_across_daylight_saving_time() -> None:
    start = utc(2025, 3, 29, 8)  # 09:00 in Berlin, winter time
    after = next_run(parse_expression("rate(1 day)"), start, "Europe/Berlin", start=start)
    assert after == utc(2025, 3, 30, 8)  # 10:00 in Berlin, summer time


def test_cron_runs_on_or_after_its_start() -> None:
    cron = parse_expression("cron(0 * * * ? *)")
    assert next_run(cron, utc(2030, 1, 1), start=utc(2030, 1, 1, 5)) == utc(2030, 1, 1, 5)
    assert next_run(cron, utc(2030, 1, 1), start=utc(2030, 1, 1, 5, 1)) == utc(2030, 1, 1, 6)
    assert next_run(cron, utc(2030, 1, 1, 7), start=utc(2030, 1, 1, 5)) == utc(2030, 1, 1, 8)


def test_at_ignores_the_start() -> None:
    at = parse_expression("at(2030-01-02T03:04:05)")
    assert next_run(at, utc(2029, 12, 31), start=utc(2030, 6, 1)) == utc(2030, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate(5 weeks)", "the unit minutes, hours or days"),
        ("rate(0 minutes)", "positive"),
        ("rate(1 minutes)", "write 1 minute"),
        ("rate(5 minute)", "write 5 minutes"),
        ("rate(-5 minutes)", "rate(value unit)"),
        ("every day", "is not a schedule expression"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_expression(text)
    assert message in str(info.value)


def test_a_rate_needs_an_aware_moment_and_a_known_time_zone() -> None:
    rate = parse_expression("rate(1 day)")
    with pytest.raises(ValueError, match="has no time zone"):
        next_run(rate, datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        next_run(rate, utc(2030, 1, 1), "Mars/Olympus")
