"""Callback requests (docs/protocol.md §1.1, §2) and the answers Tencent accepts (§1.3, §2.5)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AliasChoices, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from timkit.models.conversations import escape_part, group_conversation
from timkit.models.elements import MsgElement, Wire, dump_body


class Command(StrEnum):
    C2C_BEFORE_SEND = "C2C.CallbackBeforeSendMsg"
    C2C_AFTER_SEND = "C2C.CallbackAfterSendMsg"
    GROUP_BEFORE_SEND = "Group.CallbackBeforeSendMsg"
    GROUP_AFTER_SEND = "Group.CallbackAfterSendMsg"
    BOT_C2C = "Bot.OnC2CMessage"
    BOT_GROUP = "Bot.OnGroupMessage"
    C2C_MODIFY = "C2C.CallbackAfterModifyMsg"
    GROUP_MODIFY = "Group.CallbackAfterModifyMsg"
    C2C_RECALL = "C2C.CallbackAfterMsgWithDraw"
    GROUP_RECALL = "Group.CallbackAfterRecallMsg"
    C2C_READ_REPORT = "C2C.CallbackAfterMsgReport"
    # What happens to a group rather than what is said in it (docs/protocol.md §13).
    GROUP_CREATED = "Group.CallbackAfterCreateGroup"
    GROUP_MEMBERS_JOINED = "Group.CallbackAfterNewMemberJoin"
    GROUP_MEMBERS_EXITED = "Group.CallbackAfterMemberExit"
    GROUP_INFO_CHANGED = "Group.CallbackAfterGroupInfoChanged"
    GROUP_DESTROYED = "Group.CallbackAfterGroupDestroyed"
    # Not archived (nothing in a conversation's history), only published to the event bus.
    GROUP_READ_RECEIPT = "Group.CallbackAfterReadReceipt"
    GROUP_FULL = "Group.CallbackAfterGroupFull"
    GROUP_MEMBER_STATE = "Group.CallbackOnMemberStateChange"
    STATE_CHANGE = "State.StateChange"


BEFORE_SEND_COMMANDS = frozenset({Command.C2C_BEFORE_SEND, Command.GROUP_BEFORE_SEND})
# Acknowledged at once and processed from the events queue.
ASYNC_COMMANDS = frozenset(set(Command) - BEFORE_SEND_COMMANDS)

ConversationKind = Literal["c2c", "group"]

_PLATFORMS = {p.lower(): p for p in ("RESTAPI", "Web", "Android", "iOS", "Windows", "Mac", "iPad", "Unknown")}
_PLATFORMS["macos"] = "Mac"


def _platform(value: Any) -> Any:
    # State.StateChange says "IOS", everything else "iOS"; the intl page says "macOS" for "Mac".
    return _PLATFORMS.get(value.lower(), value) if isinstance(value, str) else value


class CallbackQuery(Wire):
    """The query string Tencent appends to the callback URL (docs/protocol.md §1.1)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    SdkAppid: Annotated[int, Field(gt=0)]
    CallbackCommand: Annotated[str, Field(min_length=1, max_length=128)]
    contenttype: str | None = None
    ClientIP: str | None = None
    OptPlatform: Annotated[str | None, BeforeValidator(_platform)] = None
    Sign: str | None = Field(default=None, repr=False)
    RequestTime: str | None = None


# ----------------------------------------------------------------------------- requests

Uint32 = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]


class CallbackRequest(Wire):
    CallbackCommand: str

    # What the archive keys the message by; also the logs' correlation id.
    @property
    def identity(self) -> str:
        raise NotImplementedError


class _C2CEvent(CallbackRequest):
    """What every callback about a one-to-one message carries."""

    From_Account: str
    To_Account: str
    MsgSeq: Uint32 = 0
    MsgRandom: Uint32 = 0
    MsgTime: int = 0
    MsgKey: str
    MsgBody: list[MsgElement] = Field(default_factory=list)
    CloudCustomData: str = ""
    EventTime: int | None = None

    kind: ClassVar[ConversationKind] = "c2c"

    @property
    def identity(self) -> str:
        return f"c2c:{self.MsgKey}"


class C2CMessage(_C2CEvent):
    MsgId: str | None = None
    OnlineOnlyFlag: int = 0


