"""DynamoDB attribute values to and from plain Python values, by boto3's TypeSerializer and
TypeDeserializer, for every store built on boto3 (the callback fast path has its own, without
boto3: timkit.aws_json).

Numbers come back as ``int`` when they are whole (every number the stores write is), where
TypeDeserializer gives ``Decimal``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


class _Deserializer(TypeDeserializer):
    def _deserialize_n(self, value: str) -> int | Decimal:
        # Numbers read as they are: in one place, without walking every item again afterwards.
        try:
            return int(value)
        except ValueError:
            number: Decimal = super()._deserialize_n(value)  # type: ignore[misc]  # private: the stubs omit it
            return int(number) if number == number.to_integral_value() else number


_TO = TypeSerializer()
_FROM = _Deserializer()


def attr(value: Any) -> dict[str, Any]:
    """One value as a DynamoDB attribute value (None is NULL)."""
    return dict(_TO.serialize(value))


def attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item, key or ExpressionAttributeValues from plain values; None values are left out."""
    return {name: dict(_TO.serialize(value)) for name, value in values.items() if value is not None}


def put_if_absent(client: Any, table: str, item: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Write ``item`` unless one with its ``key`` attribute exists: None when this call wrote it, else
    the item that is there as plain values ({} when the condition failed on an item deleted since)."""
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression=f"attribute_not_exists({key})",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        return plain(exc.response.get("Item", {}))
    return None


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item's attributes as plain values."""
    deserialize = _FROM.deserialize
    # Strings are most of what the stores read (an archive page is hundreds of them): taken as they
    # are, without the generic dispatch (an attribute value has exactly one type key).
    return {name: attribute["S"] if "S" in attribute else deserialize(attribute) for name, attribute in item.items()}
