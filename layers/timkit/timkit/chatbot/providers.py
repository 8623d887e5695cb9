"""One streaming interface over the team's model; implementations below (contract first).

A provider turns a conversation into a :class:`TextStream` of text deltas. Closing the stream closes
the connection to the model, so that generation (and what it costs) stops. Every failure is a
:class:`ProviderError` whose ``kind`` says what went wrong; its message is for logs (it never holds a
key, a stack trace or the provider's response body), and ``user_text`` is the short, safe text the
user is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

FailureKind = Literal["timeout", "throttled", "auth", "content_filter", "broken", "config", "unavailable"]


class ChatMessage(BaseModel):
    """One turn of the conversation sent as context (the system prompt travels apart)."""

    model_config = ConfigDict(frozen=True)

    role: Literal["user", "assistant"]
    content: str


class ProviderError(Exception):
    """The model could not answer (or stopped answering)."""

    USER_TEXT: dict[str, str] = {
        "timeout": "The assistant took too long to answer. Please try again.",
        "throttled": "The assistant is busy right now. Please try again in a moment.",
        "auth": "The assistant is not available right now.",
        "content_filter": "The assistant cannot answer this request.",
        "broken": "The answer was interrupted. Please try again.",
        "config": "The assistant is not available right now.",
        "unavailable": "The assistant is not available right now.",
    }

    def __init__(self, kind: FailureKind, detail: str) -> None:
        self.kind: FailureKind = kind
        super().__init__(f"{kind}: {detail}")

    @property
    def user_text(self) -> str:
        return self.USER_TEXT[self.kind]


class TextStream(Protocol):
    """Text deltas as the model produces them; iteration raises :class:`ProviderError` on failure.
    ``close()`` (safe to call from another thread, and more than once) stops generation."""

    def __iter__(self) -> Iterator[str]: ...

    def close(self) -> None: ...


class Provider(Protocol):
    def stream(
        self,
        *,
        system: str,
        messages: list[ChatMessage],
        model: str,
        temperature: float,
        max_tokens: int,
        timeout: float,
    ) -> TextStream:
        """Start generating. ``timeout``: seconds to wait for the first byte and between bytes."""
        ...
