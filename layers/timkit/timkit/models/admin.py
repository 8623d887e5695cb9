"""The admin API's requests and answers: the contract its OpenAPI document is generated from.

JSON names are camelCase, like the merger API; the Tencent wire models stay in ``models.rest``.
Every limit is a constraint here, so that a request over it is a 422 naming the field.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    Strict,
    model_validator,
)
from pydantic.alias_generators import to_camel

from timkit.models.callbacks import GroupAtItem
from timkit.models.chat import MessageType, Metadata
from timkit.models.elements import (
    MAX_BODY_BYTES,
    CustomElem,
    FaceElem,
    FileElem,
    ImageElem,
    LocationElem,
    SoundElem,
    TextElem,
    VideoFileElem,
    body_size,
    strictly,
)
from timkit.models.messages import Message, SendOptions
from timkit.models.rest import MAX_ADD_MEMBERS, GroupName, PushInfo, RobotId, UserId
from timkit.models.rest import unique_ids as _unique
from timkit.schedule import parse_expression

# The element types REST send APIs take (docs/protocol.md §3): a merger, a stream or an unknown element is
# refused, naming the element. (The OpenAPI document lists these types only.)
RestElement = Annotated[
    TextElem | LocationElem | FaceElem | CustomElem | SoundElem | ImageElem | FileElem | VideoFileElem,
    Field(discriminator="MsgType"),
]
MAX_BOT_FRIENDS_PER_REQUEST = 5000
MAX_MESSAGE_RECIPIENTS = 5000
MAX_BROADCAST_GROUPS = 5000
MAX_PAGE = 500
MAX_GROUP_ID_BYTES = 48


def _group_id(value: str) -> str:
    if len(value.encode()) > MAX_GROUP_ID_BYTES:
        raise ValueError(f"a group ID is at most {MAX_GROUP_ID_BYTES} bytes (UTF-8)")
    return value


# Custom group IDs are ≤ 48 bytes (docs/protocol.md §6.2), counted in UTF-8; Tencent's own are shorter. (max_length
# counts characters; the bytes are checked after, and the document states them as the format tim-group-id.)
GroupId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_GROUP_ID_BYTES,
        pattern=r"^[^\x00-\x1f]+$",
        json_schema_extra={"format": "tim-group-id"},
    ),
    AfterValidator(_group_id),
]


# A JSON boolean, not 0/1 or "true": the published schema says boolean, and a broadcast to all
# groups must not start from a number that happened to be truthy.
Flag = Annotated[bool, Strict()]


# What _unique checks, in the document (with each list's Field).
UNIQUE_ITEMS = {"uniqueItems": True}


def given(name: str) -> dict[str, Any]:
    """JSON Schema: field ``name`` (its JSON name) is there and not null: how the models below tell a
    field given from one left out (None)."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def exactly_one(*names: str) -> dict[str, Any]:
    """JSON Schema: exactly one of the fields is given (see :func:`given`)."""
    return {"oneOf": [given(name) for name in names]}


