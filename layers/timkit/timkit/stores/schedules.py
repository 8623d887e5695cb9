"""EventBridge Scheduler schedules that start scheduled broadcasts, and the broadcast work queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from timkit.models.broadcast import WORK_ITEM, Firing, WorkItem

# Scheduler fills these in when it invokes the target (its context attributes).
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


class Schedules:
    def __init__(self, group: str, target_arn: str, role_arn: str, scheduler: Any | None = None) -> None:
        self._group = group
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._scheduler = scheduler or boto3.client("scheduler")

    def create(self, name: str, expression: str, timezone: str, job_id: str) -> None:
        once = expression.startswith("at(")
        self._scheduler.create_schedule(
            Name=name,
            GroupName=self._group,
            ScheduleExpression=expression,
            ScheduleExpressionTimezone=timezone,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": self._target_arn,
                "RoleArn": self._role_arn,
                "Input": Firing(job_id=job_id, scheduled_time=SCHEDULED_TIME).model_dump_json(),
                # The scheduler function is idempotent per firing: Scheduler's retries are harmless.
                "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
            },
            ActionAfterCompletion="DELETE" if once else "NONE",
            State="ENABLED",
        )

    def delete(self, name: str) -> None:
        """Gone already (fired and deleted, or never made) counts as deleted."""
        try:
            self._scheduler.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


class WorkQueue:
    """The broadcast queue: work items as JSON (timkit.models.broadcast), sent ten to a call."""

    def __init__(self, url: str, sqs: Any | None = None) -> None:
        self._url = url
        self._sqs = sqs or boto3.client("sqs")

    def retry_in(self, receipt_handle: str, seconds: int) -> None:
        """A work item handed back comes again after ``seconds``, not the queue's whole visibility timeout."""
        self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)

    @staticmethod
    def parse(body: str) -> WorkItem:
        """A work item from a message body; pydantic's ValidationError if it is none."""
        return WORK_ITEM.validate_json(body)

    def send(self, items: Sequence[WorkItem]) -> None:
        for start in range(0, len(items), 10):
            chunk = items[start : start + 10]
            for _ in range(3):
                answer = self._sqs.send_message_batch(
                    QueueUrl=self._url,
                    Entries=[{"Id": str(i), "MessageBody": item.model_dump_json()} for i, item in enumerate(chunk)],
                )
                # Partial failures are rare (throttling): the items left out are sent again.
                chunk = [chunk[int(failed["Id"])] for failed in answer.get("Failed", [])]
                if not chunk:
                    break
            else:
                raise RuntimeError(f"{len(chunk)} work items could not be queued")
