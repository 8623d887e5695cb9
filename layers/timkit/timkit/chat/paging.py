"""Paged listings in the shape the chat SDKs return: iterate for the items, ``by_page()`` for pages."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from timkit.chat.errors import InvalidChatRequest
from timkit.models.chat import ChatPage

P = TypeVar("P", bound=ChatPage[Any])


class ChatPaged(Generic[P]):
    """``for item in paged`` walks every page; ``paged.by_page(token)`` yields the pages (each with
    ``items`` and ``next_token``), starting where ``token`` says. Nothing is fetched before use."""

    def __init__(self, fetch: Callable[[str | None], P]) -> None:
        self._fetch = fetch

    def by_page(self, continuation_token: str | None = None) -> Iterator[P]:
        token = continuation_token
        while True:
            page = self._fetch(token)
            yield page
            if not page.next_token:
                return
            token = page.next_token

    def __iter__(self) -> Iterator[Any]:
        for page in self.by_page():
            yield from page.items


def encode_token(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_token(token: str, kind: str) -> dict[str, Any]:
    """The values of a token :func:`encode_token` made for a listing of ``kind``; anything else is
    refused naming nextToken."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeError):
        values = None
    if not isinstance(values, dict) or values.get("k") != kind:
        raise InvalidChatRequest("nextToken", "nextToken is not one this listing gave")
    return values
