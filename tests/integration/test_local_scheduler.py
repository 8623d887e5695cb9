"""The local stack's schedule ticker against moto: schedules made with boto3 run the stack's functions
when they are due (at, rate and cron, in a time zone), once per run, with the target's Input as the event.

The stack's clock is a fake the tests move; ``tick()`` makes the ticker look at once (it also ticks by
itself). Whether a schedule fired is read from the ticker's log line, written when it fires; what the
function got, from the file its handler writes."""

from __future__ import annotations

import json
import logging
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.stack import LocalStack
from tests.waiting import wait_for

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Jobs": {"Type": "AWS::Scheduler::ScheduleGroup"},
        "TickFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "tick/",
                "Handler": "app.handler",
                "Runtime": "python3.13",
                "Environment": {
                    "Variables": {
                        "RECORD_DIR": "set by the stack fixture",
                        "SCHEDULE_GROUP": {"Ref": "Jobs"},
                        "TARGET_ARN": {"Fn::GetAtt": ["TickFunction", "Arn"]},
                    }
                },
            },
        },
    },
}

HANDLER = """
    import json, os

    def handler(event, context):
        seen = {"event": event, "group": os.environ["SCHEDULE_GROUP"], "target": os.environ["TARGET_ARN"]}
        with open(os.path.join(os.environ["RECORD_DIR"], "events"), "a") as f:
            f.write(json.dumps(seen) + "\\n")
        if event.get("raise"):
            raise RuntimeError("scheduled boom")
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


CLOCK = Clock()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("scheduler")
    template = json.loads(json.dumps(TEMPLATE))
    (root / "records").mkdir()
    template["Resources"]["TickFunction"]["Properties"]["Environment"]["Variables"]["RECORD_DIR"] = str(
        root / "records"
    )
    (root / "template.yaml").write_text(json.dumps(template))
    (root / "tick").mkdir()
    (root / "tick" / "app.py").write_text(textwrap.dedent(HANDLER))
    with LocalStack(root / "template.yaml", api_port=0, aws_port=0, schedule_clock=CLOCK) as local:
        yield local


@pytest.fixture(autouse=True)
def no_schedules_left(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO, logger="local")  # the ticker's line for each run it fires
    CLOCK.now = datetime.now(UTC)  # not where the last test left it: the ticker also ticks by itself
    yield
    scheduler = stack.boto3_client("scheduler")
    for schedule in scheduler.list_schedules()["Schedules"]:
        scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])


def events(stack: LocalStack, marker: str) -> list[dict[str, Any]]:
    path = stack.template_path.parent / "records" / "events"
    lines = path.read_text().splitlines() if path.exists() else []
    return [seen for seen in map(json.loads, lines) if seen["event"].get("marker") == marker]


def create(stack: LocalStack, expression: str, **options: Any) -> tuple[str, str]:
    """Creates a schedule targeting TickFunction; its name, and the marker its events carry."""
    name, marker = f"s-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    payload = {"marker": marker, **options.pop("payload", {})}
    target = {"Arn": stack.functions["TickFunction"].arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler"}
    target["Input"] = options.pop("input", json.dumps(payload))
    target["Arn"] += options.pop("qualifier", "")
    stack.boto3_client("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=target,
        **options,
    )
    return name, marker


def fired(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """The runs the ticker fired the schedule for, by its log lines."""
    return [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records if f"/{name}: invoking" in r.getMessage()]


def tick_at(stack: LocalStack, moment: datetime) -> None:
    CLOCK.now = moment
    assert stack.scheduler is not None
    stack.scheduler.tick()


def now_after_creation() -> datetime:
    # moto dates schedules by the real clock: the fake one must not lag behind it.
    return datetime.now(UTC) + timedelta(seconds=1)


def test_an_at_schedule_created_past_due_fires_at_once_with_its_input(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    placeholders = {
        "at": "<aws.scheduler.scheduled-time>",
        "arn": "<aws.scheduler.schedule-arn>",
        "attempt": "<aws.scheduler.attempt-number>",
        "execution": "<aws.scheduler.execution-id>",
    }
    name, marker = create(
        stack, "at(2020-05-01T12:00:00)", ScheduleExpressionTimezone="Europe/Berlin", payload=placeholders
    )
    for _ in range(3):
        tick_at(stack, now_after_creation())
    assert fired(caplog, name) == ["2020-05-01T10:00:00+00:00"], "once, however many ticks"
    (seen,) = wait_for(lambda: events(stack, marker), "the function to be invoked")
    event = seen["event"]
    assert event["at"] == "2020-05-01T10:00:00Z"
    assert event["arn"] == f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{name}"
    assert event["attempt"] == "1" and len(event["execution"]) == 16
    # ActionAfterCompletion NONE (the default): the schedule stays, and does not run again.
    assert stack.boto3_client("scheduler").get_schedule(Name=name)["Name"] == name


def test_an_at_schedule_fires_when_its_time_comes_and_is_deleted_if_asked(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    start = now_after_creation()
    at = (start + timedelta(hours=3)).replace(microsecond=0)
    name, marker = create(
        stack,
        f"at({at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})",
        ActionAfterCompletion="DELETE",
    )
    tick_at(stack, start)
    tick_at(stack, at - timedelta(seconds=1))
    assert fired(caplog, name) == []
    tick_at(stack, at)
    tick_at(stack, at + timedelta(seconds=1))
    assert fired(caplog, name) == [at.isoformat()]
    wait_for(lambda: events(stack, marker), "the function to be invoked")
    assert name not in [s["Name"] for s in stack.boto3_client("scheduler").list_schedules()["Schedules"]]


def test_a_rate_schedule_fires_at_once_then_every_interval(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    name, marker = create(stack, "rate(5 minutes)")
    created = stack.boto3_client("scheduler").get_schedule(Name=name)["CreationDate"]
    first = now_after_creation()
    tick_at(stack, first)
    tick_at(stack, first + timedelta(minutes=4))
    assert fired(caplog, name) == [created.isoformat()]
    tick_at(stack, created + timedelta(minutes=5))
    # Missed runs (the clock jumped) are made up by one, and the rate keeps its phase.
    tick_at(stack, created + timedelta(minutes=22))
    tick_at(stack, created + timedelta(minutes=24))
    tick_at(stack, created + timedelta(minutes=25))
    assert fired(caplog, name) == [
        created.isoformat(),
        (created + timedelta(minutes=5)).isoformat(),
        (created + timedelta(minutes=10)).isoformat(),
        (created + timedelta(minutes=25)).isoformat(),
    ]
    wait_for(lambda: len(events(stack, marker)) == 4, "four invocations")


def test_a_cron_schedule_fires_on_its_times_in_its_time_zone(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    # On the hour in Kolkata (UTC+05:30) is half past in UTC.
    name, marker = create(stack, "cron(0 * * * ? *)", ScheduleExpressionTimezone="Asia/Kolkata")
    created = stack.boto3_client("scheduler").get_schedule(Name=name)["CreationDate"]
    first = created.replace(minute=30, second=0, microsecond=0)
    first += timedelta(hours=1) if first <= created else timedelta(0)
    tick_at(stack, first - timedelta(seconds=1))
    assert fired(caplog, name) == []
    tick_at(stack, first)
    tick_at(stack, first + timedelta(minutes=59))
    tick_at(stack, first + timedelta(hours=1))
    assert fired(caplog, name) == [first.isoformat(), (first + timedelta(hours=1)).isoformat()]
    runs = wait_for(lambda: (found := events(stack, marker)) and len(found) == 2 and found, "two invocations")
    assert sorted(seen["event"]["marker"] for seen in runs) == [marker, marker]


def test_start_and_end_dates_bound_a_recurring_schedule(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    start = (now_after_creation() + timedelta(hours=1)).replace(microsecond=0)
    name, _ = create(stack, "rate(1 hour)", StartDate=start, EndDate=start + timedelta(hours=2))
    tick_at(stack, start - timedelta(minutes=1))
    for hours in range(5):
        tick_at(stack, start + timedelta(hours=hours))
    assert fired(caplog, name) == [start.isoformat(), (start + timedelta(hours=1)).isoformat()]


def test_a_disabled_schedule_does_not_fire_until_enabled(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    name, _ = create(stack, "at(2020-01-01T00:00:00)", State="DISABLED")
    tick_at(stack, now_after_creation())
    assert fired(caplog, name) == []
    schedule = stack.boto3_client("scheduler").get_schedule(Name=name)
    stack.boto3_client("scheduler").update_schedule(
        Name=name,
        ScheduleExpression=schedule["ScheduleExpression"],
        FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
        Target=schedule["Target"],
        State="ENABLED",
    )
    tick_at(stack, now_after_creation())
    assert fired(caplog, name) == ["2020-01-01T00:00:00+00:00"]


def test_a_qualified_function_arn_and_a_schedule_group(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    group = stack.resources["Jobs"]
    assert group == "timkit-local-Jobs"
    name, marker = create(stack, "at(2020-01-01T00:00:00)", GroupName=group, qualifier=":$LATEST")
    tick_at(stack, now_after_creation())
    assert fired(caplog, name) == ["2020-01-01T00:00:00+00:00"]
    (seen,) = wait_for(lambda: events(stack, marker), "the function to be invoked")
    assert seen["group"] == group
    assert seen["target"] == "arn:aws:lambda:us-east-1:123456789012:function:timkit-local-TickFunction"


def test_schedules_that_cannot_run_locally_are_reported_once(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = stack.boto3_client("scheduler").create_schedule(
        Name="elsewhere",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:some-queue", "RoleArn": "arn:aws:iam::1:role/r"},
    )
    bad_expression, _ = create(stack, "rate(1 week)")
    not_json, _ = create(stack, "at(2020-01-01T00:00:00)", input="{not json")
    for _ in range(3):
        tick_at(stack, now_after_creation())
    messages = [r.getMessage() for r in caplog.records]
    assert elsewhere["ScheduleArn"]
    assert [m for m in messages if "default/elsewhere" in m] == [
        "schedule default/elsewhere: its target arn:aws:sqs:us-east-1:123456789012:some-queue is not a function "
        "of the local stack: it does not run"
    ]
    assert [m for m in messages if bad_expression in m] == [
        f"schedule default/{bad_expression} does not run: rate(1 week): a rate expression is rate(value unit), "
        "the unit minutes, hours or days"
    ]
    assert [m for m in messages if not_json in m and "not JSON" in m] != []


def test_a_failed_invocation_is_logged(stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    name, marker = create(stack, "at(2020-01-01T00:00:00)", payload={"raise": True})
    tick_at(stack, now_after_creation())
    wait_for(lambda: events(stack, marker), "the function to be invoked")
    wait_for(lambda: f"schedule default/{name}: TickFunction failed" in caplog.text, "the failure to be logged")
    assert "RuntimeError: scheduled boom" in caplog.text


def test_the_ticker_ticks_by_itself(stack: LocalStack) -> None:
    CLOCK.now = now_after_creation() + timedelta(days=1)
    _, marker = create(stack, "at(2020-01-01T00:00:00)")
    wait_for(lambda: events(stack, marker), "the ticker to fire the schedule", timeout=10)
