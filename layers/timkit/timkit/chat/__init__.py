"""Chat threads over Tencent IM, in the shape Python chat SDKs use (Azure Communication Services'
``ChatClient`` / ``ChatThreadClient``)::

    chat = ChatClient(rest, history=HistoryService(...), tokens=ChatTokenStore(table))
    created = chat.create_chat_thread("Release 4.2", ["alice", "bob", "carol"], idempotency_token="t-1")
    thread = chat.get_chat_thread_client(created.chat_thread.id)          # "group:thr-..."
    message_id = thread.send_message("Shipping tonight", sender="alice", metadata={"ticket": "42"})
    for message in thread.list_messages():                                # newest first
        ...

A thread id is a conversation id of :mod:`timkit.models.history` (``group:<GroupId>``, or
``c2c:<a>:<b>`` for a one-to-one chat); a message id is the archive's identity of the message
(``group:<GroupId>:<MsgSeq>``, ``c2c:<MsgKey>``). Which Tencent API each method calls, and what
is offered where Tencent has no equivalent (:class:`NotSupportedByTencent`), is in the README's
"Conversations (thread API)" table; how content, metadata and ids map, in :mod:`timkit.chat.mapping`.

**Idempotency.** A create or a send given an ``idempotency_token`` happens once, however an
earlier attempt with the token ended.

* Create: the thread's GroupId is derived from the token (``thr-`` + 40 hex digits), so a repeat
  cannot make a second group: ``create_group`` answers 10021/10025 (the id is used) and the repeat
  goes on to add the participants the first attempt may not have added.
* Send: the ``Random`` (and a one-to-one ``MsgSeq``) is derived from the thread and the token, so
  Tencent itself drops a repeat it sees within its window (group: same sender and Random within 5
  minutes; one-to-one: about a second, docs/protocol.md §6.4). Beyond that window a record
  (:class:`timkit.stores.chat_tokens.ChatTokenStore`) holds the token's state.

The record is written, conditionally, before anything is sent: ``pending`` with a lease of
LEASE_SECONDS; ``done`` with the result (the message id; the create's per-participant errors)
once Tencent answered. A repeat that finds ``done`` answers the result and calls nothing (a
thread deleted since is a ThreadNotFound, not a new thread); one that finds a live lease is
OperationInProgress; one that finds a pending record whose attempt has ended (the lease
released on an error, or run out after a crash) takes it over and recovers. The crash windows:

1. Before the record is written: nothing was sent; the repeat starts afresh.
2. Record written, crash before the send reached Tencent: the repeat looks for a message from the
   sender with the token's Random in Tencent's history since the record's time, finds none, and
   sends (with the same Random).
3. Tencent stored the message, the answer was lost or the process died before ``done`` was
   written: the repeat finds the message in the history by sender and Random and records its id;
   nothing is sent again. (Should the history lookup miss it, a group resend within 5 minutes is
   still dropped by Tencent's Random check.)
4. ``done`` written: the repeat answers the id.

A create is simpler: its group id is its record at Tencent, so windows 2 and 3 both end in
``create_group`` answering "used" and the members being completed; the token record only keeps a
deleted thread from coming back and keeps the first answer's errors. Without a token store a
token still fixes the GroupId and the Random (windows 2-3 rely on Tencent's dedupe alone).
"""

from timkit.chat.client import ChatClient, ChatThreadClient
from timkit.chat.errors import (
    ChatMessageNotFound,
    IdempotencyConflict,
    InvalidChatRequest,
    NotAParticipant,
    NotSupportedByTencent,
    OperationInProgress,
    ThreadNotFound,
)
from timkit.chat.paging import ChatPaged

__all__ = [
    "ChatClient",
    "ChatMessageNotFound",
    "ChatPaged",
    "ChatThreadClient",
    "IdempotencyConflict",
    "InvalidChatRequest",
    "NotAParticipant",
    "NotSupportedByTencent",
    "OperationInProgress",
    "ThreadNotFound",
]