def option(rule: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema: ``options`` is there and meets ``rule``."""
    return {"required": ["options"], "properties": {"options": rule}}


def option_is(name: str, value: Any) -> dict[str, Any]:
    """JSON Schema: option ``name`` is given as ``value``."""
    return option({"required": [name], "properties": {name: {"const": value}}})


# Options.group_conflict, in the document: what a group send cannot carry.
NO_GROUP_CONFLICT: dict[str, Any] = {
    "not": {"allOf": [option_is("onlineOnly", True), option_is("excludedFromContentModeration", True)]}
}


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- bot friends


class BotFriendsRequest(ApiModel):
    user_ids: Annotated[
        list[UserId],
        Field(min_length=1, max_length=MAX_BOT_FRIENDS_PER_REQUEST, json_schema_extra=UNIQUE_ITEMS),
        AfterValidator(_unique),
    ]
    # None: now (200, the results); else a job (202), as a broadcast's.
    schedule: Schedule | None = None


class ScheduledFriends(ApiModel):
    """What a scheduled friends job keeps to run: the bot and its users."""

    bot_id: RobotId
    user_ids: list[UserId]


class FriendResult(ApiModel):
    user_id: str
    # "added" now, "already" friends before (no call changed anything), or "failed" with Tencent's code.
    result: Literal["added", "already", "failed"]
    code: int = 0


class BotFriendsResponse(ApiModel):
    bot_id: str
    added: int
    already: int
    failed: int
    results: list[FriendResult]


# ----------------------------------------------------------------------------- robots


def _url_text(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 500:
        raise ValueError("a URL of at most 500 characters")
    return value


class RobotCreateRequest(ApiModel):
    robot_id: RobotId
    nick: Annotated[str, Field(max_length=64)] | None = None
    # The length of the URL as given (pydantic's own limit counts it normalised); the format http-url: an
    # http(s) URL as the WHATWG URL standard reads it, which JSON Schema's uri is not.
    face_url: (
        Annotated[
            HttpUrl,
            BeforeValidator(_url_text),
            Field(json_schema_extra={"format": "http-url", "maxLength": 500}),
        ]
        | None
    ) = None


class RobotList(ApiModel):
    robots: list[str]


class Robot(ApiModel):
    robot_id: str


# ----------------------------------------------------------------------------- messages


def _rest_body(body: list[RestElement]) -> list[RestElement]:
    if (size := body_size(list(body))) > MAX_BODY_BYTES:
        raise ValueError(f"the message is {size} bytes; Tencent's limit is {MAX_BODY_BYTES} (12 KB)")
    return body


# What _mentions checks, in the document: each item is @all (flag 1) or names one member (flag 0 or left out).
_MENTION_RULES = {
    "anyOf": [
        {"required": ["GroupAtAllFlag"], "properties": {"GroupAtAllFlag": {"const": 1}}},
        {
            "required": ["GroupAt_Account"],
            "properties": {"GroupAtAllFlag": {"const": 0}, "GroupAt_Account": {"type": "string", "minLength": 1}},
        },
    ]
}


def _mention_schema(schema: dict[str, Any]) -> None:
    schema["items"] = {"allOf": [schema["items"], _MENTION_RULES]}


def _mentions(items: list[GroupAtItem]) -> list[GroupAtItem]:
    # Tencent refuses the whole message otherwise (docs/protocol.md §5.5): for a broadcast, in every group.
    for index, item in enumerate(items):
        if item.GroupAtAllFlag not in (0, 1):
            raise ValueError(f"item {index}: GroupAtAllFlag is 1 (@all) or 0 (one member)")
        if item.GroupAtAllFlag == 0 and not item.GroupAt_Account:
            raise ValueError(f"item {index}: GroupAt_Account names the member when GroupAtAllFlag is 0")
    return items


class Options(SendOptions):
    """The send options of the client SDK that exist server-side, in the admin API's camelCase."""

    model_config = ApiModel.model_config

    offline_push: Annotated[PushInfo | None, strictly(PushInfo | None)] = None


MsgBodyIn = Annotated[list[RestElement], Field(min_length=1)]
Mentions = Annotated[list[GroupAtItem], Field(max_length=30)]


class Outgoing(ApiModel):
    """A message to send: its body (and @-mentions for groups), sender and options."""

    msg_body: Annotated[MsgBodyIn, strictly(MsgBodyIn), AfterValidator(_rest_body)]
    group_at_info: (
        Annotated[Mentions, Field(json_schema_extra=_mention_schema), strictly(Mentions), AfterValidator(_mentions)]
        | None
    ) = None
    # Defaults to the app admin the REST calls are made as.
    from_account: UserId | None = Field(default=None, alias="from")
    options: Options = Options()

    def message(self) -> Message:
        return Message(body=list(self.msg_body), at_info=self.group_at_info)


class MessageRequest(Outgoing):
    # _one_destination, in the document.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                exactly_one("toUser", "toUsers", "toGroup"),
                # An empty groupAtInfo mentions no one: it goes with any destination.
                {
                    "anyOf": [
                        {"not": {"required": ["groupAtInfo"], "properties": {"groupAtInfo": {"minItems": 1}}}},
                        given("toGroup"),
                    ]
                },
                # docs/protocol.md §5.10: what Tencent offers for one kind of send only.
                {"anyOf": [{"not": option(given("receiverList"))}, given("toGroup")]},
                {"not": {"allOf": [given("toUsers"), option_is("supportExtension", True)]}},
                {"anyOf": [{"not": given("toGroup")}, NO_GROUP_CONFLICT]},
            ]
        }
    )

    to_user: UserId | None = None
    to_users: (
        Annotated[
            list[UserId],
            Field(min_length=1, max_length=MAX_MESSAGE_RECIPIENTS, json_schema_extra=UNIQUE_ITEMS),
            AfterValidator(_unique),
        ]
        | None
    ) = None
    to_group: GroupId | None = None
    # None: now (200, the results); else a job (202), as a broadcast's.
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> MessageRequest:
        given = [name for name in ("to_user", "to_users", "to_group") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of toUser, toUsers, toGroup")
        if self.group_at_info and self.to_group is None:
            raise ValueError("groupAtInfo is for group messages (toGroup)")
        # docs/protocol.md §5.10: what Tencent offers for one kind of send only.
        if self.options.receiver_list is not None and self.to_group is None:
            raise ValueError("options.receiverList is for group messages (toGroup)")
        if self.options.support_extension and self.to_users is not None:
            raise ValueError("options.supportExtension is not offered for batch sends (toUsers)")
        if self.to_group is not None and (conflict := self.options.group_conflict()):
            raise ValueError(f"options.{conflict}")
        return self


class SendResult(ApiModel):
    recipient: str
    result: Literal["sent", "failed", "dropped"]
    code: int = 0
    info: str = ""
    msg_key: str | None = None
    msg_seq: int | None = None


class MessageResponse(ApiModel):
    sent: int
    failed: int
    results: list[SendResult]


# ----------------------------------------------------------------------------- broadcasts


@functools.cache
def zones() -> frozenset[str]:
    # The IANA names, not every file the tz database has ("localtime", "Factory"): Scheduler's list.
    return frozenset(available_timezones() - {"localtime", "Factory"}) | {"UTC"}


def _timezone(value: str) -> str:
    if value not in zones():
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)")
    return value