class C2CBeforeSend(C2CMessage):
    CallbackCommand: Literal["C2C.CallbackBeforeSendMsg"] = "C2C.CallbackBeforeSendMsg"


class C2CAfterSend(C2CMessage):
    CallbackCommand: Literal["C2C.CallbackAfterSendMsg"] = "C2C.CallbackAfterSendMsg"
    SendMsgResult: int = 0
    ErrorInfo: str = ""
    UnreadMsgNum: int = 0


class BotC2CMessage(C2CMessage):
    CallbackCommand: Literal["Bot.OnC2CMessage"] = "Bot.OnC2CMessage"
    SendMsgResult: int = 0
    ErrorInfo: str = ""
    UnreadMsgNum: int = 0


class GroupAtItem(Wire):
    GroupAtAllFlag: int = 0
    GroupAt_Account: str | None = None


class GroupMessage(CallbackRequest):
    GroupId: str
    Type: str | None = None
    From_Account: str
    Operator_Account: str | None = None
    Random: Uint32 = 0
    OnlineOnlyFlag: int = 0
    MsgBody: list[MsgElement] = Field(default_factory=list)
    CloudCustomData: str = ""
    TopicId: str | None = None
    # Documented as an integer, shown as a string in the intl example: lax parsing takes both.
    EventTime: int | None = None

    kind: ClassVar[ConversationKind] = "group"


class GroupBeforeSend(GroupMessage):
    CallbackCommand: Literal["Group.CallbackBeforeSendMsg"] = "Group.CallbackBeforeSendMsg"

    @property
    def identity(self) -> str:
        # The group seq is assigned on send; before that the request's Random is all there is.
        return group_identity(self.GroupId, f"r{self.Random}", self.TopicId)


class GroupAfterSend(GroupMessage):
    CallbackCommand: Literal["Group.CallbackAfterSendMsg"] = "Group.CallbackAfterSendMsg"
    MsgSeq: int
    MsgTime: int = 0
    GroupAtInfo: list[GroupAtItem] | None = None

    @property
    def identity(self) -> str:
        return group_identity(self.GroupId, self.MsgSeq, self.TopicId)


class BotGroupMessage(GroupAfterSend):
    # A group message in every way but its command (the archive and mergers take it as one), so it
    # narrows the inherited Literal: a deliberate exception to substitutability.
    CallbackCommand: Literal["Bot.OnGroupMessage"] = "Bot.OnGroupMessage"  # type: ignore[assignment]  # on purpose
    # The docs and Tencent's own bot say AtRobots_Account; one SDK says AtRobotAccount.
    AtRobots_Account: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("AtRobots_Account", "AtRobotAccount")
    )


class C2CModify(_C2CEvent):
    CallbackCommand: Literal["C2C.CallbackAfterModifyMsg"] = "C2C.CallbackAfterModifyMsg"
    Operator_Account: str | None = None


class GroupModify(CallbackRequest):
    CallbackCommand: Literal["Group.CallbackAfterModifyMsg"] = "Group.CallbackAfterModifyMsg"
    Operator_Account: str | None = None
    GroupId: str
    TopicId: str | None = None
    MsgSeq: int
    MsgBody: list[MsgElement] = Field(default_factory=list)
    CloudCustomData: str | None = None
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return group_identity(self.GroupId, self.MsgSeq, self.TopicId)


class C2CRecall(CallbackRequest):
    CallbackCommand: Literal["C2C.CallbackAfterMsgWithDraw"] = "C2C.CallbackAfterMsgWithDraw"
    From_Account: str
    To_Account: str
    MsgKey: str
    UnreadMsgNum: int = 0
    # Not in the field table, but the archive keys recalls by it when it comes (as in group recalls).
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return f"c2c:{self.MsgKey}"


class RecalledSeq(Wire):
    MsgSeq: int


class GroupRecall(CallbackRequest):
    CallbackCommand: Literal["Group.CallbackAfterRecallMsg"] = "Group.CallbackAfterRecallMsg"
    Operator_Account: str | None = None
    Type: str | None = None
    GroupId: str
    MsgSeqList: list[RecalledSeq] = Field(min_length=1)
    TopicId: str | None = None
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return group_identity(self.GroupId, self.MsgSeqList[0].MsgSeq, self.TopicId)

    @property
    def identities(self) -> list[str]:
        return [group_identity(self.GroupId, item.MsgSeq, self.TopicId) for item in self.MsgSeqList]


