"""Request and response models of the Tencent IM REST calls the bundle makes (docs/protocol.md §5).

Requests are serialised with ``exclude_none``: a field left out is a field Tencent defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, field_validator, model_validator

from timkit.models.callbacks import GroupAtItem
from timkit.models.elements import MsgElement, Wire

MAX_BATCH_RECIPIENTS = 500
# Members a targeted group message may name (send_group_msg To_Account, docs/protocol.md §5.5, §5.10).
MAX_GROUP_RECEIVERS = 50
# APNs carries at most 4 KB (docs/protocol.md §5.10): no one push text may be longer.
MAX_PUSH_TEXT = 4096
MAX_USER_ID_BYTES = 32
ROBOT_PREFIX = "@RBT#"


def _user_id(value: str) -> str:
    if not value or len(value.encode()) > MAX_USER_ID_BYTES:
        raise ValueError(f"a UserID is 1 to {MAX_USER_ID_BYTES} bytes")
    return value


def unique_ids(values: list[str]) -> list[str]:
    """An AfterValidator for a list of IDs that must name each one once."""
    if len(set(values)) != len(values):
        raise ValueError("must not name the same ID twice")
    return values


def _robot_id(value: str) -> str:
    if not value.startswith(ROBOT_PREFIX) or value == ROBOT_PREFIX:
        raise ValueError(f"a robot ID starts with {ROBOT_PREFIX} and has a name after it")
    return _user_id(value)


# The limits in bytes are checked by the validators. JSON Schema counts lengths in characters only, so
# the admin API's OpenAPI document states them as a format of the id (timkit.api.openapi.FORMATS
# defines each), beside maxLength: a bound in characters every valid id keeps.
UserId = Annotated[
    str,
    AfterValidator(_user_id),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_USER_ID_BYTES, "format": "tim-user-id"}),
]
RobotId = Annotated[
    str,
    AfterValidator(_robot_id),
    Field(json_schema_extra={"pattern": f"^{ROBOT_PREFIX}.", "maxLength": MAX_USER_ID_BYTES, "format": "tim-robot-id"}),
]
Uint32 = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]


class Reply(Wire):
    """The envelope every answer has (docs/protocol.md §4.1)."""

    ActionStatus: str = "OK"
    ErrorCode: int = 0
    ErrorInfo: str = ""


# OfflinePushInfo and its vendor parts, as documented (docs/protocol.md §5.10): typed and closed, so a
# misspelt field is refused here rather than ignored by Tencent. 0/1 flags are whole numbers: a JSON true
# (which a lax int would take as 1) is refused.
Flag01 = Annotated[int, Strict(), Field(ge=0, le=1)]
PushText = Annotated[str, Field(max_length=MAX_PUSH_TEXT)]


class _Push(Wire):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class AndroidPushInfo(_Push):
    Sound: PushText | None = None
    HuaWeiChannelID: PushText | None = None
    XiaoMiChannelID: PushText | None = None
    OPPOChannelID: PushText | None = None
    GoogleChannelID: PushText | None = None
    VIVOClassification: Flag01 | None = None
    HuaWeiImportance: Literal["LOW", "NORMAL"] | None = None
    ExtAsHuaweiIntentParam: Flag01 | None = None
    HuaWeiCategory: PushText | None = None


class ApnsPushInfo(_Push):
    Sound: PushText | None = None
    # 1: this message does not raise the app icon's badge count (the Web SDK's ignoreIOSBadge).
    BadgeMode: Flag01 | None = None
    Title: PushText | None = None
    SubTitle: PushText | None = None
    Image: PushText | None = None
    MutableContent: Flag01 | None = None


class PushInfo(_Push):
    PushFlag: Flag01 | None = None
    Title: PushText | None = None
    Desc: PushText | None = None
    Ext: PushText | None = None
    AndroidInfo: AndroidPushInfo | None = None
    ApnsInfo: ApnsPushInfo | None = None


ForbidCallback = Literal["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"]
# SendMsgControl's values (docs/protocol.md §5.3, §5.5); NoMsgCheck: not sent to content moderation (§5.10).
C2CControl = Literal["NoUnread", "NoLastMsg", "WithMuteNotifications", "NoMsgCheck"]
GroupControl = Literal["NoLastMsg", "NoUnread", "NoMsgCheck"]


class _SendCommon(Wire):
    From_Account: UserId | None = None
    MsgBody: list[MsgElement] = Field(min_length=1)
    CloudCustomData: str | None = None
    OfflinePushInfo: PushInfo | None = None
    ForbidCallbackControl: list[ForbidCallback] | None = None
    SupportMessageExtension: Literal[0, 1] | None = None


# ----------------------------------------------------------------------------- friends (docs/protocol.md §5.1)


class FriendAddItem(Wire):
    To_Account: UserId
    Remark: str | None = None
    GroupName: str | None = None
    AddSource: str = "AddSource_Type_Server"
    AddWording: str | None = None


class FriendAddRequest(Wire):
    From_Account: UserId
    AddFriendItem: list[FriendAddItem] = Field(min_length=1)
    AddType: Literal["Add_Type_Both", "Add_Type_Single"] = "Add_Type_Both"
    ForceAddFlags: Literal[0, 1] = 1


class FriendResultItem(Wire):
    To_Account: str
    ResultCode: int = 0
    ResultInfo: str = ""


class FriendAddReply(Reply):
    ResultItem: list[FriendResultItem] = Field(default_factory=list)
    Fail_Account: list[str] = Field(default_factory=list)


class FriendCheckRequest(Wire):
    From_Account: UserId
    To_Account: list[UserId] = Field(min_length=1)
    CheckType: Literal["CheckResult_Type_Both", "CheckResult_Type_Single"] = "CheckResult_Type_Both"


class FriendCheckItem(Wire):
    To_Account: str
    Relation: str = ""
    ResultCode: int = 0
    ResultInfo: str = ""


class FriendCheckReply(Reply):
    InfoItem: list[FriendCheckItem] = Field(default_factory=list)
    Fail_Account: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------------- robots (docs/protocol.md §5.9)


class CreateRobotRequest(Wire):
    UserID: RobotId
    Nick: str | None = None
    FaceUrl: str | None = None
    SelfSignature: str | None = None


class DeleteRobotRequest(Wire):
    UserID: RobotId


class GetAllRobotsReply(Reply):
    Robot_Account: list[str] = Field(default_factory=list)

    @field_validator("Robot_Account", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        # Seen both as plain IDs and as objects carrying UserID.
        if isinstance(value, list):
            return [item.get("UserID", item) if isinstance(item, dict) else item for item in value]
        return value


# ----------------------------------------------------------------------------- C2C (docs/protocol.md §5.3, §5.4)


class SendMsgRequest(_SendCommon):
    To_Account: UserId
    MsgRandom: Uint32
    MsgSeq: Uint32 | None = None
    SyncOtherMachine: Literal[1, 2] | None = None
    MsgLifeTime: Annotated[int, Field(ge=0, le=604800)] | None = None
    SendMsgControl: list[C2CControl] | None = None
    IsNeedReadReceipt: Literal[0, 1] | None = None


class SendMsgReply(Reply):
    MsgTime: int = 0
    MsgKey: str = ""
    MsgId: str | None = None


class BatchSendMsgRequest(_SendCommon):
    To_Account: list[UserId] = Field(min_length=1, max_length=MAX_BATCH_RECIPIENTS)
    MsgRandom: Uint32
    MsgSeq: Uint32 | None = None
    SyncOtherMachine: Literal[1, 2] | None = None
    MsgLifeTime: Annotated[int, Field(ge=0, le=604800)] | None = None
    SendMsgControl: list[C2CControl] | None = None
    IsNeedReadReceipt: Literal[0, 1] | None = None


class BatchError(Wire):
    To_Account: str
    ErrorCode: int


class BatchSendMsgReply(Reply):
    MsgKey: str | None = None
    ErrorList: list[BatchError] = Field(default_factory=list)

    @property
    def failed(self) -> dict[str, int]:
        return {item.To_Account: item.ErrorCode for item in self.ErrorList}


# ----------------------------------------------------------------------------- groups (docs/protocol.md §5.5, §5.8)


class SendGroupMsgRequest(_SendCommon):
    GroupId: Annotated[str, Field(min_length=1, max_length=48)]
    Random: Uint32
    MsgPriority: Literal["High", "Normal", "Low"] | None = None
    OnlineOnlyFlag: Literal[0, 1] | None = None
    SendMsgControl: list[GroupControl] | None = None
    To_Account: list[UserId] | None = Field(default=None, min_length=1, max_length=MAX_GROUP_RECEIVERS)
    GroupAtInfo: list[GroupAtItem] | None = Field(default=None, max_length=30)
    TopicId: str | None = None
    # Named without "Is" here, unlike sendmsg's IsNeedReadReceipt (docs/protocol.md §5.10).
    NeedReadReceipt: Literal[0, 1] | None = None


class SendGroupMsgReply(Reply):
    MsgTime: int = 0
    MsgSeq: int = 0
    MsgDropReason: str = ""


# ----------------------------------------------------------------------------- native stream (docs/protocol.md §8.4)


class SendC2CStreamRequest(Wire):
    """``v4/stream_msg/send_c2c_stream_msg``: one call per chunk; the first answer's
    ``StreamMsgID`` goes into every later call's ``TIMStreamElem``."""

    From_Account: UserId | None = None
    To_Account: UserId
    MsgRandom: Uint32
    MsgSeq: Uint32 | None = None
    SyncOtherMachine: Literal[1, 2] | None = None
    MsgBody: list[MsgElement] = Field(min_length=1)


