"""nextToken: a DynamoDB query's LastEvaluatedKey handed to the caller, and checked when it comes back.

A token is the key as base64url JSON. It is opaque to callers, and never trusted: DynamoDB answers a
start key of another shape, table or range with an error, so each query says which keys it takes
(``valid``), and a token may be bound to values of the query it came from (``bound``: a direction,
a conversation) that must be the same when it is used.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

# The form of every token encode_token writes (padded base64url), as the APIs' documents state it: a
# token of another form is refused as the documents say (a 422), one of this form that this module did
# not write (or wrote for another query) is an InvalidToken (the APIs' 404: no such page).
TOKEN_PATTERN = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$"  # noqa: S105 - a pattern
# Bound values travel beside the key's attributes under names no attribute of ours has.
_BOUND = "@"


class InvalidToken(ValueError):
    def __init__(self) -> None:
        super().__init__("nextToken is not one this API gave")


def encode_token(key: dict[str, Any] | None, **bound: str) -> str | None:
    if not key:
        return None
    document = {**key, **{_BOUND + name: {"S": value} for name, value in bound.items()}}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def decode_token(token: str | None, valid: Callable[[dict[str, str]], bool], **bound: str) -> dict[str, Any] | None:
    """The query's ExclusiveStartKey from a nextToken (None for none). ``valid`` checks its (string)
    attributes belong to this query; ``bound`` names the values it must have been given with."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise InvalidToken() from None
    if not isinstance(key, dict) or not all(
        isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in key.values()
    ):
        raise InvalidToken()
    for name, value in bound.items():
        if key.pop(_BOUND + name, None) != {"S": value}:
            raise InvalidToken()
    if not valid({name: value["S"] for name, value in key.items()}):
        raise InvalidToken()
    return key