class C2CReadReport(CallbackRequest):
    CallbackCommand: Literal["C2C.CallbackAfterMsgReport"] = "C2C.CallbackAfterMsgReport"
    Report_Account: str
    Peer_Account: str
    LastReadTime: int
    UnreadMsgNum: int = 0

    @property
    def identity(self) -> str:
        return read_identity(self.Report_Account, self.Peer_Account)


class MemberAccount(Wire):
    Member_Account: str


class GroupEvent(CallbackRequest):
    """Something that happened to a group (docs/protocol.md §13): archived once, in the group's history. The
    callbacks carry no id of their own: the archive knows one by its body (a repeated delivery is
    the same body)."""

    GroupId: str
    Type: str | None = None
    Operator_Account: str | None = None
    # Milliseconds; the samples quote it as a string (lax parsing takes both).
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return group_conversation(self.GroupId)


class GroupCreated(GroupEvent):
    """docs/protocol.md §13.1: ``MemberList`` is the initial members (the owner is ``Owner_Account``)."""

    CallbackCommand: Literal["Group.CallbackAfterCreateGroup"] = "Group.CallbackAfterCreateGroup"
    Owner_Account: str | None = None
    Name: str | None = None
    MemberList: list[MemberAccount] = Field(default_factory=list)


class GroupMembersJoined(GroupEvent):
    """docs/protocol.md §13.2: ``JoinType`` is ``Apply`` or ``Invited``."""

    CallbackCommand: Literal["Group.CallbackAfterNewMemberJoin"] = "Group.CallbackAfterNewMemberJoin"
    JoinType: str | None = None
    NewMemberList: list[MemberAccount] = Field(default_factory=list)


class GroupMembersExited(GroupEvent):
    """docs/protocol.md §13.3: ``ExitType`` is ``Kicked`` or ``Quit``."""

    CallbackCommand: Literal["Group.CallbackAfterMemberExit"] = "Group.CallbackAfterMemberExit"
    ExitType: str | None = None
    ExitMemberList: list[MemberAccount] = Field(default_factory=list)


class GroupInfoChanged(GroupEvent):
    """docs/protocol.md §13.4: only the fields that changed are present, with their new values."""

    CallbackCommand: Literal["Group.CallbackAfterGroupInfoChanged"] = "Group.CallbackAfterGroupInfoChanged"
    Name: str | None = None
    Introduction: str | None = None
    Notification: str | None = None
    FaceUrl: str | None = None


class GroupDestroyed(GroupEvent):
    """docs/protocol.md §13.5: no ``Operator_Account``; ``MemberList`` is the members at the end (not for Community
    groups)."""

    CallbackCommand: Literal["Group.CallbackAfterGroupDestroyed"] = "Group.CallbackAfterGroupDestroyed"
    Owner_Account: str | None = None
    Name: str | None = None
    MemberList: list[MemberAccount] = Field(default_factory=list)


class ReceiptMember(Wire):
    Member_Account: str


class GroupReceipt(Wire):
    MsgSeq: int
    ReadNum: int = 0
    UnreadNum: int = 0
    ReadReceiptMembers: list[ReceiptMember] = Field(default_factory=list)


class GroupReadReceipt(CallbackRequest):
    """docs/protocol.md §13.8: read counts of group messages that asked for read receipts."""

    CallbackCommand: Literal["Group.CallbackAfterReadReceipt"] = "Group.CallbackAfterReadReceipt"
    GroupId: str
    Type: str | None = None
    GroupMsgReceiptList: list[GroupReceipt] = Field(default_factory=list)
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return group_conversation(self.GroupId)


class GroupFull(CallbackRequest):
    """docs/protocol.md §13.10: the group is full (after a member joined, or a join failed for it)."""

    CallbackCommand: Literal["Group.CallbackAfterGroupFull"] = "Group.CallbackAfterGroupFull"
    GroupId: str
    TopicId: str | None = None
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return group_conversation(self.GroupId)


class GroupMemberState(CallbackRequest):
    """docs/protocol.md §13.11: audio-video group members going offline or back online."""

    CallbackCommand: Literal["Group.CallbackOnMemberStateChange"] = "Group.CallbackOnMemberStateChange"
    GroupId: str
    EventType: str
    MemberList: list[MemberAccount] = Field(default_factory=list)
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return group_conversation(self.GroupId)


