"""Request and response models of the Tencent IM REST calls the bundle makes (protocol §5).

Requests are serialised with ``exclude_none``: a field left out is a field Tencent defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from timkit.models.callbacks import GroupAtItem
from timkit.models.elements import MsgElement, Wire

MAX_BATCH_RECIPIENTS = 500
MAX_USER_ID_BYTES = 32
ROBOT_PREFIX = "@RBT#"


def _user_id(value: str) -> str:
    if not value or len(value.encode()) > MAX_USER_ID_BYTES:
        raise ValueError(f"a UserID is 1 to {MAX_USER_ID_BYTES} bytes")
    return value


def _robot_id(value: str) -> str:
    if not value.startswith(ROBOT_PREFIX) or value == ROBOT_PREFIX:
        raise ValueError(f"a robot ID starts with {ROBOT_PREFIX} and has a name after it")
    return _user_id(value)


# The limits in bytes are checked by the validators; the JSON schema (the admin API's OpenAPI
# document) gets the nearest it can say, in characters.
UserId = Annotated[
    str, AfterValidator(_user_id), Field(json_schema_extra={"minLength": 1, "maxLength": MAX_USER_ID_BYTES})
]
RobotId = Annotated[
    str,
    AfterValidator(_robot_id),
    Field(json_schema_extra={"pattern": f"^{ROBOT_PREFIX}.", "maxLength": MAX_USER_ID_BYTES}),
]
Uint32 = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]


class Reply(Wire):
    """The envelope every answer has (§4.1)."""

    ActionStatus: str = "OK"
    ErrorCode: int = 0
    ErrorInfo: str = ""


class PushInfo(Wire):
    PushFlag: Literal[0, 1] | None = None
    Title: str | None = None
    Desc: str | None = None
    Ext: str | None = None
    AndroidInfo: dict[str, Any] | None = None
    ApnsInfo: dict[str, Any] | None = None


ForbidCallback = Literal["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"]


class _SendCommon(Wire):
    From_Account: UserId | None = None
    MsgBody: list[MsgElement] = Field(min_length=1)
    CloudCustomData: str | None = None
    OfflinePushInfo: PushInfo | None = None
    ForbidCallbackControl: list[ForbidCallback] | None = None
    SupportMessageExtension: Literal[0, 1] | None = None


# ----------------------------------------------------------------------------- friends (§5.1)


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


# ----------------------------------------------------------------------------- robots (§5.9)


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


# ----------------------------------------------------------------------------- C2C (§5.3, §5.4)


class SendMsgRequest(_SendCommon):
    To_Account: UserId
    MsgRandom: Uint32
    MsgSeq: Uint32 | None = None
    SyncOtherMachine: Literal[1, 2] | None = None
    MsgLifeTime: Annotated[int, Field(ge=0, le=604800)] | None = None
    SendMsgControl: list[Literal["NoUnread", "NoLastMsg", "WithMuteNotifications"]] | None = None
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
    SendMsgControl: list[Literal["NoUnread", "NoLastMsg", "WithMuteNotifications"]] | None = None


class BatchError(Wire):
    To_Account: str
    ErrorCode: int


class BatchSendMsgReply(Reply):
    MsgKey: str | None = None
    ErrorList: list[BatchError] = Field(default_factory=list)

    @property
    def failed(self) -> dict[str, int]:
        return {item.To_Account: item.ErrorCode for item in self.ErrorList}


# ----------------------------------------------------------------------------- groups (§5.5, §5.8)


class SendGroupMsgRequest(_SendCommon):
    GroupId: Annotated[str, Field(min_length=1, max_length=48)]
    Random: Uint32
    MsgPriority: Literal["High", "Normal", "Low"] | None = None
    OnlineOnlyFlag: Literal[0, 1] | None = None
    SendMsgControl: list[Literal["NoLastMsg", "NoUnread"]] | None = None
    To_Account: list[UserId] | None = Field(default=None, max_length=50)
    GroupAtInfo: list[GroupAtItem] | None = Field(default=None, max_length=30)
    TopicId: str | None = None


class SendGroupMsgReply(Reply):
    MsgTime: int = 0
    MsgSeq: int = 0
    MsgDropReason: str = ""


# ----------------------------------------------------------------------------- native stream (§8.4)


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
    Member_Account: str
    Role: str | None = None
    JoinTime: int | None = None
    MsgSeq: int | None = None
    MsgFlag: str | None = None
    LastSendMsgTime: int | None = None
    MuteUntil: int | None = None
    NameCard: str | None = None


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
