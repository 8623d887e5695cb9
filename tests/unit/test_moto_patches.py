"""The local speed-ups of moto (local/moto_patches.py) keep moto's outcomes: transactions all or
nothing, queues that answer and hand out messages as before, requests routed to their service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import sqs_backends

from tests.moto_env import offline_aws

TABLE = "t"


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with offline_aws(monkeypatch):
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def items(db: Any) -> dict[str, dict[str, Any]]:
    return {i["sk"]["S"]: i for i in db.scan(TableName=TABLE)["Items"]}


def test_a_cancelled_transaction_changes_nothing(db: Any) -> None:
    db.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}})
    db.put_item(TableName=TABLE, Item={**key("c"), "n": {"N": "7"}})
    before = items(db)
    with pytest.raises(ClientError) as raised:
        db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("a"),
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": {**key("b"), "n": {"N": "2"}}}},
                {"Delete": {"TableName": TABLE, "Key": key("c")}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {**key("a2"), "n": {"N": "3"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == [
        "None",
        "None",
        "None",
        "ConditionalCheckFailed",
    ]
    assert items(db) == before


def test_a_transaction_that_succeeds_applies_every_action(db: Any) -> None:
    db.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}})
    db.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key("a"),
                    "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Put": {"TableName": TABLE, "Item": {**key("b"), "n": {"N": "2"}}}},
        ]
    )
    assert {sk: i["n"]["N"] for sk, i in items(db).items()} == {"a": "2", "b": "2"}


# ----------------------------------------------------------------------------- SQS


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with offline_aws(monkeypatch):
        yield boto3.client("sqs")


def attributes(sqs: Any, url: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_queue_attributes_all_and_one_by_one(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = attributes(sqs, dlq)["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(
        QueueName="work",
        Attributes={"VisibilityTimeout": "90", "RedrivePolicy": redrive, "KmsMasterKeyId": "alias/aws/sqs"},
    )["QueueUrl"]
    every = attributes(sqs, url)
    assert every["VisibilityTimeout"] == "90" and every["KmsMasterKeyId"] == "alias/aws/sqs"
    assert json.loads(every["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    assert every["ApproximateNumberOfMessages"] == "0" and "FifoQueue" not in every
    assert "KmsMasterKeyId" not in attributes(sqs, dlq) and "RedrivePolicy" not in attributes(sqs, dlq)
    for name, value in every.items():
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"] == {name: value}
    fifo = sqs.create_queue(QueueName="w.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    assert attributes(sqs, fifo)["FifoQueue"] == "true"
    assert attributes(sqs, fifo)["ContentBasedDeduplication"] == "false"
    # Creating a queue again with the same attributes is no conflict; with others it is.
    assert sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "90"})["QueueUrl"] == url
    with pytest.raises(ClientError):
        sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "30"})


def test_counts_follow_visible_in_flight_and_delayed_messages(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
    counts = attributes(sqs, url)
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
        counts["ApproximateNumberOfMessagesDelayed"],
    ) == ("2", "1", "1")
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in rest) == sorted({"a", "b", "c"} - {taken[0]["Body"]})
    # Handed back, it is available again at once.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == [taken[0]["Body"]]


def test_fifo_content_based_deduplication_still_holds(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="d.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert attributes(sqs, url)["ApproximateNumberOfMessages"] == "1"


def test_messages_past_retention_are_not_handed_out(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    sqs.send_message(QueueUrl=url, MessageBody="expired")
    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues["short"]
    queue._messages[1].sent_timestamp -= 61_000
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["kept"]


# ----------------------------------------------------------------------------- the server's routing


@pytest.mark.parametrize(
    "host, backend",
    [
        ("s3.amazonaws.com", "s3"),
        ("sqs.us-east-1.amazonaws.com", "sqs"),
        ("dynamodb.us-east-1.amazonaws.com", "dynamodb"),
        ("scheduler.us-east-1.amazonaws.com", "scheduler"),
        ("sqs", "sqs"),
        ("not-a-service.example", None),
        (None, None),
    ],
)
def test_requests_are_routed_by_host_every_time(host: str | None, backend: str | None) -> None:
    for _ in range(2):
        dispatcher = DomainDispatcherApplication(create_backend_app)
        assert [dispatcher.get_backend_for_host(host) for _ in range(3)] == [backend] * 3
