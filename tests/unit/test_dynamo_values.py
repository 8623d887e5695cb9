"""stores.dynamo: what a store writes through attrs() it reads back unchanged through plain(), numbers
as int when whole, and a map whose keys look like attribute types is still a map."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary
from hypothesis import given
from hypothesis import strategies as st

from timkit.stores.dynamo import attr, attrs, plain

KEYS = st.text(max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.text(max_size=20)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20
)


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_plain_reads_back_what_attrs_wrote(item: dict[str, Any]) -> None:
    assert plain(attrs(item)) == {name: value for name, value in item.items() if value is not None}


def test_numbers_are_int_when_whole_and_decimal_otherwise() -> None:
    read = plain({"a": {"N": "42"}, "b": {"N": "1e3"}, "c": {"N": "-1.50"}, "d": {"N": "12345678901234567890123"}})
    assert read == {"a": 42, "b": 1000, "c": Decimal("-1.50"), "d": 12345678901234567890123}
    assert [type(read[name]) for name in "abd"] == [int, int, int]


def test_a_map_with_type_names_for_keys_is_a_map() -> None:
    item = {"m": {"S": "not a string attribute", "N": {"S": "x"}}, "S": "a real string", "N": 5}
    assert plain(attrs(item)) == item


def test_sets_binary_and_null() -> None:
    item = {"ss": {"a", "b"}, "ns": {1, 2}, "bin": Binary(b"\x00\x01"), "null": None}
    assert attr(None) == {"NULL": True}
    assert plain({name: attr(value) for name, value in item.items()}) == item
