"""SQS event sources: what Lambda's pollers do for the template's SQS events, against moto."""

from __future__ import annotations

import base64
import json
import logging
import threading
import traceback
from typing import Any

from moto.sqs.models import sqs_backends

from local.functions import LocalFunction
from local.template import ACCOUNT_ID, REGION, SqsSource

log = logging.getLogger("local")

# Lambda retries a failed message when its visibility timeout runs out (minutes for the template's
# queues). Locally a failed message is visible again after this, so retries and the redrive to the
# dead-letter queue take seconds; unless the function set the message's visibility itself, which holds.
RETRY_DELAY_S = 1
# Lambda retries a failed asynchronous invocation (EventBridge's to a Lambda target) twice by default.
ASYNC_RETRIES = 2


class QueuePoller:
    """Loops receiving from one queue (``loops`` of them at once) and handing what they get to ``process``."""

    def __init__(
        self, function: LocalFunction, name: str, queue_url: str, sqs: Any, batch_size: int, loops: int
    ) -> None:
        self.function = function
        self.queue_url = queue_url
        self._name = name
        self._sqs = sqs
        self._batch_size = batch_size
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{n}", daemon=True) for n in range(loops)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def signal_stop(self) -> None:
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    # One receive gives at most 10; Lambda's larger batches, gathered over its batching
                    # window, are not reproduced.
                    MaxNumberOfMessages=min(self._batch_size, 10),
                    WaitTimeSeconds=1,  # short, so stop() returns quickly
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if messages and not self._stopping.is_set():
                    self.process(messages)
            except Exception:
                if self._stopping.is_set():
                    break
                log.error("%s failed:\n%s", self._name, traceback.format_exc())
                self._stopping.wait(1)

    def process(self, messages: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class SqsPoller(QueuePoller):
    """Lambda's poller for one SQS event source: as many loops as the source's MaximumConcurrency (one
    without it), each receiving a batch and invoking the function with it, so that many invocations run
    at once in as many workers."""

    def __init__(
        self,
        function: LocalFunction,
        source: SqsSource,
        queue_url: str,
        queue_arn: str,
        sqs: Any,
        retry_delay_s: int = RETRY_DELAY_S,
    ) -> None:
        super().__init__(
            function,
            f"sqs-poller-{function.spec.logical_id}-{source.queue_id}",
            queue_url,
            sqs,
            source.batch_size,
            source.pollers,
        )
        self.source = source
        self.queue_arn = queue_arn
        self._retry_delay_s = retry_delay_s

    def process(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        batch = {m["MessageId"] for m in messages}
        received_visibility = self._visible_at(messages)
        try:
            result = self.function.invoke(event)
            failed = batch_failures(result, batch) if self.source.report_failures else set()
            if failed is None:
                log.error(
                    "%s returned an invalid response %r: the whole batch is retried",
                    self.function.spec.logical_id,
                    result,
                )
                failed = batch
        except Exception:
            # A crashed worker too: Lambda retries its batch once the visibility timeout runs out.
            log.error(
                "%s failed on a batch of %d from %s:\n%s",
                self.function.spec.logical_id,
                len(messages),
                self.source.queue_id,
                traceback.format_exc(),
            )
            failed = batch
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        visibility = self._visible_at(retry)
        untouched = [m for m in retry if visibility.get(m["MessageId"]) == received_visibility.get(m["MessageId"])]
        if untouched:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self._retry_delay_s}
                    for i, m in enumerate(untouched)
                ],
            )

    def _visible_at(self, messages: list[dict[str, Any]]) -> dict[str, float]:
        """When each message is visible again, by message id, from moto's state (moto runs in this process).

        The one read of moto's private state here: SQS has no API that shows a message in flight, nor
        does moto's public ``Queue.messages``. tests/unit/test_moto_upstream.py pins what this relies on."""
        if not messages:
            return {}
        queue = sqs_backends[ACCOUNT_ID][REGION].get_queue(self.queue_url.rsplit("/", 1)[1])
        handles = {m["ReceiptHandle"]: m["MessageId"] for m in messages}
        return {
            handles[message.receipt_handle]: message.visible_at
            for message in list(queue._messages)
            if message.receipt_handle in handles
        }


def batch_failures(result: Any, batch: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures result leaves in the queue; None if it is invalid."""
    if not result:
        return set()
    items = result.get("batchItemFailures") if isinstance(result, dict) else [None]
    if not items:
        return set()
    ids = [i.get("itemIdentifier") if isinstance(i, dict) else None for i in items]
    # Lambda fails the whole batch on an unknown, empty or malformed identifier.
    return set(ids) if all(isinstance(i, str) and i in batch for i in ids) else None  # type: ignore[arg-type]


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received message as a record of Lambda's SQS event."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # The event spells the attribute's fields in camelCase, with binary values base64-encoded.
    attr: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attr["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attr["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attr


class EventTargetPoller(QueuePoller):
    """EventBridge delivering a rule's events to a Lambda target: an asynchronous invocation per event,
    retried twice on an error (Lambda's default for asynchronous invocations), then dropped with an error
    logged. moto matches the rule's pattern and delivers to SQS targets, not to Lambda: the local stack
    gives the rule a queue in the function's place, and this poller takes the events from it."""

    def __init__(
        self, function: LocalFunction, rule: str, queue_url: str, sqs: Any, retry_delay_s: int = RETRY_DELAY_S
    ) -> None:
        super().__init__(function, f"events-{rule}-{function.spec.logical_id}", queue_url, sqs, 10, 1)
        self.rule = rule
        self._retry_delay_s = retry_delay_s

    def process(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            event = json.loads(message["Body"])
            # moto's events lack the account EventBridge's carry.
            event.setdefault("account", ACCOUNT_ID)
            try:
                self.function.invoke(event)
            except Exception:
                attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if attempts <= ASYNC_RETRIES:
                    log.warning(
                        "%s failed on an event of rule %s (attempt %d), retrying:\n%s",
                        self.function.spec.logical_id,
                        self.rule,
                        attempts,
                        traceback.format_exc(),
                    )
                    self._sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self._retry_delay_s,
                    )
                    continue
                log.error(
                    "%s failed on an event of rule %s %d times: dropped:\n%s",
                    self.function.spec.logical_id,
                    self.rule,
                    attempts,
                    traceback.format_exc(),
                )
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