class SendGroupStreamRequest(Wire):
    """``v4/stream_msg/send_group_stream_msg``."""

    GroupId: Annotated[str, Field(min_length=1, max_length=48)]
    From_Account: UserId | None = None
    Random: Uint32
    MsgBody: list[MsgElement] = Field(min_length=1)


class SendStreamReply(Reply):
    StreamMsgID: str = ""
    # Not in the reference's stream section; taken, when present, as sendmsg / send_group_msg
    # answer them (the message's identity for the interrupt key).
    MsgKey: str = ""
    MsgTime: int = 0
    MsgSeq: int = 0
    MsgDropReason: str = ""


class ModifyC2CMsgRequest(Wire):
    From_Account: UserId
    To_Account: UserId
    MsgKey: str
    MsgBody: list[MsgElement] | None = Field(default=None, min_length=1)
    CloudCustomData: str | None = None


class ModifyGroupMsgRequest(Wire):
    GroupId: str
    MsgSeq: int
    MsgBody: list[MsgElement] | None = Field(default=None, min_length=1)
    CloudCustomData: str | None = None
    TopicId: str | None = None


class GroupListRequest(Wire):
    Limit: Annotated[int, Field(ge=1, le=10000)] | None = None
    Next: int | None = None
    GroupType: str | None = None


