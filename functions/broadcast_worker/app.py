"""Broadcast worker (SQS batch, partial failures reported): plans jobs and sends one group each.

Work items: {"kind": "plan", "jobId", "cursor"} records and queues a job's groups page by page;
{"kind": "send", "jobId", "groupId"} sends the job's message to one group. An item that must be
tried again later (a transient Tencent failure, a group held by another worker) is reported
failed alone and comes back after the queue's visibility timeout.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from timkit.broadcast import BroadcastService, JobNotFound, retry_after
from timkit.config import Settings
from timkit.ratelimit import paced_client
from timkit.stores.config import ConfigStore
from timkit.stores.jobs import JobStore
from timkit.stores.schedules import WorkQueue

logger = Logger()
metrics = Metrics()
settings = Settings.from_env()
config = ConfigStore(settings.TIM_SECRET_ID, "", settings.CONFIG_CACHE_SECONDS, logger)
rest = paced_client(settings, lambda: config.secret().secret_key)


service = BroadcastService(JobStore(settings.JOBS_TABLE), WorkQueue(settings.BROADCAST_QUEUE_URL), None, rest)
processor = BatchProcessor(event_type=EventType.SQS)


class TryLater(Exception):
    """Reports the item failed, for SQS to deliver again."""


class Batch:
    """One invocation: the jobs read once per batch (a cancel is seen by the next batch), and the
    invocation's end, until which a claimed group is held."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.jobs: dict[str, dict[str, Any] | None] = {}

    def time_left(self) -> float:
        return self.context.get_remaining_time_in_millis() / 1000

    def job(self, job_id: str) -> dict[str, Any] | None:
        if job_id not in self.jobs:
            self.jobs[job_id] = service.store.get(job_id)
        return self.jobs[job_id]

    def handle(self, record: SQSRecord) -> None:
        item = json.loads(record.body)
        logger.append_keys(job_id=item.get("jobId"))
        if item.get("kind") == "plan":
            try:
                service.plan(item["jobId"], item.get("cursor", ""), self.time_left)
            except JobNotFound:
                logger.warning("plan item for a job that does not exist: dropped")
            return
        job = self.job(item["jobId"])
        if job is None:
            logger.warning("send item for a job that does not exist: dropped", group_id=item.get("groupId"))
            return
        receives = int(record.attributes.approximate_receive_count)
        settled = service.send(job, item["groupId"], receives, time.time() + self.time_left())
        metrics.add_metric(name="BroadcastItemSettled" if settled else "BroadcastItemRetried",
                           unit=MetricUnit.Count, value=1)
        if not settled:
            # Back sooner than the queue's visibility timeout would bring it.
            service.queue.retry_in(record.receipt_handle, retry_after(receives))
            raise TryLater(item["groupId"])


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    batch = Batch(context)
    return process_partial_response(event=event, record_handler=batch.handle, processor=processor, context=context)