def _cron(value: str) -> str:
    if not value.startswith("cron("):
        raise ValueError("a cron expression is written cron(minutes hours day-of-month month day-of-week year)")
    parse_expression(value)  # ValueError naming what is wrong
    return value


AT_RANGE = "A time from 1970 to 9998 (UTC), with or without an offset (none: in the schedule's time zone)"
# The form of an at time (the format schedule-at): what the validation reads, no other spelling of a time.
AT_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
_AT_FORM = re.compile(AT_PATTERN)


def _at_text(value: Any) -> Any:
    # pydantic would also read a number (Unix time), a space for the T or a date alone as a time.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _AT_FORM.match(value):
        raise ValueError("give the time as YYYY-MM-DDTHH:MM[:SS[.ffffff]] with an optional Z or +HH:MM offset")
    return value


def _in_scheduler_range(value: datetime) -> datetime:
    # Outside these years a conversion between time zones can leave datetime's range (year 1..9999).
    if not 1970 <= value.year <= 9998:
        raise ValueError("a time from 1970 to 9998")
    return value


class Schedule(ApiModel):
    """When a broadcast runs: once at a time, or on every firing of an EventBridge cron expression."""

    model_config = ConfigDict(json_schema_extra=exactly_one("at", "cron"))

    at: (
        Annotated[
            datetime,
            BeforeValidator(_at_text),
            AfterValidator(_in_scheduler_range),
            Field(description=AT_RANGE, json_schema_extra={"format": "schedule-at"}),
        ]
        | None
    ) = None
    cron: (
        Annotated[
            str, Strict(), Field(max_length=256, json_schema_extra={"format": "schedule-cron"}), AfterValidator(_cron)
        ]
        | None
    ) = None
    timezone: Annotated[
        str,
        Strict(),
        Field(json_schema_extra={"format": "time-zone"}),
        AfterValidator(_timezone),
    ] = "UTC"

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.at is None) == (self.cron is None):
            raise ValueError("give exactly one of at, cron")
        return self

    def expression(self) -> str:
        if self.cron is not None:
            return self.cron
        assert self.at is not None
        local = self.at.astimezone(ZoneInfo(self.timezone)) if self.at.tzinfo else self.at
        # strftime's %Y does not pad a year below 1000 on every platform; Scheduler wants four digits.
        return f"at({local.year:04d}-{local:%m-%dT%H:%M:%S})"

    def next_run(self, after: datetime) -> datetime | None:
        """When Scheduler runs it next after ``after`` (aware), in UTC; None when it never will."""
        return parse_expression(self.expression()).next_after(after, self.timezone)


# Defined before Schedule: their schedule field is resolved now.
MessageRequest.model_rebuild()
BotFriendsRequest.model_rebuild()
ScheduledFriends.model_rebuild()

_ALL_GROUPS: dict[str, Any] = {"required": ["allGroups"], "properties": {"allGroups": {"const": True}}}