class GroupIdItem(Wire):
    GroupId: str


class GroupListReply(Reply):
    TotalCount: int = 0
    GroupIdList: list[GroupIdItem] = Field(default_factory=list)
    Next: int = 0


class GroupMemberRequest(Wire):
    GroupId: str
    Limit: Annotated[int, Field(ge=1, le=200)] | None = None
    Offset: Annotated[int, Field(ge=0)] | None = None
    Next: str | None = None
    MemberInfoFilter: list[str] | None = None
    MemberRoleFilter: list[str] | None = None


class GroupMember(Wire):
    """A member as get_group_member_info and get_group_info describe one (docs/protocol.md §5.8, §10.2)."""

    Member_Account: str
    Role: str | None = None
    JoinTime: int | None = None
    MsgSeq: int | None = None
    MsgFlag: str | None = None
    LastSendMsgTime: int | None = None
    MuteUntil: int | None = None
    NameCard: str | None = None
    AppMemberDefinedData: list[AppDefinedItem] | None = None


class GroupMemberReply(Reply):
    MemberNum: int = 0
    MemberList: list[GroupMember] = Field(default_factory=list)
    Next: str | None = None


# ----------------------------------------------------------------------------- roles in a group

# get_role_in_group (https://www.tencentcloud.com/document/product/1047/34963): at most 500 accounts.
MAX_ROLE_ACCOUNTS = 500


