"""Archives the callbacks the callback function queued, then publishes each to the event bus
(SQS batch, partial failures reported).

A record that fails (DynamoDB or EventBridge unavailable, an event the bus refused, a body the
models reject) is reported back to SQS alone; it is retried and, after the queue's
maxReceiveCount, lands in the dead-letter queue. Archiving and publishing are both idempotent, so
a retry completes what is missing and repeats nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.archive import Archiver
from timkit.bus import EventPublisher
from timkit.config import EventProcessorSettings
from timkit.merger import MergerService
from timkit.models.callbacks import parse_callback
from timkit.stores.appkey import AppKeyStore, CaptureKeySecret
from timkit.stores.archive import ArchiveStore
from timkit.stores.bus import EventBusStore
from timkit.stores.fastpath import ENCODING_ATTRIBUTE, queued_body
from timkit.stores.mergers import MergerStore

logger = Logger()
metrics = Metrics()
settings = EventProcessorSettings.from_env()
archiver = Archiver(ArchiveStore(settings.ARCHIVE_TABLE))
mergers = MergerService(MergerStore(settings.MERGER_BUCKET, settings.MERGER_TABLE), settings.MERGER_RETENTION_DAYS)
publisher = EventPublisher(EventBusStore(settings.EVENT_BUS_NAME), settings.IDEMPOTENCY_TABLE, settings.TIM_SDKAPPID)
processor = BatchProcessor(event_type=EventType.SQS)

METRIC_NAMES = {
    "stored": "Archived",
    "duplicate": "DuplicateIgnored",
    "conflict": "ConflictingBody",
    "repeated_conflict": "DuplicateIgnored",
}


# Checked like the app's key (no empty or placeholder key), cached with the last good value kept.
capture_keys = AppKeyStore(
    settings.CAPTURE_SECRET_ID,
    settings.CONFIG_CACHE_SECONDS,
    logger,
    shape=CaptureKeySecret,
    variable="CAPTURE_SECRET_ID",
)


def capture_secret() -> bytes:
    return capture_keys.current().encode()


def archive_record(record: SQSRecord) -> None:
    command_attribute = record.message_attributes["command"]
    command = command_attribute.string_value if command_attribute else None
    if command is None:
        raise ValueError("queued callback without its command attribute")
    encoding = record.message_attributes[ENCODING_ATTRIBUTE]
    body = queued_body(record.body, encoding.string_value if encoding else None)
    event = parse_callback(command, body)
    logger.set_correlation_id(event.identity)
    # Captured first: the archived message records the keys. Both steps are idempotent, so a
    # repeated delivery (or a retry after a failure between them) completes what is missing.
    captured = mergers.capture(event, capture_secret)
    results = archiver.archive(event, body, captured)
    for result in results:
        metrics.add_metric(name=METRIC_NAMES[result], unit=MetricUnit.Count, value=1)
    if "conflict" in results:
        # The identity and where to look, never the body: it may be anyone's message, or forged.
        logger.warning(
            "another body for an archived message: kept beside it, the first unchanged",
            identity=event.identity,
            command=command,
        )
    logger.info("callback archived", command=command, results=results, mergers=captured)
    if "conflict" in results or "repeated_conflict" in results:
        return  # not the message: not published (timkit.bus)
    if publisher.publish(event, body):
        metrics.add_metric(name="Published", unit=MetricUnit.Count, value=1)
    elif not results:
        # Published before and not archived (timkit.archive.NOT_ARCHIVED): a repeat that changed nothing.
        metrics.add_metric(name=METRIC_NAMES["duplicate"], unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    publisher.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=archive_record, processor=processor, context=context)
