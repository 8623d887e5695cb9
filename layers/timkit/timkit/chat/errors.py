"""The thread API's errors (Tencent's own refusals stay :class:`timkit.tim.errors.TimApiError`)."""

from __future__ import annotations


class NotSupportedByTencent(Exception):
    """Tencent IM has no server-side equivalent of the operation (for this kind of thread); the
    message says what to use instead."""

    def __init__(self, operation: str, why: str, instead: str) -> None:
        self.operation = operation
        self.why = why
        self.instead = instead
        super().__init__(f"{operation}: {why}; {instead}")


class ThreadNotFound(LookupError):
    def __init__(self, thread_id: str, why: str = "no such thread") -> None:
        self.thread_id = thread_id
        super().__init__(f"{thread_id}: {why}")


class ChatMessageNotFound(LookupError):
    def __init__(self, message_id: str, why: str = "no such message in this thread") -> None:
        self.message_id = message_id
        super().__init__(f"{message_id}: {why}")


class InvalidChatRequest(ValueError):
    """A request the thread API refuses for its content; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class NotAParticipant(InvalidChatRequest):
    """A user named as the sender (or reader) of a one-to-one thread who is not one of its two users:
    a request of valid form the thread refuses (the HTTP API's 403 naming ``field``)."""


class IdempotencyConflict(ValueError):
    """The idempotency token was used for another request (another thread or message)."""

    def __init__(self) -> None:
        super().__init__("this idempotency token was used with another request")


class OperationInProgress(Exception):
    """Another attempt with the same idempotency token is under way; try again shortly."""

    def __init__(self) -> None:
        super().__init__("an attempt with this idempotency token is in progress; try again in a few seconds")