class RoleInGroupRequest(Wire):
    GroupId: str
    User_Account: Annotated[list[UserId], Field(min_length=1, max_length=MAX_ROLE_ACCOUNTS)]
    # Community groups only: a private topic's own members.
    TopicId: str | None = None


class UserRole(Wire):
    Member_Account: str
    Role: str  # "Owner", "Admin", "Member" or "NotMember"


class RoleInGroupReply(Reply):
    UserIdList: list[UserRole] = Field(default_factory=list)


# ----------------------------------------------------------------------------- groups as threads (docs/protocol.md §10)

# Limits of create_group / modify_group_base_info / add_group_member / delete_group_member /
# get_group_info (docs/protocol.md §10.1-§10.6), in UTF-8 bytes where Tencent counts bytes.
MAX_GROUP_ID_BYTES = 48
MAX_GROUP_NAME_BYTES = 30
MAX_GROUP_INTRODUCTION_BYTES = 240
MAX_GROUP_NOTIFICATION_BYTES = 300
MAX_GROUP_FACE_URL_BYTES = 100
MAX_CREATE_MEMBERS = 100
MAX_ADD_MEMBERS = 300
MAX_DELETE_MEMBERS = 100
MAX_GROUP_INFO_IDS = 50
TENCENT_GROUP_PREFIX = "@TGS#"
COMMUNITY_GROUP_PREFIX = "@TGS#_"

GroupType = Literal["Public", "Private", "Work", "ChatRoom", "Meeting", "AVChatRoom", "Community"]
JoinOption = Literal["FreeAccess", "NeedPermission", "DisableApply"]


def _max_bytes(limit: int, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value.encode()) > limit:
            raise ValueError(f"{what} is at most {limit} bytes (UTF-8)")
        return value

    return AfterValidator(check)


# As for UserId: bytes checked by the validator, the nearest character limit in the JSON schema.
GroupIdStr = Annotated[
    str,
    _max_bytes(MAX_GROUP_ID_BYTES, "a GroupId"),
    Field(min_length=1, json_schema_extra={"maxLength": MAX_GROUP_ID_BYTES}),
]
GroupName = Annotated[
    str,
    _max_bytes(MAX_GROUP_NAME_BYTES, "a group name"),
    Field(min_length=1, json_schema_extra={"maxLength": MAX_GROUP_NAME_BYTES, "format": "tim-group-name"}),
]
GroupIntroduction = Annotated[
    str,
    _max_bytes(MAX_GROUP_INTRODUCTION_BYTES, "a group introduction"),
    Field(json_schema_extra={"maxLength": MAX_GROUP_INTRODUCTION_BYTES}),
]
GroupNotification = Annotated[
    str,
    _max_bytes(MAX_GROUP_NOTIFICATION_BYTES, "a group notification"),
    Field(json_schema_extra={"maxLength": MAX_GROUP_NOTIFICATION_BYTES}),
]
GroupFaceUrl = Annotated[
    str,
    _max_bytes(MAX_GROUP_FACE_URL_BYTES, "a group FaceUrl"),
    Field(json_schema_extra={"maxLength": MAX_GROUP_FACE_URL_BYTES}),
]
# Strict: a true or "3" where a sequence belongs is a mistake, not seq 1 or 3 (the request is refused).
MsgSeqValue = Annotated[int, Strict(), Field(ge=1, le=0xFFFFFFFF)]


class AppDefinedItem(Wire):
    Key: str
    Value: str


class MemberAccount(Wire):
    Member_Account: UserId


def _bare(key: str) -> BeforeValidator:
    """A list of bare values is taken as the list of ``{key: value}`` objects Tencent wants."""

    def wrap(value: Any) -> Any:
        if isinstance(value, list):
            return [item if isinstance(item, dict | Wire) else {key: item} for item in value]
        return value

    return BeforeValidator(wrap)