class StateInfo(Wire):
    Action: str
    To_Account: str
    Reason: str | None = None


class KickedPlatform(Wire):
    Platform: str | None = None


class UserStateChange(CallbackRequest):
    """docs/protocol.md §13.12: a user logged in, logged out or was disconnected."""

    CallbackCommand: Literal["State.StateChange"] = "State.StateChange"
    Info: StateInfo
    KickedDevice: list[KickedPlatform] = Field(default_factory=list)
    EventTime: int | None = None

    @property
    def identity(self) -> str:
        return f"user:{escape_part(self.Info.To_Account)}"


def group_identity(group_id: str, msg_seq: int | str, topic_id: str | None = None) -> str:
    """``group:<GroupId>:<MsgSeq>``; in a topic of a Community group, whose topics number their
    messages apart (two topics' messages may share a seq), ``topic:<GroupId>:<TopicId>:<MsgSeq>``.
    ``TopicId`` is empty or absent outside topics. The prefix keeps the two forms apart, and in
    the topic form a ``:`` or ``%`` inside either id is percent-escaped (custom ids may hold any
    printable ASCII), so that no two messages share an identity."""
    if not topic_id:
        return f"group:{group_id}:{msg_seq}"
    return f"topic:{escape_part(group_id)}:{escape_part(topic_id)}:{msg_seq}"


def read_identity(reader: str, peer: str) -> str:
    """Where ``reader``'s read reports on the one-to-one chat with ``peer`` are kept."""
    return f"read:{reader}:{peer}"


REQUEST_MODELS: dict[str, type[CallbackRequest]] = {
    Command.C2C_BEFORE_SEND: C2CBeforeSend,
    Command.C2C_AFTER_SEND: C2CAfterSend,
    Command.GROUP_BEFORE_SEND: GroupBeforeSend,
    Command.GROUP_AFTER_SEND: GroupAfterSend,
    Command.BOT_C2C: BotC2CMessage,
    Command.BOT_GROUP: BotGroupMessage,
    Command.C2C_MODIFY: C2CModify,
    Command.GROUP_MODIFY: GroupModify,
    Command.C2C_RECALL: C2CRecall,
    Command.GROUP_RECALL: GroupRecall,
    Command.C2C_READ_REPORT: C2CReadReport,
    Command.GROUP_CREATED: GroupCreated,
    Command.GROUP_MEMBERS_JOINED: GroupMembersJoined,
    Command.GROUP_MEMBERS_EXITED: GroupMembersExited,
    Command.GROUP_INFO_CHANGED: GroupInfoChanged,
    Command.GROUP_DESTROYED: GroupDestroyed,
    Command.GROUP_READ_RECEIPT: GroupReadReceipt,
    Command.GROUP_FULL: GroupFull,
    Command.GROUP_MEMBER_STATE: GroupMemberState,
    Command.STATE_CHANGE: UserStateChange,
}


# The deepest JSON a callback Tencent sends can be: five levels per merger level (element,
# MsgContent, MsgList, message, MsgBody), Tencent's 100 merger levels (docs/protocol.md §7.4),
# and a few for the callback itself and the innermost element's content.
MAX_CALLBACK_DEPTH = 5 * 100 + 16


def parse_callback(command: str, raw: str | bytes) -> CallbackRequest:
    """The body of a ``command`` callback (a key of REQUEST_MODELS), or pydantic's ValidationError.

    pydantic-core's JSON parser gives up at 200 nested arrays and objects, about 40 merger levels
    (each level is five: message, MsgBody, element, MsgContent, MsgList), while Tencent nests
    mergers 100 levels deep inside a 12 KB body (docs/protocol.md §6.2, §7.4). What it refuses
    is decoded again by :func:`decode_json` and validated if it is JSON Tencent could have sent;
    anything else gets the first parser's error, whatever state pydantic's own depth guard is in.
    """
    model = REQUEST_MODELS[command]
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if [err["type"] for err in exc.errors()] != ["json_invalid"]:
            raise
        try:
            document = decode_json(raw)
        except (ValueError, RecursionError):  # JSON, Unicode and over-long-integer errors are ValueErrors
            raise exc from None
        return model.model_validate(document)


