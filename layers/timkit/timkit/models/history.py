"""What history returns: the entries of a conversation as the archive holds them (ids are
:mod:`timkit.models.conversations`'s)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel

from timkit.models.elements import MsgElement, dump_body
from timkit.stores.paging import TOKEN_PATTERN


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


SystemEventType = Literal[
    "thread_created",
    "participants_added",
    "participants_removed",
    "topic_updated",
    "info_updated",
    "thread_deleted",
]


class SystemEvent(_Camel):
    """Something that happened to the conversation rather than a message sent in it (a group's
    callbacks, docs/protocol.md §13). ``topic_updated`` is a change of the group's name (with or
    without other information); ``info_updated`` a change of its introduction, notification or
    face URL alone."""

    type: SystemEventType
    operator: str | None = None
    participants: list[str] = Field(default_factory=list)
    topic: str | None = None
    changes: dict[str, str] = Field(
        default_factory=dict,
        description="The group information that changed, by Tencent's field name (Name, Introduction, "
        "Notification, FaceUrl): the new values",
    )


class HistoryEntry(_Camel):
    """One message (or system event) as the archive holds it, with what later happened to it."""

    id: str
    conversation: str
    kind: Literal["message", "system"] = "message"
    sender: str | None = None
    time: Annotated[int, Field(description="When it was sent (or happened), Unix seconds")]
    seq: int | None = None
    body: list[MsgElement] = Field(default_factory=list, description="The current body: the edited one if edited")
    cloud_custom_data: str | None = None
    edited_at: Annotated[int | None, Field(description="When it was last edited, Unix seconds")] = None
    deleted_at: Annotated[
        int | None, Field(description="When it was recalled, Unix seconds (the body stays, for the record)")
    ] = None
    deleted_by: str | None = None
    system: SystemEvent | None = None

    @field_serializer("body")
    def _body_as_it_came(self, body: list[MsgElement]) -> list[dict[str, Any]]:
        # Only the fields the message had: nothing filled in by the models' defaults.
        return dump_body(body)


class HistoryPage(_Camel):
    conversation: str
    entries: list[HistoryEntry]
    next_token: str | None = None
    read_marks: dict[str, int] = Field(
        default_factory=dict, description="Per reader, the time up to which they have read (C2C read reports)"
    )


# Of the messages a backfill could not read, how many it names (the count has them all).
MAX_UNREADABLE_IDS = 100


class BackfillProgress(_Camel):
    """One call's share of the archive's backfill (messages archived before the history index)."""

    scanned: int = Field(default=0, description="Messages without a timeline this call looked at")
    updated: int = Field(default=0, description="Of those, the ones it put into the history index")
    unreadable: int = Field(default=0, description="Messages whose archived body these models cannot read")
    unreadable_ids: list[str] = Field(
        default_factory=list, max_length=MAX_UNREADABLE_IDS, description="Their ids (the first 100)"
    )
    next_token: str | None = Field(default=None, description="Where the next call goes on; absent when done")
    done: bool = False

    def note_unreadable(self, message_id: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_ids) < MAX_UNREADABLE_IDS:
            self.unreadable_ids.append(message_id)


class BackfillRequest(_Camel):
    next_token: Annotated[
        str | None,
        Field(max_length=2048, pattern=TOKEN_PATTERN, description="From the call before; absent to start"),
    ] = None