class InitialMember(Wire):
    Member_Account: UserId
    # create_group: "Admin" is the only role that can be given (docs/protocol.md §10.1).
    Role: Literal["Admin"] | None = None
    AppMemberDefinedData: list[AppDefinedItem] | None = None


class CreateGroupRequest(Wire):
    Type: GroupType
    Name: GroupName
    Owner_Account: UserId | None = None
    GroupId: GroupIdStr | None = None
    Introduction: GroupIntroduction | None = None
    Notification: GroupNotification | None = None
    FaceUrl: GroupFaceUrl | None = None
    MaxMemberCount: Annotated[int, Field(ge=1)] | None = None
    ApplyJoinOption: JoinOption | None = None
    AppDefinedData: list[AppDefinedItem] | None = None
    MemberList: list[InitialMember] | None = Field(default=None, max_length=MAX_CREATE_MEMBERS)
    SupportTopic: Literal[0, 1] | None = None

    @model_validator(mode="after")
    def _rules(self) -> CreateGroupRequest:
        custom = self.GroupId
        community = self.Type == "Community" and custom is not None and custom.startswith(COMMUNITY_GROUP_PREFIX)
        if custom is not None and custom.startswith(TENCENT_GROUP_PREFIX) and not community:
            raise ValueError(
                f"a custom GroupId may not start with {TENCENT_GROUP_PREFIX} "
                f"(a Community's starts with {COMMUNITY_GROUP_PREFIX})"
            )
        if self.Type == "AVChatRoom" and self.MemberList:
            raise ValueError("an AVChatRoom cannot be created with members (Tencent answers 10007)")
        if self.SupportTopic is not None and self.Type != "Community":
            raise ValueError("SupportTopic is for Community groups only")
        return self


class CreateGroupReply(Reply):
    GroupId: str = ""


class GroupInfoFilter(Wire):
    GroupBaseInfoFilter: list[str] | None = None
    MemberInfoFilter: list[str] | None = None
    AppDefinedDataFilter_Group: list[str] | None = None
    AppDefinedDataFilter_GroupMember: list[str] | None = None


class GetGroupInfoRequest(Wire):
    GroupIdList: list[GroupIdStr] = Field(min_length=1, max_length=MAX_GROUP_INFO_IDS)
    ResponseFilter: GroupInfoFilter | None = None


class GroupInfoItem(Wire):
    """One group of a get_group_info answer: its own ErrorCode says whether it was found (docs/protocol.md §10.2)."""

    GroupId: str
    ErrorCode: int = 0
    ErrorInfo: str = ""
    Type: str | None = None
    Name: str | None = None
    Appid: int | None = None
    Introduction: str | None = None
    Notification: str | None = None
    FaceUrl: str | None = None
    Owner_Account: str | None = None
    CreateTime: int | None = None
    LastInfoTime: int | None = None
    LastMsgTime: int | None = None
    NextMsgSeq: int | None = None
    MemberNum: int | None = None
    MaxMemberNum: int | None = None
    ApplyJoinOption: str | None = None
    MuteAllMember: str | None = None
    AppDefinedData: list[AppDefinedItem] | None = None
    MemberList: list[GroupMember] | None = None


class GetGroupInfoReply(Reply):
    GroupInfo: list[GroupInfoItem] = Field(default_factory=list)


class ModifyGroupBaseInfoRequest(Wire):
    GroupId: GroupIdStr
    Name: GroupName | None = None
    Introduction: GroupIntroduction | None = None
    Notification: GroupNotification | None = None
    FaceUrl: GroupFaceUrl | None = None
    MaxMemberNum: Annotated[int, Field(ge=1)] | None = None
    ApplyJoinOption: JoinOption | None = None
    MuteAllMember: Literal["On", "Off"] | None = None
    AppDefinedData: list[AppDefinedItem] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> ModifyGroupBaseInfoRequest:
        # A call that changes nothing is a caller's mistake: it stops here.
        if not self.model_dump(exclude_none=True, exclude={"GroupId"}):
            raise ValueError("give at least one field to change")
        return self


