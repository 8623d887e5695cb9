"""Broadcast work items at the queue boundary: what WorkQueue writes is what the worker reads back,
and a body that is no work item (wrong types, missing or unknown fields, another kind) is refused
before any job is looked up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from timkit.models.broadcast import Firing, PlanItem, SendItem
from timkit.stores.schedules import SCHEDULED_TIME, WorkQueue


class RecordingSqs:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.bodies += [entry["MessageBody"] for entry in Entries]
        return {}


def test_items_are_written_in_the_queue_format_and_read_back() -> None:
    sqs = RecordingSqs()
    items = [PlanItem(job_id="j", cursor="99"), SendItem(job_id="j", group_id="@TGS#1")]
    WorkQueue("url", sqs).send(items)
    assert [json.loads(body) for body in sqs.bodies] == [
        {"kind": "plan", "jobId": "j", "cursor": "99"},
        {"kind": "send", "jobId": "j", "groupId": "@TGS#1"},
    ]
    assert [WorkQueue.parse(body) for body in sqs.bodies] == items


def test_an_item_in_the_format_queued_before_still_reads() -> None:
    # json.dumps' spacing, as items were written before the models.
    assert WorkQueue.parse('{"kind": "plan", "jobId": "j", "cursor": ""}') == PlanItem(job_id="j")
    assert WorkQueue.parse('{"kind": "send", "jobId": "j", "groupId": "g"}') == SendItem(job_id="j", group_id="g")


@pytest.mark.parametrize(
    "body",
    [
        '{"kind": "send", "jobId": 5, "groupId": "g"}',
        '{"kind": "send", "jobId": "j", "groupId": ["g"]}',
        '{"kind": "send", "jobId": "j"}',
        '{"kind": "plan", "cursor": ""}',
        '{"kind": "plan", "jobId": "j", "cursor": 3}',
        '{"kind": "resend", "jobId": "j", "groupId": "g"}',
        '{"jobId": "j", "groupId": "g"}',
        '["plan", "j"]',
        '"plan"',
        "not json",
    ],
)
def test_a_body_that_is_no_work_item_is_refused(body: str) -> None:
    with pytest.raises(ValidationError):
        WorkQueue.parse(body)


NOW = datetime(2026, 12, 6, 10, 7, 31, 500, tzinfo=UTC)


def test_a_firing_names_its_job_and_the_scheduled_time() -> None:
    firing = Firing.model_validate({"jobId": "j1", "scheduledTime": "2026-11-21T10:00:00Z"})
    assert firing.job_id == "j1" and firing.fired_at(NOW) == datetime(2026, 11, 21, 10, tzinfo=UTC)


@pytest.mark.parametrize("scheduled", [None, SCHEDULED_TIME, "yesterday", ""])
def test_a_firing_without_a_readable_time_is_named_by_the_minute_of_delivery(scheduled: str | None) -> None:
    event = {"jobId": "j1"} | ({} if scheduled is None else {"scheduledTime": scheduled})
    assert Firing.model_validate(event).fired_at(NOW) == datetime(2026, 12, 6, 10, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "event",
    [{}, {"jobId": ""}, {"jobId": 7}, {"jobId": ["j1"]}, {"jobId": {"id": "j1"}}, {"jobId": "j", "scheduledTime": 5},
     [], "j1", None],
)  # fmt: skip
def test_anything_else_is_not_a_firing(event: object) -> None:
    with pytest.raises(ValidationError):
        Firing.model_validate(event)


def test_the_schedules_input_is_a_firing_once_scheduler_fills_the_time_in() -> None:
    written = Firing(job_id="j1", scheduled_time=SCHEDULED_TIME).model_dump_json()
    filled = written.replace(SCHEDULED_TIME, "2026-11-21T10:00:00Z")
    assert Firing.model_validate_json(filled).fired_at(NOW) == datetime(2026, 11, 21, 10, tzinfo=UTC)
