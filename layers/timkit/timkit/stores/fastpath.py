"""Stores the callback function writes to on its fast path (see :mod:`timkit.aws_json` for why
these do not use boto3): the events queue and the chatbot interrupt records."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from timkit.aws_json import AwsJsonClient
from timkit.models.chatbot import Turn

# Any character but those SQS accepts in a message body (#x9 | #xA | #xD | #x20 to #xD7FF | #xE000
# to #xFFFD | #x10000 to #x10FFFF); it refuses a body holding one, e.g. U+FFFE, U+FFFF or most
# control characters. https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The message attribute saying how a body that SQS would refuse was encoded.
ENCODING_ATTRIBUTE = "encoding"
BASE64 = "base64"


def sqs_body(raw_body: str) -> tuple[str, str | None]:
    """``raw_body`` as SQS takes it, and its encoding: itself (None) when SQS accepts every
    character in it, else base64 of its UTF-8, so that any body is queued as it came."""
    if _NOT_SQS_TEXT.search(raw_body) is None:
        return raw_body, None
    return base64.b64encode(raw_body.encode("utf-8", "surrogatepass")).decode("ascii"), BASE64


def queued_body(body: str, encoding: str | None) -> str:
    """The raw body back from a queued message (see :func:`sqs_body`)."""
    if encoding is None:
        return body
    if encoding == BASE64:
        return base64.b64decode(body, validate=True).decode("utf-8", "surrogatepass")
    raise ValueError(f"unknown body encoding {encoding!r}")


class TurnQueue:
    """The chatbot's FIFO queue: bot turns, in order per bot and conversation, one per user message
    (SQS drops a repeat of a deduplication id for five minutes; the worker's claim does the rest)."""

    def __init__(self, queue_url: str, client: AwsJsonClient | None = None) -> None:
        self._url = queue_url
        self._client = client

    def put(self, turn: Turn, timeout: float = 2.0) -> str:
        if self._client is None:
            self._client = AwsJsonClient("sqs")
        body, encoding = sqs_body(turn.model_dump_json())
        request: dict[str, Any] = {
            "QueueUrl": self._url,
            "MessageBody": body,
            "MessageGroupId": turn.queue_group,
            "MessageDeduplicationId": turn.dedupe_id,
        }
        if encoding is not None:
            request["MessageAttributes"] = {ENCODING_ATTRIBUTE: {"DataType": "String", "StringValue": encoding}}
        return str(self._client.call("SendMessage", request, timeout=timeout)["MessageId"])


class EventQueue:
    """The SQS queue the after-send, bot, modify, recall and read-report callbacks go to."""

    def __init__(self, queue_url: str, client: AwsJsonClient | None = None) -> None:
        self._url = queue_url
        self._client = client

    def put(self, command: str, raw_body: str, received_at: int, timeout: float = 2.0) -> str:
        # The raw callback body travels untouched (fields the models do not know included), encoded
        # only when SQS would refuse it; the command rides along as a message attribute.
        if self._client is None:
            self._client = AwsJsonClient("sqs")
        body, encoding = sqs_body(raw_body)
        attributes = {
            "command": {"DataType": "String", "StringValue": command},
            "received_at": {"DataType": "Number", "StringValue": str(received_at)},
        }
        if encoding is not None:
            attributes[ENCODING_ATTRIBUTE] = {"DataType": "String", "StringValue": encoding}
        reply = self._client.call(
            "SendMessage",
            {"QueueUrl": self._url, "MessageBody": body, "MessageAttributes": attributes},
            timeout=timeout,
        )
        return str(reply["MessageId"])


def interrupt_key(bot: str, msg_key: str) -> str:
    return f"interrupt#{bot}#{msg_key}"


class InterruptStore:
    """Chatbot interrupts (``src`` 22) by bot and by the MsgKey of the bot's streaming message;
    the bot worker reads them to stop streaming. Items expire through DynamoDB TTL."""

    def __init__(self, table: str, ttl_seconds: int, client: AwsJsonClient | None = None) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._client = client

    def record(self, bot: str, user: str, msg_key: str, at: int | None = None, timeout: float = 2.0) -> None:
        if self._client is None:
            self._client = AwsJsonClient("dynamodb")
        now = int(time.time()) if at is None else at
        self._client.call(
            "PutItem",
            {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": interrupt_key(bot, msg_key)},
                    "bot": {"S": bot},
                    "user": {"S": user},
                    "msg_key": {"S": msg_key},
                    "interrupted_at": {"N": str(now)},
                    "expires_at": {"N": str(now + self._ttl)},
                },
            },
            timeout=timeout,
        )