class DestroyGroupRequest(Wire):
    GroupId: GroupIdStr


# add_group_member's per-member Result (docs/protocol.md §10.5).
MEMBER_ADD_FAILED = 0
MEMBER_ADDED = 1
MEMBER_ALREADY_IN_GROUP = 2
MEMBER_ADD_PENDING = 3


class AddGroupMemberRequest(Wire):
    GroupId: GroupIdStr
    Silence: Literal[0, 1] | None = None
    MemberList: Annotated[list[MemberAccount], _bare("Member_Account")] = Field(
        min_length=1, max_length=MAX_ADD_MEMBERS
    )


class AddGroupMemberResult(Wire):
    Member_Account: str
    Result: int


class AddGroupMemberReply(Reply):
    MemberList: list[AddGroupMemberResult] = Field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """The accounts that were not added (Result 0)."""
        return [item.Member_Account for item in self.MemberList if item.Result == MEMBER_ADD_FAILED]


class DeleteGroupMemberRequest(Wire):
    GroupId: GroupIdStr
    MemberToDel_Account: list[UserId] = Field(min_length=1, max_length=MAX_DELETE_MEMBERS)
    Silence: Literal[0, 1] | None = None
    Reason: str | None = None


# ----------------------------------------------------------------------------- group messages (docs/protocol.md §11)

MAX_RECALL_SEQS = 10
MAX_RECALL_REASON_BYTES = 100
MAX_HISTORY_PAGE = 20
MAX_RECEIPT_SEQS = 50
MAX_RECEIPT_DETAIL_COUNT = 200
# group_msg_get_simple's IsPlaceMsg (docs/protocol.md §11.2).
PLACE_MSG_NORMAL = 0
PLACE_MSG_GONE = 1
PLACE_MSG_RECALLED = 2


RecallReason = Annotated[
    str,
    _max_bytes(MAX_RECALL_REASON_BYTES, "a recall Reason"),
    Field(json_schema_extra={"maxLength": MAX_RECALL_REASON_BYTES}),
]


class MsgSeqItem(Wire):
    MsgSeq: MsgSeqValue


class GroupMsgRecallRequest(Wire):
    GroupId: GroupIdStr
    MsgSeqList: Annotated[list[MsgSeqItem], _bare("MsgSeq")] = Field(min_length=1, max_length=MAX_RECALL_SEQS)
    TopicId: str | None = None
    Reason: RecallReason | None = None


class RecallResult(Wire):
    MsgSeq: int
    RetCode: int = 0


class GroupMsgRecallReply(Reply):
    RecallRetList: list[RecallResult] = Field(default_factory=list)

    @property
    def failed(self) -> dict[int, int]:
        """MsgSeq → RetCode of the messages that were not recalled."""
        return {item.MsgSeq: item.RetCode for item in self.RecallRetList if item.RetCode}


class GroupMsgGetSimpleRequest(Wire):
    GroupId: GroupIdStr
    ReqMsgNumber: Annotated[int, Field(ge=1, le=MAX_HISTORY_PAGE)]
    ReqMsgSeq: MsgSeqValue | None = None
    WithRecalledMsg: Literal[0, 1] | None = None
    TopicId: str | None = None


class GroupHistoryMsg(Wire):
    MsgSeq: int
    From_Account: str = ""
    IsPlaceMsg: int = PLACE_MSG_NORMAL
    IsSystemMsg: int | None = None
    MsgPriority: int | None = None
    MsgRandom: int = 0
    MsgTimeStamp: int = 0
    MsgBody: list[MsgElement] = Field(default_factory=list)
    # Not listed by Tencent's page (docs/protocol.md §11.2): taken when present.
    CloudCustomData: str | None = None
    MsgKey: str | None = None

    @property
    def recalled(self) -> bool:
        return self.IsPlaceMsg == PLACE_MSG_RECALLED


