"""The one client for Tencent IM's REST API (docs/protocol.md §4–§6).

* ``POST {base}/v4/{service}/{command}?sdkappid=&identifier=&usersig=&random=&contenttype=json``
  on a keep-alive session, with a timeout above Tencent's 3 s backend timeout.
* The admin UserSig is made once and renewed before it expires (thread-safe); ``70001`` renews
  it at once and repeats the call, once. The key comes from a :data:`timkit.keys.KeySource`,
  asked before every attempt: a rotated key gets a new sig at once, and a key that is not
  configured (:class:`timkit.keys.KeyNotConfigured`) stops the call before anything is sent.
* Non-zero ``ErrorCode`` → :class:`TimApiError`. Retries (exponential backoff, full jitter,
  capped) only for the safe-to-retry codes of §6.3 and transport failures; a retry sends the
  very same body, so a send keeps its ``MsgRandom`` / ``Random`` and Tencent can drop the copy.
* Nothing it logs or raises contains the UserSig, the key or a URL with its query string.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from pydantic import BaseModel

from timkit.config import RestSettings
from timkit.keys import KeySource, usable_key
from timkit.models.elements import MAX_BODY_BYTES, body_size, dump_body
from timkit.models.rest import (
    AddGroupMemberReply,
    AddGroupMemberRequest,
    AdminGetRoamMsgReply,
    AdminGetRoamMsgRequest,
    AdminMsgWithdrawRequest,
    AdminSetMsgReadRequest,
    BatchSendMsgReply,
    BatchSendMsgRequest,
    CreateGroupReply,
    CreateGroupRequest,
    CreateRobotRequest,
    DeleteGroupMemberRequest,
    DeleteRobotRequest,
    DestroyGroupRequest,
    FriendAddItem,
    FriendAddReply,
    FriendAddRequest,
    FriendCheckReply,
    FriendCheckRequest,
    GetAllRobotsReply,
    GetGroupInfoReply,
    GetGroupInfoRequest,
    GetGroupMsgReceiptDetailReply,
    GetGroupMsgReceiptDetailRequest,
    GetGroupMsgReceiptReply,
    GetGroupMsgReceiptRequest,
    GroupListReply,
    GroupListRequest,
    GroupMember,
    GroupMemberReply,
    GroupMemberRequest,
    GroupMsgGetSimpleReply,
    GroupMsgGetSimpleRequest,
    GroupMsgRecallReply,
    GroupMsgRecallRequest,
    GroupMsgReceiptRequest,
    ModifyC2CMsgRequest,
    ModifyGroupBaseInfoRequest,
    ModifyGroupMsgRequest,
    Reply,
    RoleInGroupReply,
    RoleInGroupRequest,
    SendC2CStreamRequest,
    SendGroupMsgReply,
    SendGroupMsgRequest,
    SendGroupStreamRequest,
    SendMsgReply,
    SendMsgRequest,
    SendStreamReply,
)
from timkit.tim.endpoints import api_base
from timkit.tim.errors import SIG_EXPIRED, MessageDropped, MessageTooLarge, TimApiError, TimError, TimTransportError
from timkit.tim.usersig import gen_usersig

log = logging.getLogger("timkit.tim.rest")
_USERSIG_IN_URL = re.compile(r"(usersig=)[^&\s\"']*", re.IGNORECASE)


class _RedactUserSig(logging.Filter):
    """urllib3 logs request lines, query string included, at DEBUG: take the UserSig out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "usersig=" in message.lower():
            record.msg, record.args = _USERSIG_IN_URL.sub(r"\1[redacted]", message), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactUserSig())
R = TypeVar("R", bound=Reply)

# Connect, read: the read timeout stays above Tencent's 3 s backend processing timeout.
DEFAULT_TIMEOUT = (3.05, 6.0)
SIG_LIFETIME_SECONDS = 86400
# Renew this long before expiry, so no request carries a sig that expires in flight.
SIG_RENEW_BEFORE_SECONDS = 300


