"""Per-second call counters in DynamoDB, shared by every concurrent Lambda (the rate limiter's store)."""

from __future__ import annotations

from typing import Any

import boto3

from timkit.stores.dynamo import attrs

# Counters outlive their second only long enough for clocks that are a little apart; TTL removes them.
KEEP_SECONDS = 120


class RateBuckets:
    def __init__(self, table: str, dynamodb: Any | None = None) -> None:
        self._table = table
        self._dynamodb = dynamodb or boto3.client("dynamodb")

    def take(self, name: str, second: int, budget: int) -> bool:
        """Counts one call in ``name``'s window for ``second`` unless it already holds ``budget``:
        True when the call may go out. One conditional atomic update: concurrent takers never
        overshoot the budget together."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=attrs({"pk": f"{name}#{second}"}),
                UpdateExpression="ADD n :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(n) OR n < :budget",
                ExpressionAttributeValues=attrs({":one": 1, ":budget": budget, ":expires": second + KEEP_SECONDS}),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True