class GroupMsgGetSimpleReply(Reply):
    GroupId: str = ""
    IsFinished: int = 0
    RspMsgList: list[GroupHistoryMsg] = Field(default_factory=list)


class GroupMsgReceiptRequest(Wire):
    """group_msg_receipt: the admin sends a read receipt on ``From_Account``'s behalf (docs/protocol.md §11.3)."""

    GroupId: GroupIdStr
    From_Account: UserId
    MsgSeqList: Annotated[list[MsgSeqItem], _bare("MsgSeq")] = Field(min_length=1, max_length=MAX_RECEIPT_SEQS)


class GetGroupMsgReceiptRequest(Wire):
    GroupId: GroupIdStr
    MsgSeqList: Annotated[list[MsgSeqItem], _bare("MsgSeq")] = Field(min_length=1)


class GroupMsgReceiptInfo(Wire):
    MsgSeq: int
    Code: int = 0
    ReadNum: int = 0
    UnreadNum: int = 0


class GetGroupMsgReceiptReply(Reply):
    GroupMsgReceiptList: list[GroupMsgReceiptInfo] = Field(default_factory=list)


class GetGroupMsgReceiptDetailRequest(Wire):
    GroupId: GroupIdStr
    MsgSeq: MsgSeqValue
    Filter: Literal[0, 1]  # 0: who read it, 1: who did not
    Cursor: str = ""
    Count: Annotated[int, Field(ge=1, le=MAX_RECEIPT_DETAIL_COUNT)] = MAX_RECEIPT_DETAIL_COUNT


class ReadAccount(Wire):
    Read_Account: str


class UnreadAccount(Wire):
    Unread_Account: str


class GetGroupMsgReceiptDetailReply(Reply):
    MsgSeq: int = 0
    Cursor: str = ""
    IsFinished: int = 0
    ReadList: list[ReadAccount] = Field(default_factory=list)
    UnreadList: list[UnreadAccount] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _is_finish(cls, value: Any) -> Any:
        # docs/protocol.md §11.3: the page's table says IsFinished, its examples IsFinish.
        if isinstance(value, dict) and "IsFinished" not in value and "IsFinish" in value:
            return {**value, "IsFinished": value["IsFinish"]}
        return value


# ----------------------------------------------------------------------------- one-to-one (docs/protocol.md §12)

# admin_getroammsg's MsgFlagBits: 8 marks a recalled message (docs/protocol.md §12.1).
MSG_FLAG_RECALLED = 8


class AdminGetRoamMsgRequest(Wire):
    Operator_Account: UserId
    Peer_Account: UserId
    MaxCnt: Annotated[int, Field(ge=1)]
    MinTime: Annotated[int, Field(ge=0)]
    MaxTime: Annotated[int, Field(ge=0)]
    LastMsgKey: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _range(self) -> AdminGetRoamMsgRequest:
        if self.MinTime > self.MaxTime:
            raise ValueError("MinTime is after MaxTime")
        return self


class RoamMsg(Wire):
    From_Account: str
    To_Account: str
    MsgKey: str
    MsgSeq: int = 0
    MsgRandom: int = 0
    MsgTimeStamp: int = 0
    MsgFlagBits: int = 0
    IsPeerRead: int = 0
    MsgBody: list[MsgElement] = Field(default_factory=list)
    CloudCustomData: str = ""

    @property
    def recalled(self) -> bool:
        return bool(self.MsgFlagBits & MSG_FLAG_RECALLED)


class AdminGetRoamMsgReply(Reply):
    Complete: int = 0
    MsgCnt: int = 0
    LastMsgTime: int = 0
    LastMsgKey: str = ""
    MsgList: list[RoamMsg] = Field(default_factory=list)


class AdminMsgWithdrawRequest(Wire):
    From_Account: UserId
    To_Account: UserId
    MsgKey: Annotated[str, Field(min_length=1)]


class AdminSetMsgReadRequest(Wire):
    Report_Account: UserId
    Peer_Account: UserId
    MsgReadTime: Annotated[int, Field(ge=0)] | None = None
