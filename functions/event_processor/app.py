"""Archives the callbacks the callback function queued (SQS batch, partial failures reported).

A record that fails (DynamoDB unavailable, a body the models reject) is reported back to SQS
alone; it is retried and, after the queue's maxReceiveCount, lands in the dead-letter queue.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from timkit.archive import Archiver
from timkit.config import Settings
from timkit.merger import MergerService
from timkit.models.callbacks import parse_callback
from timkit.stores.archive import ArchiveStore
from timkit.stores.mergers import MergerStore

logger = Logger()
metrics = Metrics()
settings = Settings.from_env()
archiver = Archiver(ArchiveStore(settings.ARCHIVE_TABLE))
mergers = MergerService(MergerStore(settings.MERGER_BUCKET, settings.MERGER_TABLE), settings.MERGER_RETENTION_DAYS)
processor = BatchProcessor(event_type=EventType.SQS)


def archive_record(record: SQSRecord) -> None:
    command = record.message_attributes["command"].string_value
    event = parse_callback(command, record.body)
    logger.set_correlation_id(event.identity)
    results = archiver.archive(event, record.body)
    for result in results:
        metrics.add_metric(
            name="Archived" if result == "stored" else "DuplicateIgnored", unit=MetricUnit.Count, value=1
        )
    # Also on a repeated delivery: storing is idempotent, and the first try may have stopped
    # between the archive and here.
    captured = mergers.capture(event)
    logger.info("callback archived", command=command, results=results, mergers=captured)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    return process_partial_response(event=event, record_handler=archive_record, processor=processor, context=context)