FRIENDS_BOTH_WAYS = "CheckResult_Type_BothWay"
# How Tencent's TUIKit recognises "already friends" in a friend_add item (not in the reference).
FRIEND_PARAM_INVALID = 30001
FRIEND_EXISTS_INFO = "Err_SNS_FriendAdd_Friend_Exist"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 3.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        # Full jitter: spreads the retries of many concurrent callers apart.
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class TimRestClient:
    def __init__(
        self,
        sdkappid: int,
        secret_key: KeySource,
        admin: str = "administrator",
        base_url: str | None = None,
        region: str = "singapore",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        pace: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.sdkappid = sdkappid
        self.admin = admin
        self.base_url = api_base(region, base_url)
        if isinstance(secret_key, str):
            fixed = secret_key
            self._key: Callable[[], str] = lambda: fixed
        else:
            self._key = secret_key
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._session = session or requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Called with the API's name and the body before every attempt, retries included: a rate
        # limiter shared with other Lambdas waits there for a slot.
        self._pace = pace
        self._sig_lock = threading.Lock()
        self._sig: str | None = None
        self._sig_renew_at = 0.0
        # The key the current sig was made with: another one (rotated) means a new sig.
        self._sig_key: str | None = None
        # How many UserSigs (HMACs) this client has made: a benchmark figure.
        self.sigs_made = 0

    @classmethod
    def from_settings(cls, settings: RestSettings, secret_key: KeySource, **kwargs: Any) -> TimRestClient:
        return cls(
            settings.TIM_SDKAPPID,
            secret_key,
            admin=settings.TIM_ADMIN_IDENTIFIER,
            base_url=settings.TIM_API_BASE or None,
            region=settings.TIM_REGION,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"TimRestClient(sdkappid={self.sdkappid}, admin={self.admin!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ transport

    def call(self, service: str, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """One REST call, retried as the module docstring says; returns the decoded answer."""
        name = f"{service}/{command}"
        url = f"{self.base_url}/v4/{service}/{command}"
        renewed = False
        attempt = 0
        while True:
            try:
                # Before the pace: with no usable key, no rate slot is taken either.
                usersig = self._usersig()
                if self._pace is not None:
                    self._pace(name, body)
                return self._once(name, url, body, usersig)
            except TimApiError as exc:
                if exc.error_code == SIG_EXPIRED and not renewed:
                    renewed = True
                    self._usersig(force=True)
                    continue
                error: TimError = exc
            except TimTransportError as exc:
                error = exc
            attempt += 1
            if not error.retryable or attempt >= self._retry.attempts:
                raise error
            delay = self._retry.delay(attempt, self._rng)
            log.warning("retrying %s after %s (attempt %d, %.2f s)", name, error, attempt + 1, delay)
            self._sleep(delay)

    def _once(self, name: str, url: str, body: dict[str, Any], usersig: str) -> dict[str, Any]:
        params: dict[str, str | int] = {
            "sdkappid": self.sdkappid,
            "identifier": self.admin,
            "usersig": usersig,
            "random": self._rng.getrandbits(32),
            "contenttype": "json",
        }
        try:
            response = self._session.post(url, params=params, json=body, timeout=self._timeout)
        except requests.Timeout:
            raise TimTransportError(name, "timed out") from None
        except requests.RequestException as exc:
            # requests' messages quote the URL, query string and UserSig included: never pass them on.
            raise TimTransportError(name, f"request failed ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise TimTransportError(name, "unexpected HTTP status", response.status_code)
        try:
            answer = response.json()
        except ValueError:
            raise TimTransportError(name, "answer is not JSON", response.status_code) from None
        if not isinstance(answer, dict):
            raise TimTransportError(name, "answer is not a JSON object", response.status_code)
        code = answer.get("ErrorCode", 0)
        if code:
            raise TimApiError(name, int(code), str(answer.get("ErrorInfo", "")))
        return answer

    def _usersig(self, force: bool = False) -> str:
        # Outside the lock: the source may read Secrets Manager.
        key = usable_key(self._key())
        with self._sig_lock:
            now = self._clock()
            if force or self._sig is None or now >= self._sig_renew_at or key != self._sig_key:
                self._sig = gen_usersig(self.sdkappid, key, self.admin, SIG_LIFETIME_SECONDS, int(now))
                self._sig_renew_at = now + SIG_LIFETIME_SECONDS - SIG_RENEW_BEFORE_SECONDS
                self._sig_key = key
                self.sigs_made += 1
            return self._sig

    def _typed(self, service: str, command: str, request: BaseModel, reply: type[R]) -> R:
        payload = request.model_dump(mode="json", exclude_none=True, exclude={"MsgBody"})
        # The body goes out exactly as it was given (a forwarded body included).
        if (body := getattr(request, "MsgBody", None)) is not None:
            payload["MsgBody"] = dump_body(body)
        return reply.model_validate(self.call(service, command, payload))

    # ------------------------------------------------------------------ friends

    def friend_add(
        self,
        user: str,
        friends: list[str],
        both_ways: bool = True,
        force: bool = True,
        remark: str | None = None,
        group_name: str | None = None,
    ) -> FriendAddReply:
        request = FriendAddRequest(
            From_Account=user,
            AddFriendItem=[FriendAddItem(To_Account=f, Remark=remark, GroupName=group_name) for f in friends],
            AddType="Add_Type_Both" if both_ways else "Add_Type_Single",
            ForceAddFlags=1 if force else 0,
        )
        return self._typed("sns", "friend_add", request, FriendAddReply)

    def ensure_friends(self, user: str, others: list[str]) -> dict[str, int | None]:
        """Make ``user`` and each of ``others`` friends both ways (admin force-add). Per other: None
        if they already were friends (not added again, so repeating the call changes nothing),
        else the add's result code, 0 meaning they are friends now."""
        check = self.friend_check(user, others)
        results: dict[str, int | None] = {
            item.To_Account: None for item in check.InfoItem if item.Relation == FRIENDS_BOTH_WAYS
        }
        missing = [other for other in others if other not in results]
        if missing:
            for item in self.friend_add(user, missing).ResultItem:
                # Made friends between the check and the add: Tencent's "already friends" answer.
                already = item.ResultCode == FRIEND_PARAM_INVALID and item.ResultInfo == FRIEND_EXISTS_INFO
                results[item.To_Account] = None if already else item.ResultCode
        return results

    def friend_check(self, user: str, others: list[str], both_ways: bool = True) -> FriendCheckReply:
        request = FriendCheckRequest(
            From_Account=user,
            To_Account=others,
            CheckType="CheckResult_Type_Both" if both_ways else "CheckResult_Type_Single",
        )
        return self._typed("sns", "friend_check", request, FriendCheckReply)

    # ------------------------------------------------------------------ robots

    def create_robot(self, robot_id: str, nick: str | None = None, face_url: str | None = None) -> Reply:
        request = CreateRobotRequest(UserID=robot_id, Nick=nick, FaceUrl=face_url)
        return self._typed("openim_robot_http_svc", "create_robot", request, Reply)

    def delete_robot(self, robot_id: str) -> Reply:
        return self._typed("openim_robot_http_svc", "delete_robot", DeleteRobotRequest(UserID=robot_id), Reply)

    def get_all_robots(self) -> list[str]:
        answer = self.call("openim_robot_http_svc", "get_all_robots", {})
        return GetAllRobotsReply.model_validate(answer).Robot_Account

    # ------------------------------------------------------------------ messages

    def send_c2c(self, request: SendMsgRequest) -> SendMsgReply:
        self._check_size("openim/sendmsg", request)
        return self._typed("openim", "sendmsg", request, SendMsgReply)

    def batch_send_c2c(self, request: BatchSendMsgRequest) -> BatchSendMsgReply:
        """Up to 500 recipients; recipients it could not reach are in ``reply.failed``."""
        self._check_size("openim/batchsendmsg", request)
        return self._typed("openim", "batchsendmsg", request, BatchSendMsgReply)

    def send_group(self, request: SendGroupMsgRequest) -> SendGroupMsgReply:
        """Raises :class:`MessageDropped` when Tencent dropped it (``MsgDropReason``)."""
        self._check_size("group_open_http_svc/send_group_msg", request)
        reply = self._typed("group_open_http_svc", "send_group_msg", request, SendGroupMsgReply)
        if reply.MsgDropReason:
            raise MessageDropped("group_open_http_svc/send_group_msg", reply.MsgDropReason, request.GroupId)
        return reply

    def modify_c2c(self, request: ModifyC2CMsgRequest) -> Reply:
        self._check_size("openim/modify_c2c_msg", request)
        return self._typed("openim", "modify_c2c_msg", request, Reply)

    def modify_group(self, request: ModifyGroupMsgRequest) -> Reply:
        self._check_size("openim/modify_group_msg", request)
        return self._typed("openim", "modify_group_msg", request, Reply)

    def send_c2c_stream(self, request: SendC2CStreamRequest) -> SendStreamReply:
        """One chunk of a native stream message (docs/protocol.md §8.4); the first call's reply has its
        ``StreamMsgID``."""
        self._check_size("stream_msg/send_c2c_stream_msg", request)
        return self._typed("stream_msg", "send_c2c_stream_msg", request, SendStreamReply)

    def send_group_stream(self, request: SendGroupStreamRequest) -> SendStreamReply:
        """As :meth:`send_c2c_stream`, into a group; :class:`MessageDropped` as for :meth:`send_group`."""
        self._check_size("stream_msg/send_group_stream_msg", request)
        reply = self._typed("stream_msg", "send_group_stream_msg", request, SendStreamReply)
        if reply.MsgDropReason:
            raise MessageDropped("stream_msg/send_group_stream_msg", reply.MsgDropReason, request.GroupId)
        return reply

    @staticmethod
    def _check_size(command: str, request: BaseModel) -> None:
        body = getattr(request, "MsgBody", None)
        if body is not None and (size := body_size(body)) > MAX_BODY_BYTES:
            raise MessageTooLarge(command, size, MAX_BODY_BYTES)

    # ------------------------------------------------------------------ groups

    def group_id_page(self, next_page: int = 0, page_size: int = 1000, group_type: str | None = None) -> GroupListReply:
        """One page of the app's groups; ``Next`` of the reply starts the next page (0: no more)."""
        request = GroupListRequest(Limit=page_size, Next=next_page, GroupType=group_type)
        reply = self._typed("group_open_http_svc", "get_appid_group_list", request, GroupListReply)
        if not reply.GroupIdList:
            reply.Next = 0
        return reply

    def iter_group_ids(self, page_size: int = 1000, group_type: str | None = None) -> Iterator[str]:
        """Every group of the app, page by page."""
        next_page = 0
        while True:
            reply = self.group_id_page(next_page, page_size, group_type)
            yield from (item.GroupId for item in reply.GroupIdList)
            if not reply.Next:
                return
            next_page = reply.Next

    def group_member_page(
        self, group_id: str, page_size: int = 100, offset: int | None = 0, cursor: str | None = None
    ) -> GroupMemberReply:
        """One page of a group's members: from ``offset``, or from a Community group's ``Next`` cursor."""
        request = GroupMemberRequest(GroupId=group_id, Limit=page_size, Offset=offset, Next=cursor)
        return self._typed("group_open_http_svc", "get_group_member_info", request, GroupMemberReply)

    def iter_group_members(self, group_id: str, page_size: int = 100) -> Iterator[GroupMember]:
        """Every member of a group, by offset pages (or the ``Next`` cursor of Community groups)."""
        offset, cursor = 0, None
        while True:
            reply = self.group_member_page(group_id, page_size, None if cursor else offset, cursor)
            yield from reply.MemberList
            offset += len(reply.MemberList)
            if reply.Next:
                cursor = reply.Next
            elif cursor is not None or not reply.MemberList or offset >= reply.MemberNum:
                return

    def roles_in_group(self, group_id: str, users: list[str], topic_id: str | None = None) -> dict[str, str]:
        """Each of ``users``' (at most 500) role in the group: "Owner", "Admin", "Member" or
        "NotMember", as Tencent reports it; one call whatever the group's size. A group that does
        not exist raises :class:`TimApiError` (GROUP_MISSING_CODES), as do AVChatRoom groups (10007)."""
        request = RoleInGroupRequest(GroupId=group_id, User_Account=users, TopicId=topic_id)
        reply = self._typed("group_open_http_svc", "get_role_in_group", request, RoleInGroupReply)
        return {item.Member_Account: item.Role for item in reply.UserIdList}

    # ------------------------------------------------------------------ groups as threads (docs/protocol.md §10)

    def create_group(self, request: CreateGroupRequest) -> CreateGroupReply:
        """A custom ``GroupId`` already in use raises :class:`TimApiError` with a code of GROUP_ID_USED_CODES."""
        return self._typed("group_open_http_svc", "create_group", request, CreateGroupReply)

    def get_group_info(self, group_ids: list[str]) -> GetGroupInfoReply:
        """Up to 50 groups; each ``GroupInfo`` item has its own ``ErrorCode`` (GROUP_MISSING_CODES: not there)."""
        request = GetGroupInfoRequest(GroupIdList=group_ids)
        return self._typed("group_open_http_svc", "get_group_info", request, GetGroupInfoReply)

    def modify_group_base_info(self, request: ModifyGroupBaseInfoRequest) -> Reply:
        return self._typed("group_open_http_svc", "modify_group_base_info", request, Reply)

    def destroy_group(self, group_id: str) -> Reply:
        return self._typed("group_open_http_svc", "destroy_group", DestroyGroupRequest(GroupId=group_id), Reply)

    def add_group_member(self, group_id: str, members: list[str], silence: bool = False) -> AddGroupMemberReply:
        """Up to 300 members; each one's ``Result`` (0 failed, 1 added, 2 already a member, 3 pending)."""
        request = AddGroupMemberRequest.model_validate(
            {"GroupId": group_id, "Silence": 1 if silence else None, "MemberList": members}
        )
        return self._typed("group_open_http_svc", "add_group_member", request, AddGroupMemberReply)

    def delete_group_member(
        self, group_id: str, members: list[str], silence: bool = False, reason: str | None = None
    ) -> Reply:
        """Up to 100 members; removing someone who is not a member succeeds (docs/protocol.md §10.6)."""
        request = DeleteGroupMemberRequest(
            GroupId=group_id, MemberToDel_Account=members, Silence=1 if silence else None, Reason=reason
        )
        return self._typed("group_open_http_svc", "delete_group_member", request, Reply)

    # ------------------------------------------------------------------ group messages (docs/protocol.md §11)

    def group_msg_recall(self, group_id: str, seqs: list[int], reason: str | None = None) -> GroupMsgRecallReply:
        """Up to 10 seqs; each one's ``RetCode`` is in ``RecallRetList`` (``reply.failed``)."""
        request = GroupMsgRecallRequest.model_validate({"GroupId": group_id, "MsgSeqList": seqs, "Reason": reason})
        return self._typed("group_open_http_svc", "group_msg_recall", request, GroupMsgRecallReply)

    def group_msg_get_simple(
        self, group_id: str, req_msg_seq: int | None = None, number: int = 20, with_recalled: bool = True
    ) -> GroupMsgGetSimpleReply:
        """Up to 20 messages with seq ≤ ``req_msg_seq`` (the newest without it), newest first; the
        next page starts at the smallest seq returned minus 1."""
        request = GroupMsgGetSimpleRequest(
            GroupId=group_id, ReqMsgNumber=number, ReqMsgSeq=req_msg_seq, WithRecalledMsg=1 if with_recalled else 0
        )
        return self._typed("group_open_http_svc", "group_msg_get_simple", request, GroupMsgGetSimpleReply)

    def group_msg_receipt(self, group_id: str, reader: str, seqs: list[int]) -> Reply:
        """Send ``reader``'s read receipt for up to 50 messages (docs/protocol.md §11.3)."""
        request = GroupMsgReceiptRequest.model_validate(
            {"GroupId": group_id, "From_Account": reader, "MsgSeqList": seqs}
        )
        return self._typed("group_open_http_svc", "group_msg_receipt", request, Reply)

    def get_group_msg_receipt(self, group_id: str, seqs: list[int]) -> GetGroupMsgReceiptReply:
        """Read and unread counts per message; an item's ``Code`` 10062 means no receipt is kept for it."""
        request = GetGroupMsgReceiptRequest.model_validate({"GroupId": group_id, "MsgSeqList": seqs})
        return self._typed("group_open_http_svc", "get_group_msg_receipt", request, GetGroupMsgReceiptReply)

    def get_group_msg_receipt_detail(
        self, group_id: str, msg_seq: int, unread: bool = False, cursor: str = "", count: int = 200
    ) -> GetGroupMsgReceiptDetailReply:
        """One page (up to 200) of the members who read the message (``unread``: who did not)."""
        request = GetGroupMsgReceiptDetailRequest(
            GroupId=group_id, MsgSeq=msg_seq, Filter=1 if unread else 0, Cursor=cursor, Count=count
        )
        return self._typed(
            "group_open_http_svc", "get_group_msg_receipt_detail", request, GetGroupMsgReceiptDetailReply
        )

    # ------------------------------------------------------------------ one-to-one (docs/protocol.md §12)

    def admin_getroammsg(self, request: AdminGetRoamMsgRequest) -> AdminGetRoamMsgReply:
        """One page of a C2C conversation in [MinTime, MaxTime]; ``Complete`` 0 means continue with
        ``MaxTime`` = the reply's ``LastMsgTime`` and its ``LastMsgKey``."""
        return self._typed("openim", "admin_getroammsg", request, AdminGetRoamMsgReply)

    def admin_msgwithdraw(self, from_account: str, to_account: str, msg_key: str) -> Reply:
        request = AdminMsgWithdrawRequest(From_Account=from_account, To_Account=to_account, MsgKey=msg_key)
        return self._typed("openim", "admin_msgwithdraw", request, Reply)

    def admin_set_msg_read(self, report_account: str, peer_account: str, msg_read_time: int | None = None) -> Reply:
        """Mark ``report_account``'s messages from ``peer_account`` read up to ``msg_read_time`` (now by default)."""
        request = AdminSetMsgReadRequest(
            Report_Account=report_account, Peer_Account=peer_account, MsgReadTime=msg_read_time
        )
        return self._typed("openim", "admin_set_msg_read", request, Reply)
