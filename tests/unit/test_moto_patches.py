"""The local speed-up of moto's TransactWriteItems keeps its all-or-nothing outcome."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.moto_env import offline_aws

TABLE = "t"


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with offline_aws(monkeypatch):
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
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
        db.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key("a"), "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": TABLE, "Item": {**key("b"), "n": {"N": "2"}}}},
            {"Delete": {"TableName": TABLE, "Key": key("c")}},
            {"Put": {"TableName": TABLE, "Item": {**key("a2"), "n": {"N": "3"}},
                     "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == [
        "None", "None", "None", "ConditionalCheckFailed"]
    assert items(db) == before


def test_a_transaction_that_succeeds_applies_every_action(db: Any) -> None:
    db.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}})
    db.transact_write_items(TransactItems=[
        {"Update": {"TableName": TABLE, "Key": key("a"), "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": TABLE, "Item": {**key("b"), "n": {"N": "2"}}}},
    ])
    assert {sk: i["n"]["N"] for sk, i in items(db).items()} == {"a": "2", "b": "2"}
