"""Stores the callback function writes to on its fast path (see :mod:`timkit.aws_json` for why
these do not use boto3): the events queue and the chatbot interrupt records."""

from __future__ import annotations

import time

from timkit.aws_json import AwsJsonClient


class EventQueue:
    """The SQS queue the after-send, bot, modify, recall and read-report callbacks go to."""

    def __init__(self, queue_url: str, client: AwsJsonClient | None = None) -> None:
        self._url = queue_url
        self._client = client

    def put(self, command: str, raw_body: str, received_at: int, timeout: float = 2.0) -> str:
        # The raw callback body travels untouched (fields the models do not know included);
        # the command rides along as a message attribute.
        if self._client is None:
            self._client = AwsJsonClient("sqs")
        reply = self._client.call(
            "SendMessage",
            {
                "QueueUrl": self._url,
                "MessageBody": raw_body,
                "MessageAttributes": {
                    "command": {"DataType": "String", "StringValue": command},
                    "received_at": {"DataType": "Number", "StringValue": str(received_at)},
                },
            },
            timeout=timeout,
        )
        return reply["MessageId"]


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

    def is_interrupted(self, bot: str, msg_key: str, timeout: float = 2.0) -> bool:
        if self._client is None:
            self._client = AwsJsonClient("dynamodb")
        reply = self._client.call(
            "GetItem",
            {"TableName": self._table, "Key": {"pk": {"S": interrupt_key(bot, msg_key)}}, "ConsistentRead": True},
            timeout=timeout,
        )
        return "Item" in reply
