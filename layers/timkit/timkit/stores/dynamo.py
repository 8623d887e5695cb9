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

_TO = TypeSerializer()
_FROM = TypeDeserializer()


def attr(value: Any) -> dict[str, Any]:
    """One value as a DynamoDB attribute value (None is NULL)."""
    return _TO.serialize(value)


def attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item, key or ExpressionAttributeValues from plain values; None values are left out."""
    return {name: _TO.serialize(value) for name, value in values.items() if value is not None}


def value(attribute: Mapping[str, Any]) -> Any:
    """One attribute value as a plain value."""
    return _whole(_FROM.deserialize(attribute))


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item's attributes as plain values."""
    return {name: value(attribute) for name, attribute in item.items()}


def _whole(found: Any) -> Any:
    if isinstance(found, Decimal):
        return int(found) if found == found.to_integral_value() else found
    if isinstance(found, dict):
        return {k: _whole(v) for k, v in found.items()}
    if isinstance(found, list):
        return [_whole(v) for v in found]
    return found
