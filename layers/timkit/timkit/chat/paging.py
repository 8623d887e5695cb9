"""Paged listings in the shape the chat SDKs return: iterate for the items, ``by_page()`` for pages.

Page tokens are the shared nextToken form (:mod:`timkit.stores.paging`), bound to the listing
that gave them: a token of another listing is an InvalidToken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from timkit.models.chat import ChatPage
from timkit.stores import paging

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


def encode_token(listing: str, **values: str | int) -> str | None:
    return paging.encode_token({name: {"S": str(value)} for name, value in values.items()}, listing=listing)


def decode_token(token: str, listing: str, names: set[str]) -> dict[str, str]:
    """The values of a token :func:`encode_token` made for ``listing`` (only ``names`` in it)."""
    key = paging.decode_token(token, lambda values: set(values) <= names, listing=listing)
    return {name: value["S"] for name, value in (key or {}).items()}
