"""Broadcast worker (SQS batch, partial failures reported): plans jobs and sends one group each (or
runs a scheduled message or friends job, its one target).

What an item is and how it is handled is timkit.broadcast.WorkBatch's; an item that must be tried
again later (a transient Tencent failure, a group held by another worker) is reported failed
alone, for SQS to deliver again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.broadcast import BroadcastWorker, WorkBatch
from timkit.config import BroadcastWorkerSettings
from timkit.metrics import BROADCAST_ITEM_RETRIED, BROADCAST_ITEM_SETTLED
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.jobs import JobStore
from timkit.stores.schedules import WorkQueue

logger = Logger()
metrics = Metrics()
settings = BroadcastWorkerSettings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
# A send the missing key stops (KeyNotConfigured) is retried like a transient failure, and failed
# naming the setting when the key is still missing after the retries; nothing reaches Tencent.
rest = paced_client(settings, keys.current)


worker = BroadcastWorker(JobStore(settings.JOBS_TABLE), WorkQueue(settings.BROADCAST_QUEUE_URL), rest)
processor = BatchProcessor(event_type=EventType.SQS)


class TryLater(Exception):
    """Reports the item failed, for SQS to deliver again."""


def record_handler(batch: WorkBatch) -> Callable[[SQSRecord], None]:
    def handle(record: SQSRecord) -> None:
        # The SQS message id until the item is read, then its job's id: what the admin API answered
        # and the scheduler logs the job under.
        logger.set_correlation_id(record.message_id)
        item = WorkQueue.parse(record.body)
        logger.set_correlation_id(item.job_id)
        outcome = batch.handle(item, int(record.attributes.approximate_receive_count), record.receipt_handle)
        if outcome != "done":
            metrics.add_metric(
                name=BROADCAST_ITEM_SETTLED if outcome == "settled" else BROADCAST_ITEM_RETRIED,
                unit=MetricUnit.Count,
                value=1,
            )
        if outcome == "retry":
            raise TryLater(item.model_dump_json())

    return handle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    batch = WorkBatch(worker, lambda: context.get_remaining_time_in_millis() / 1000)
    return process_partial_response(
        event=event, record_handler=record_handler(batch), processor=processor, context=context
    )