class BroadcastRequest(Outgoing):
    # _one_target, in the document.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"allOf": [given("groupIds"), {"not": _ALL_GROUPS}]},
                {"allOf": [_ALL_GROUPS, {"not": given("groupIds")}]},
            ],
            "allOf": [NO_GROUP_CONFLICT],
        }
    )

    group_ids: (
        Annotated[
            list[GroupId],
            Field(min_length=1, max_length=MAX_BROADCAST_GROUPS, json_schema_extra=UNIQUE_ITEMS),
            AfterValidator(_unique),
        ]
        | None
    ) = None
    all_groups: Flag = False
    # None: now.
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _one_target(self) -> BroadcastRequest:
        if (self.group_ids is None) == (not self.all_groups):
            raise ValueError("give either groupIds or allGroups: true")
        if conflict := self.options.group_conflict():
            raise ValueError(f"options.{conflict}")
        return self


# Codes of failures that are not Tencent's (GroupResult.code, SendResult.code).
OUTCOME_UNKNOWN = -1  # an earlier attempt may have been delivered; a resend could no longer be de-duplicated
NO_ANSWER = -2  # Tencent could not be reached, or did not answer usably, on any attempt
ALWAYS_DROPPED = -3  # every resend was dropped by the per-group frequency limit (MsgFreqCtrl)
ACCOUNT_NOT_FOUND = -4  # a scheduled friends job's bot does not exist (any more)

JobState = Literal["scheduled", "planning", "sending", "done", "cancelled"]
# What a job does: a broadcast, a message send (POST /admin/messages) or bot friends (POST /admin/bots/{botId}/friends).
JobKind = Literal["broadcast", "message", "friends"]
GroupState = Literal["pending", "sending", "sent", "failed", "cancelled"]


class Progress(ApiModel):
    # total grows while the groups of allGroups are listed (state "planning").
    total: int
    sent: int
    failed: int
    pending: int
    cancelled: int
    failed_codes: dict[str, int]


class GroupResult(ApiModel):
    group_id: str
    state: GroupState
    attempts: int = 0
    code: int | None = None
    info: str | None = None
    msg_seq: int | None = None


class BroadcastSummary(ApiModel):
    job_id: str
    kind: JobKind = "broadcast"
    state: JobState
    created_at: datetime
    # Set on the runs of a cron broadcast: the broadcast whose schedule started them.
    parent_id: str | None = None
    schedule: Schedule | None = None
    next_run: datetime | None = None
    all_groups: bool
    progress: Progress


class Broadcast(BroadcastSummary):
    # Newest first: the runs a cron broadcast started.
    runs: list[str] = []
    groups: list[GroupResult] = []
    next_token: str | None = None
    # A message or friends job (or run) once it ran: what the send answered (groups are a broadcast's).
    result: MessageResponse | BotFriendsResponse | None = None


class BroadcastList(ApiModel):
    jobs: list[BroadcastSummary]
    next_token: str | None = None


# ----------------------------------------------------------------------------- threads (timkit.chat)

# One add_group_member call's worth (docs/protocol.md §10.5).
MAX_THREAD_PARTICIPANTS = MAX_ADD_MEMBERS
MAX_DISPLAY_NAME = 64
MAX_MESSAGE_ID = 256
ThreadParticipants = Annotated[
    list[UserId],
    Field(min_length=1, max_length=MAX_THREAD_PARTICIPANTS, json_schema_extra=UNIQUE_ITEMS),
    AfterValidator(_unique),
]


class ThreadCreateRequest(ApiModel):
    """A group thread: its topic (the group's name) and the users in it."""

    topic: GroupName
    participants: ThreadParticipants


class ThreadTopicRequest(ApiModel):
    topic: GroupName


class ThreadMessageRequest(ApiModel):
    """``type`` "text" is sent as a TIMTextElem, any other as a TIMCustomElem with the content in
    Data; type, senderDisplayName and metadata travel in CloudCustomData (see timkit.chat.mapping)."""

    content: Annotated[str, Field(min_length=1, max_length=MAX_BODY_BYTES)]
    sender: UserId
    sender_display_name: Annotated[str, Field(min_length=1, max_length=MAX_DISPLAY_NAME)] | None = None
    type: MessageType = "text"
    metadata: Metadata | None = None


class ThreadMessageUpdate(ApiModel):
    # _something, in the document.
    model_config = ConfigDict(json_schema_extra={"anyOf": [given("content"), given("metadata")]})

    content: Annotated[str, Field(min_length=1, max_length=MAX_BODY_BYTES)] | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _something(self) -> ThreadMessageUpdate:
        if self.content is None and self.metadata is None:
            raise ValueError("give content, metadata or both")
        return self


class ThreadMessageSent(ApiModel):
    id: str


class ReadReceiptRequest(ApiModel):
    message_id: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_ID)]
    reader: UserId


class ParticipantsRequest(ApiModel):
    participants: ThreadParticipants


class TypingRequest(ApiModel):
    sender: UserId