def decode_json(raw: str | bytes) -> Any:
    """A callback body decoded as the standard parser does, if it is JSON Tencent could have sent
    (as strict as pydantic's: no NaN or Infinity, text that is valid Unicode, no deeper than
    :data:`MAX_CALLBACK_DEPTH`); ValueError otherwise."""
    document = json.loads(raw, parse_constant=_no_constant)
    # Text that is not valid Unicode (a lone surrogate escape): pydantic-core refuses it, and so
    # must this, or it would come back out in an answer or the archive.
    json.dumps(document, ensure_ascii=False).encode()
    if _depth(document) > MAX_CALLBACK_DEPTH:
        raise ValueError("nested deeper than Tencent sends")
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(document: Any) -> int:
    """How deep arrays and objects nest in decoded JSON (iteratively: it may be deep)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


# ----------------------------------------------------------------------------- answers


class CallbackAck(Wire):
    """The answer to every callback but before-send (docs/protocol.md §1.3)."""

    ActionStatus: Literal["OK"] = "OK"
    ErrorInfo: str = ""
    ErrorCode: Literal[0] = 0


ALLOW, REJECT, DISCARD = 0, 1, 2


class BeforeSendAnswer(Wire):
    """A before-send answer (docs/protocol.md §2.5). It can only hold what Tencent accepts: 0 deliver (optionally
    with a replacement body and/or CloudCustomData), 1 reject, 2 discard, or a custom reject code
    in the conversation kind's range; a replacement only goes with 0."""

    model_config = ConfigDict(extra="forbid")

    custom_codes: ClassVar[range]

    ActionStatus: Literal["OK"] = "OK"
    ErrorInfo: Annotated[str, Field(max_length=1024)] = ""
    ErrorCode: int = ALLOW
    MsgBody: list[MsgElement] | None = Field(default=None, min_length=1)
    CloudCustomData: str | None = None

    @model_validator(mode="after")
    def _only_what_tencent_accepts(self) -> Self:
        code = self.ErrorCode
        if code not in (ALLOW, REJECT, DISCARD) and code not in self.custom_codes:
            raise ValueError(
                f"ErrorCode {code} is not 0, 1, 2 or a custom code in "
                f"{self.custom_codes.start}-{self.custom_codes.stop - 1}"
            )
        if code != ALLOW and (self.MsgBody is not None or self.CloudCustomData is not None):
            raise ValueError("a replacement MsgBody/CloudCustomData can only go with ErrorCode 0")
        return self

    @classmethod
    def allow(cls) -> Self:
        return cls()

    @classmethod
    def rewrite(cls, body: list[MsgElement] | None = None, cloud_custom_data: str | None = None) -> Self:
        if body is None and cloud_custom_data is None:
            raise ValueError("a rewrite needs a MsgBody, a CloudCustomData or both")
        return cls(MsgBody=body, CloudCustomData=cloud_custom_data)

    @classmethod
    def reject(cls, code: int = REJECT, info: str = "") -> Self:
        if code in (ALLOW, DISCARD):
            raise ValueError("a rejection needs code 1 or a custom code")
        return cls(ErrorCode=code, ErrorInfo=info)

    @classmethod
    def discard(cls) -> Self:
        return cls(ErrorCode=DISCARD)

    @property
    def outcome(self) -> Literal["allowed", "rewritten", "rejected", "discarded"]:
        if self.ErrorCode == ALLOW:
            return "allowed" if self.MsgBody is None and self.CloudCustomData is None else "rewritten"
        return "discarded" if self.ErrorCode == DISCARD else "rejected"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "ActionStatus": self.ActionStatus,
            "ErrorInfo": self.ErrorInfo,
            "ErrorCode": self.ErrorCode,
        }
        if self.MsgBody is not None:
            wire["MsgBody"] = dump_body(self.MsgBody)
        if self.CloudCustomData is not None:
            wire["CloudCustomData"] = self.CloudCustomData
        return wire


class C2CBeforeSendAnswer(BeforeSendAnswer):
    custom_codes: ClassVar[range] = range(120001, 130001)


class GroupBeforeSendAnswer(BeforeSendAnswer):
    custom_codes: ClassVar[range] = range(10100, 10201)


ANSWER_MODELS: dict[ConversationKind, type[BeforeSendAnswer]] = {
    "c2c": C2CBeforeSendAnswer,
    "group": GroupBeforeSendAnswer,
}
