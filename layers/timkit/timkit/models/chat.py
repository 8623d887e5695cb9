"""What the thread API (:mod:`timkit.chat`) returns, in the shape Python chat SDKs use.

Names follow Azure Communication Services' chat SDK where they fit (``ChatThreadProperties``,
``ChatMessage``, ``ChatMessageContent``, ``ChatParticipant``, ``ChatMessageReadReceipt``,
``ChatError``, ``CreateChatThreadResult``). Ids are the shared ones of
:mod:`timkit.models.history`: a thread id is a conversation id (``group:<GroupId>`` or
``c2c:<user>:<user>``), a message id is the archive's identity of the message
(``group:<GroupId>:<MsgSeq>`` or ``c2c:<MsgKey>``).

In JSON (the admin API) the names are camelCase; in Python, snake_case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from timkit.models.elements import MsgElement

# A message type a sender may give: "text" goes out as a TIMTextElem, anything else (e.g. "html"
# or a kind of the app's own) as a TIMCustomElem with the content in Data (see timkit.chat).
MESSAGE_TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$"
MessageType = Annotated[str, Field(pattern=MESSAGE_TYPE_PATTERN, max_length=32)]
# The types of system events in a thread (their ChatMessage.type), Azure's names where it has one.
SYSTEM_TYPES = {
    "thread_created": "threadCreated",
    "participants_added": "participantAdded",
    "participants_removed": "participantRemoved",
    "topic_updated": "topicUpdated",
    "info_updated": "infoUpdated",
    "thread_deleted": "threadDeleted",
}
# Metadata: string keys and values, as the SDKs have it; the whole envelope must fit
# CloudCustomData, which counts in the message's 12 KB (docs/protocol.md §6.2).
MAX_METADATA_ENTRIES = 32
MetadataKey = Annotated[str, Field(min_length=1, max_length=64)]
MetadataValue = Annotated[str, Field(max_length=1024)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_ENTRIES)]
HistorySource = Literal["archive", "tencent"]


class ChatModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class ChatError(ChatModel):
    """Why something failed for one target (a participant): Tencent's code as a string, its words."""

    code: str
    message: str
    target: str | None = None


class ChatParticipant(ChatModel):
    identifier: str
    display_name: str | None = None
    # Azure lets a participant see history from a time on; Tencent has no such setting: given, it
    # is refused (NotSupportedByTencent).
    share_history_time: datetime | None = None
    # Tencent's role in a group: "Owner", "Admin" or "Member" (None in a one-to-one thread).
    role: str | None = None
    joined_on: datetime | None = None


class ChatThreadProperties(ChatModel):
    id: str
    kind: Literal["group", "c2c"]
    topic: str | None = None
    created_on: datetime | None = None
    created_by: str | None = None
    last_message_received_on: datetime | None = None
    participant_count: int | None = None


class ChatThreadItem(ChatModel):
    id: str
    topic: str | None = None
    last_message_received_on: datetime | None = None


class CreateChatThreadResult(ChatModel):
    chat_thread: ChatThreadProperties
    # The participants that could not be added, each with Tencent's code.
    errors: list[ChatError] = Field(default_factory=list)


class AddChatParticipantsResult(ChatModel):
    added: list[str] = Field(default_factory=list)
    errors: list[ChatError] = Field(default_factory=list)


class ChatMessageContent(ChatModel):
    message: str | None = None
    topic: str | None = None
    participants: list[ChatParticipant] | None = None
    initiator: str | None = None


class ChatMessage(ChatModel):
    id: str
    # "text", the sender's own type ("html", ...), "custom" for a custom message sent by other
    # means, the element type for other elements ("TIMImageElem"), or a system type (SYSTEM_TYPES).
    type: str
    sequence_id: str | None = None
    content: ChatMessageContent = Field(default_factory=ChatMessageContent)
    sender: str | None = None
    sender_display_name: str | None = None
    created_on: datetime
    edited_on: datetime | None = None
    deleted_on: datetime | None = None
    # Recalled; deleted_on says when, where the source knows it.
    deleted: bool = False
    metadata: dict[str, str] | None = None
    # As Tencent holds it: the envelope above and whatever else the app keeps there.
    cloud_custom_data: str | None = None
    # The message body as Tencent holds it (empty for system events and recalled messages).
    body: list[MsgElement] = Field(default_factory=list)


class ChatMessageReadReceipt(ChatModel):
    sender: str
    chat_message_id: str
    # When, where the source knows it (a one-to-one read mark); Tencent's group receipts have no time.
    read_on: datetime | None = None


T = TypeVar("T")


class ChatPage(ChatModel, Generic[T]):
    """One page of a listing; ``next_token`` (None on the last page) continues it."""

    items: list[T]
    next_token: str | None = None


class ChatMessagesPage(ChatPage[ChatMessage]):
    # Where the page was read: the bundle's archive, or Tencent's history APIs.
    source: HistorySource


class ChatThreadsPage(ChatPage[ChatThreadItem]):
    pass


class ChatParticipantsPage(ChatPage[ChatParticipant]):
    pass


class ChatReadReceiptsPage(ChatPage[ChatMessageReadReceipt]):
    source: HistorySource
