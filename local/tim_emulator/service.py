"""The emulated Tencent IM service: its state and its rules, without HTTP.

State: accounts (robots are accounts whose ID starts with ``@RBT#``), directed friendship edges,
groups with members, and the message store (C2C messages by ``MsgKey``, group messages by
``GroupId`` + ``MsgSeq``). Rules: the REST APIs' validation and error codes, the per-API call
rate, the per-group message frequency, the 12 KB body limit, de-duplication, and the send
pipeline with its callbacks. Error codes and the choices made where the reference is silent are
in :mod:`local.tim_emulator.codes`; the pipeline's own choices are documented where they happen.

One lock guards all state. It is never held while waiting: not across a callback, not across
the modify latency.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from local.tim_emulator import codes
from local.tim_emulator.callbacks import CallbackClient, Decision, Job, interpret_before_send
from local.tim_emulator.config import Identity, Settings
from timkit.callback import error_fields
from timkit.models.elements import MAX_BODY_BYTES, body_size, parse_body
from timkit.models.rest import MAX_BATCH_RECIPIENTS, MAX_USER_ID_BYTES, ROBOT_PREFIX  # §5.4, §6.2, §8.1

MAX_GROUPID_BYTES = 48  # §6.2
MAX_ROBOTS = 20  # §8.1
MAX_MULTI_IMPORT = 100  # Tencent's multiaccount_import page: 100 accounts per call
MAX_GROUP_AT = 30  # §5.5
MAX_MSG_LIFETIME = 604_800  # §5.3
MAX_GROUP_LIST_LIMIT = 10_000  # Tencent's get_appid_group_list page
MEMBER_PAGE_LIMIT = 200  # §5.8, Limit + Offset
MEMBER_COMMUNITY_LIMIT = 100  # §5.8, Limit + Next (Community)
MEMBER_UNPAGED_MAX = 6000  # §5.8
MAX_ROLE_ACCOUNTS = 500  # get_role_in_group: https://www.tencentcloud.com/document/product/1047/34963
MAX_LOG = 100_000
# §6.1, stream API: a chunk at least every 15 s, at most 5 calls per second, a message under 128 KB.
STREAM_IDLE_SECONDS = 15.0
STREAM_CALLS_PER_SECOND = 5
STREAM_MAX_BYTES = 128 * 1024
UINT32_MAX = 0xFFFFFFFF

# §3: what the REST send APIs accept. A client SDK can also send a merger (TIMRelayElem, §7.2).
REST_ELEMENT_TYPES = frozenset(
    {
        "TIMTextElem",
        "TIMLocationElem",
        "TIMFaceElem",
        "TIMCustomElem",
        "TIMSoundElem",
        "TIMImageElem",
        "TIMFileElem",
        "TIMVideoFileElem",
    }
)
CLIENT_ELEMENT_TYPES = REST_ELEMENT_TYPES | {"TIMRelayElem"}
GROUP_TYPES = frozenset({"Public", "Private", "Work", "ChatRoom", "Meeting", "AVChatRoom", "Community"})
PRIORITIES = ("High", "Normal", "Low")
ROLES = ("Owner", "Admin", "Member")

Outcome = Literal["delivered", "rewritten", "rejected", "discarded", "dropped"]


class ImError(Exception):
    """A whole-request failure: answered as ``ActionStatus: FAIL`` with this code."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info


@dataclass
class Reply:
    """A REST answer: the envelope's parts, the API's own fields, and the callbacks to fire once
    the answer has been written."""

    fields: dict[str, Any] = field(default_factory=dict)
    action_status: str = "OK"
    code: int = codes.OK
    info: str = ""
    after: list[Job] = field(default_factory=list)

    def envelope(self) -> dict[str, Any]:
        return {"ActionStatus": self.action_status, "ErrorCode": self.code, "ErrorInfo": self.info, **self.fields}


@dataclass(frozen=True)
class Caller:
    """Who triggered a send, as Tencent reports it in the callback query and body."""

    source: Literal["rest", "client"]
    platform: str  # OptPlatform
    client_ip: str
    operator: str  # Operator_Account: the admin for REST calls, the sender for a client


@dataclass
class SendResult:
    code: int
    info: str
    outcome: Outcome
    send_id: int
    reason: str = ""
    message: dict[str, Any] | None = None
    msg_key: str | None = None
    msg_time: int | None = None
    msg_seq: int | None = None
    drop_reason: str = ""
    after: list[Job] = field(default_factory=list)


@dataclass
class Stream:
    """A native stream message (§8.4) being written: its chunks go into ``record``."""

    stream_id: str
    scope: tuple[Any, ...]
    record: dict[str, Any]
    last_time: float
    last_index: int = 0
    size: int = 0
    ended: bool = False
    calls: deque[float] = field(default_factory=deque)
    randoms: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class SeedGroup:
    group_id: str
    name: str
    type: str = "Public"
    owner: str | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seed:
    """Data put in place at start and again after every reset (unless the reset says not to)."""

    accounts: tuple[str, ...] = ()
    robots: tuple[str, ...] = ()
    groups: tuple[SeedGroup, ...] = ()


# What `make run` starts with: three users, a robot and a group with the users in it.
DEMO_SEED = Seed(
    accounts=("alice", "bob", "carol"),
    robots=("@RBT#assistant",),
    groups=(SeedGroup("@TGS#demo", "Demo group", "Public", "alice", ("alice", "bob", "carol")),),
)


@dataclass
class Account:
    user_id: str
    nick: str = ""
    face_url: str = ""
    robot: bool = False
    tinyid: int = 0


@dataclass
class Member:
    account: str
    role: str
    join_time: int
    last_send: int = 0


@dataclass
class Group:
    group_id: str
    type: str
    name: str
    owner: str | None
    created: int
    members: dict[str, Member] = field(default_factory=dict)
    next_seq: int = 1
    # The profile get_group_info answers and modify_group_base_info changes (protocol §10.2, §10.3).
    introduction: str = ""
    notification: str = ""
    face_url: str = ""
    max_members: int = 0  # 0: the emulator's plan limit (groups.DEFAULT_MAX_MEMBERS)
    apply_join: str = "NeedPermission"
    mute_all: str = "Off"
    app_data: dict[str, str] = field(default_factory=dict)
    info_time: int = 0
    last_msg_time: int = 0
    # (time, priority) of the messages admitted in the last second, for frequency control.
    window: deque[tuple[float, str]] = field(default_factory=deque)


def priority_ceilings(limit: int) -> dict[str, int]:
    """How full a group's one-second window may be for a message of each priority to get in.

    CHOICE (§6.1 says only "higher MsgPriority wins"): messages are answered one by one, so a
    later High message cannot displace an earlier Low one already delivered. Instead each lower
    priority keeps 10% of the window free for those above it: with 40/s, High is admitted while
    fewer than 40 messages were admitted in the last second, Normal below 36, Low below 32. In a
    burst, Low is dropped first, then Normal; High gets the last slots; the total never exceeds
    the limit. Within one priority it is first come, first served (Tencent: random).
    """
    reserve = math.ceil(limit * 0.1)
    return {
        "High": limit,
        "Normal": max(1, limit - reserve),
        "Low": max(1, limit - 2 * reserve),
    }


class Service:
    def __init__(
        self,
        identity: Identity,
        settings: Callable[[], Settings],
        now: Callable[[], float],
        callbacks: CallbackClient,
        stopping: threading.Event,
    ) -> None:
        self.identity = identity
        self._settings = settings
        self._now = now
        self._callbacks = callbacks
        self._stopping = stopping
        self._lock = threading.RLock()
        self._seed = Seed()
        self._reset_state()

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.friends: dict[str, dict[str, dict[str, Any]]] = {}  # from -> to -> edge info
        self.friend_requests: list[dict[str, Any]] = []  # pending (non-forced) adds
        self.groups: dict[str, Group] = {}
        self.messages: list[dict[str, Any]] = []
        self._c2c: dict[tuple[str, str, str], dict[str, Any]] = {}
        # The stored C2C messages of each conversation (its two accounts, sorted), in send order.
        self.conversations: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._group_msgs: dict[tuple[str, int], dict[str, Any]] = {}
        self._c2c_dedupe: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._group_dedupe: dict[tuple[str, str, int], tuple[float, dict[str, Any]]] = {}
        # Insertion order of the dedupe keys, so that expiring them does not scan everything.
        self._c2c_dedupe_order: deque[tuple[Any, ...]] = deque()
        self._group_dedupe_order: deque[tuple[float, tuple[str, str, int]]] = deque()
        self._c2c_seq: dict[tuple[str, str], int] = {}
        self.unread: dict[str, int] = {}
        self.dropped: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.calls: deque[dict[str, Any]] = deque(maxlen=MAX_LOG)
        self._call_windows: dict[str, deque[float]] = {}
        self._modifying: set[tuple[Any, ...]] = set()
        # Native stream messages (§8.4) by StreamMsgID, and the first calls by (scope, random).
        self._streams: dict[str, Stream] = {}
        self._stream_starts: dict[tuple[Any, ...], Stream] = {}
        self._send_ids = itertools.count(1)
        self._tinyids = itertools.count(144_115_200_000_000_001)
        # IDs the service makes up (group IDs, C2C seqs and randoms) are reproducible run to run.
        self._ids = random.Random(0x7173)
        self._add_account(self.identity.admin)

    def reset(self, seed: bool = True) -> None:
        with self._lock:
            self._reset_state()
            if seed:
                self.apply_seed(self._seed)

    def set_seed(self, seed: Seed) -> None:
        """Remember ``seed`` for resets and put it in place now."""
        with self._lock:
            self._seed = seed
            self.apply_seed(seed)

    def apply_seed(self, seed: Seed) -> None:
        now = self._now_s()
        with self._lock:
            for user in seed.accounts:
                self._add_account(user)
            for robot in seed.robots:
                self._add_account(robot, robot=True)
            for spec in seed.groups:
                # Seeded directly: a demo ID such as "@TGS#demo" is fine here, though a REST
                # create_group may not choose an ID with Tencent's own prefix (§6.2).
                group = Group(spec.group_id, spec.type, spec.name, spec.owner, now)
                self.groups[spec.group_id] = group
                for user in dict.fromkeys([*([spec.owner] if spec.owner else []), *spec.members]):
                    self._add_account(user)
                    group.members[user] = Member(user, "Owner" if user == spec.owner else "Member", now)

    def _add_account(self, user: str, nick: str = "", face_url: str = "", robot: bool = False) -> Account:
        account = self.accounts.get(user)
        if account is None:
            account = Account(user, nick, face_url, robot, next(self._tinyids))
            self.accounts[user] = account
        return account

    def _now_s(self) -> int:
        return int(self._now())

    def now(self) -> float:
        return self._now()

    # ------------------------------------------------------------------ calls and rate limits

    def admit_call(self, api: str) -> bool:
        """The per-API frequency limit: a sliding one-second window of admitted calls.

        Calls refused for the rate do not count: a client that backs off gets through as soon as
        the window has room again."""
        limit = self._settings().rate_limit(api)
        now = self._now()
        with self._lock:
            window = self._call_windows.setdefault(api, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return False
            window.append(now)
            return True

    def record_call(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(entry)

    # ------------------------------------------------------------------ REST dispatch

    def rest(self, api: str, body: dict[str, Any], caller: Caller) -> Reply:
        if api not in REST_APIS:
            raise ImError(codes.URL_INVALID, f"no such API: POST /v4/{api}")
        served = API_FUNCTIONS.get(api)
        if served is not None:
            return served(self, body, caller)
        handler = getattr(self, "_api_" + api.rsplit("/", 1)[1])
        return handler(body, caller)

    # ---------------------------------------------------------- accounts

    def _api_account_import(self, body: dict[str, Any], caller: Caller) -> Reply:
        user = _user_id(body.get("UserID"), codes.ACCOUNT_PARAM_INVALID, "UserID")
        if user.startswith(ROBOT_PREFIX):
            raise ImError(codes.ACCOUNT_PARAM_INVALID, f"{ROBOT_PREFIX} IDs are created with create_robot")
        nick = _opt_str(body, "Nick", codes.ACCOUNT_PARAM_INVALID)
        face = _opt_str(body, "FaceUrl", codes.ACCOUNT_PARAM_INVALID)
        with self._lock:
            account = self._add_account(user)
            # Importing an existing account again is allowed and updates its profile.
            account.nick = nick if nick is not None else account.nick
            account.face_url = face if face is not None else account.face_url
        return Reply()

    def _api_multiaccount_import(self, body: dict[str, Any], caller: Caller) -> Reply:
        accounts = body.get("Accounts")
        if not isinstance(accounts, list) or not accounts:
            raise ImError(codes.ACCOUNT_PARAM_INVALID, "Accounts must be a non-empty array of UserIDs")
        if len(accounts) > MAX_MULTI_IMPORT:
            raise ImError(codes.ACCOUNT_PARAM_INVALID, f"at most {MAX_MULTI_IMPORT} Accounts per call")
        failed = []
        with self._lock:
            for user in accounts:
                if _valid_user_id(user) and not user.startswith(ROBOT_PREFIX):
                    self._add_account(user)
                else:
                    failed.append(user)
        return Reply({"FailAccounts": failed})

    # ---------------------------------------------------------- robots (§5.9, §8.1)

    def _api_create_robot(self, body: dict[str, Any], caller: Caller) -> Reply:
        user = _user_id(body.get("UserID"), codes.ACCOUNT_PARAM_INVALID, "UserID")
        if not user.startswith(ROBOT_PREFIX) or user == ROBOT_PREFIX:
            raise ImError(codes.ACCOUNT_PARAM_INVALID, f"a robot's UserID must start with {ROBOT_PREFIX}")
        nick = _opt_str(body, "Nick", codes.ACCOUNT_PARAM_INVALID) or ""
        face = _opt_str(body, "FaceUrl", codes.ACCOUNT_PARAM_INVALID) or ""
        with self._lock:
            if user in self.accounts:
                return Reply()  # §8.1: re-creating an existing robot is a no-op
            if sum(a.robot for a in self.accounts.values()) >= MAX_ROBOTS:
                raise ImError(codes.ACCOUNT_LIMIT, f"at most {MAX_ROBOTS} robots per app")
            self._add_account(user, nick, face, robot=True)
        return Reply()

    def _api_delete_robot(self, body: dict[str, Any], caller: Caller) -> Reply:
        # CHOICE: the reference names no field for delete_robot; it takes create_robot's `UserID`.
        user = _user_id(body.get("UserID"), codes.ACCOUNT_PARAM_INVALID, "UserID")
        with self._lock:
            account = self.accounts.get(user)
            if account is None or not account.robot:
                raise ImError(codes.ACCOUNT_MISSING, f"robot {user} does not exist")
            del self.accounts[user]
            self.friends.pop(user, None)
            for edges in self.friends.values():
                edges.pop(user, None)
            for group in self.groups.values():
                group.members.pop(user, None)
        return Reply()

    def _api_get_all_robots(self, body: dict[str, Any], caller: Caller) -> Reply:
        with self._lock:
            return Reply({"Robot_Account": [a.user_id for a in self.accounts.values() if a.robot]})

    # ---------------------------------------------------------- friends (§5.1)

    def _api_friend_add(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.FRIEND_PARAM_INVALID
        owner = _user_id(body.get("From_Account"), bad, "From_Account")
        items = body.get("AddFriendItem")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise ImError(bad, "AddFriendItem must be a non-empty array of objects")
        add_type = body.get("AddType", "Add_Type_Both")
        if add_type not in ("Add_Type_Both", "Add_Type_Single"):
            raise ImError(bad, "AddType must be Add_Type_Both or Add_Type_Single")
        force = body.get("ForceAddFlags", 0)
        if force not in (0, 1) or isinstance(force, bool):
            raise ImError(bad, "ForceAddFlags must be 0 or 1")
        results, failed = [], []
        now = self._now_s()
        with self._lock:
            if owner not in self.accounts:
                raise ImError(codes.FRIEND_ACCOUNT_MISSING, f"From_Account {owner} does not exist")
            for item in items:
                target = item.get("To_Account")
                code, info = self._add_friend(owner, item, add_type == "Add_Type_Both", force == 1, now)
                results.append({"To_Account": target, "ResultCode": code, "ResultInfo": info})
                if code not in (codes.OK, codes.FRIEND_PENDING):
                    failed.append(target)
        fields: dict[str, Any] = {"ResultItem": results}
        if failed:
            fields["Fail_Account"] = failed
        fields["ErrorDisplay"] = ""
        return Reply(fields)

    def _add_friend(self, owner: str, item: dict[str, Any], both: bool, force: bool, now: int) -> tuple[int, str]:
        target = item.get("To_Account")
        if not _valid_user_id(target) or target == owner:
            return codes.FRIEND_PARAM_INVALID, "To_Account is missing, invalid or the account itself"
        source = item.get("AddSource")
        if source is not None and not _valid_add_source(source):
            return codes.FRIEND_PARAM_INVALID, "AddSource must be AddSource_Type_ + up to 8 letters"
        if target not in self.accounts:
            return codes.FRIEND_ACCOUNT_MISSING, f"To_Account {target} does not exist"
        wanted = [(owner, target), (target, owner)] if both else [(owner, target)]
        missing = [(a, b) for a, b in wanted if b not in self.friends.get(a, {})]
        if not missing:
            return codes.FRIEND_PARAM_INVALID, codes.FRIEND_EXISTS_INFO
        if not force:
            self.friend_requests.append({"From_Account": owner, "To_Account": target, "time": now})
            return codes.FRIEND_PENDING, "waiting for the peer's confirmation"
        for a, _ in missing:
            if len(self.friends.get(a, {})) >= codes.MAX_FRIENDS:
                return (codes.FRIEND_LIST_FULL if a == owner else codes.FRIEND_PEER_LIST_FULL), "friend list full"
        for a, b in missing:
            self.friends.setdefault(a, {})[b] = {
                "Remark": item.get("Remark", "") if a == owner else "",
                "GroupName": item.get("GroupName", "") if a == owner else "",
                "AddSource": source or "",
                "AddTime": now,
            }
        return codes.OK, ""

    def _api_friend_check(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.FRIEND_PARAM_INVALID
        owner = _user_id(body.get("From_Account"), bad, "From_Account")
        targets = body.get("To_Account")
        if not isinstance(targets, list) or not targets:
            raise ImError(bad, "To_Account must be a non-empty array")
        if len(targets) > codes.MAX_FRIEND_CHECK:
            raise ImError(bad, f"at most {codes.MAX_FRIEND_CHECK} To_Account per call")
        check = body.get("CheckType")
        if check not in ("CheckResult_Type_Both", "CheckResult_Type_Single"):
            raise ImError(bad, "CheckType must be CheckResult_Type_Both or CheckResult_Type_Single")
        items, failed = [], []
        with self._lock:
            if owner not in self.accounts:
                raise ImError(codes.FRIEND_ACCOUNT_MISSING, f"From_Account {owner} does not exist")
            for target in targets:
                if not _valid_user_id(target):
                    items.append(
                        {"To_Account": target, "Relation": "CheckResult_Type_NoRelation",
                         "ResultCode": bad, "ResultInfo": "invalid To_Account"}
                    )
                    failed.append(target)
                    continue
                a_has_b = target in self.friends.get(owner, {})
                b_has_a = owner in self.friends.get(target, {})
                items.append(
                    {"To_Account": target, "Relation": _relation(a_has_b, b_has_a, check == "CheckResult_Type_Both"),
                     "ResultCode": 0, "ResultInfo": ""}
                )
        fields: dict[str, Any] = {"InfoItem": items}
        if failed:
            fields["Fail_Account"] = failed
        fields["ErrorDisplay"] = ""
        return Reply(fields)

    # ---------------------------------------------------------- groups (§5.8)

    def _new_group_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        while True:
            group_id = "@TGS#" + "".join(self._ids.choice(alphabet) for _ in range(9))
            if group_id not in self.groups:
                return group_id

    def _api_get_appid_group_list(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.GROUP_PARAM_INVALID
        limit = body.get("Limit", MAX_GROUP_LIST_LIMIT)
        if not _is_int(limit) or not 1 <= limit <= MAX_GROUP_LIST_LIMIT:
            raise ImError(bad, f"Limit must be 1-{MAX_GROUP_LIST_LIMIT}")
        # `Next` is an integer cursor: 0 starts, and an answer of 0 means there is nothing more.
        cursor = body.get("Next", 0)
        if not _is_int(cursor) or cursor < 0:
            raise ImError(bad, "Next must be the integer cursor of the previous answer (0 to start)")
        group_type = body.get("GroupType")
        if group_type is not None and group_type not in GROUP_TYPES:
            raise ImError(bad, "GroupType is not a group type")
        with self._lock:
            ids = [g.group_id for g in self.groups.values() if group_type in (None, g.type)]
        page = ids[cursor : cursor + limit]
        following = cursor + len(page)
        return Reply(
            {
                "TotalCount": len(ids),
                "GroupIdList": [{"GroupId": g} for g in page],
                "Next": following if following < len(ids) else 0,
            }
        )

    def _api_get_group_member_info(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.GROUP_PARAM_INVALID
        group_id = _group_id(body.get("GroupId"))
        roles = body.get("MemberRoleFilter")
        if roles is not None and (not isinstance(roles, list) or not set(roles) <= set(ROLES)):
            raise ImError(bad, f"MemberRoleFilter may hold {', '.join(ROLES)}")
        info_filter = body.get("MemberInfoFilter")
        if info_filter is not None and not (
            isinstance(info_filter, list) and all(isinstance(f, str) for f in info_filter)
        ):
            raise ImError(bad, "MemberInfoFilter must be an array of field names")
        with self._lock:
            group = self._group(group_id)
            members = [m for m in group.members.values() if roles is None or m.role in roles]
            total = len(group.members)
            community = group.type == "Community"
        fields: dict[str, Any] = {"MemberNum": total}
        limit = body.get("Limit")
        if community and "Next" in body:
            # §5.8, Community: Limit (≤ 100) + an opaque Next cursor, "" to start and at the end.
            if not _is_int(limit) or not 1 <= limit <= MEMBER_COMMUNITY_LIMIT:
                raise ImError(bad, f"Limit must be 1-{MEMBER_COMMUNITY_LIMIT} with Next")
            start = _decode_cursor(body["Next"])
            page = members[start : start + limit]
            following = start + len(page)
            fields["Next"] = _encode_cursor(following) if following < len(members) else ""
        else:
            offset = body.get("Offset", 0)
            if not _is_int(offset) or offset < 0:
                raise ImError(bad, "Offset must be a non-negative integer")
            if limit is None:
                page = members[offset : offset + MEMBER_UNPAGED_MAX]
            elif not _is_int(limit) or not 1 <= limit <= MEMBER_PAGE_LIMIT:
                raise ImError(bad, f"Limit must be 1-{MEMBER_PAGE_LIMIT}")
            else:
                page = members[offset : offset + limit]
        fields["MemberList"] = [_member_info(m, info_filter, "AppDefinedDataFilter_GroupMember" in body) for m in page]
        return Reply(fields)

    def _api_get_role_in_group(self, body: dict[str, Any], caller: Caller) -> Reply:
        """Each account's role in the group, "NotMember" for the others (Tencent's get_role_in_group:
        https://www.tencentcloud.com/document/product/1047/34963). AVChatRoom groups are refused
        with 10007, as Tencent does. CHOICE: topics are not modelled; a TopicId (Community groups
        only, as Tencent says) answers with the group's own roles."""
        bad = codes.GROUP_PARAM_INVALID
        group_id = _group_id(body.get("GroupId"))
        accounts = body.get("User_Account")
        if not isinstance(accounts, list) or not accounts or not all(_valid_user_id(a) for a in accounts):
            raise ImError(bad, "User_Account must be a non-empty array of UserIDs")
        if len(accounts) > MAX_ROLE_ACCOUNTS:
            raise ImError(bad, f"at most {MAX_ROLE_ACCOUNTS} User_Account per call")
        topic = body.get("TopicId")
        if topic is not None and not isinstance(topic, str):
            raise ImError(bad, "TopicId must be a string")
        with self._lock:
            group = self._group(group_id)
            if group.type == "AVChatRoom":
                raise ImError(codes.GROUP_NO_PERMISSION, "get_role_in_group does not support AVChatRoom groups")
            if topic is not None and group.type != "Community":
                raise ImError(bad, "TopicId is for Community groups only")
            roles = [group.members[a].role if a in group.members else "NotMember" for a in accounts]
        return Reply({"UserIdList": [{"Member_Account": a, "Role": r} for a, r in zip(accounts, roles, strict=True)]})

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise ImError(codes.GROUP_MISSING, f"group {group_id} does not exist")
        return group

    # ---------------------------------------------------------- C2C sends (§5.3, §5.4)

    def _api_sendmsg(self, body: dict[str, Any], caller: Caller) -> Reply:
        sender = self._sender(body, codes.C2C_FROM_INVALID)
        to = body.get("To_Account")
        if not isinstance(to, str) or not to:
            raise ImError(codes.C2C_TO_MISSING, "To_Account is required")
        common = self._c2c_common(body, REST_ELEMENT_TYPES, codes.C2C_BODY_TOO_LONG)
        forbid = _forbid(body)
        with self._lock:
            if sender not in self.accounts:
                raise ImError(codes.C2C_FROM_INVALID, f"From_Account {sender} does not exist")
            if to not in self.accounts:
                raise ImError(codes.C2C_RECIPIENT_MISSING, f"To_Account {to} does not exist")
        result = self.send_c2c(
            caller, sender, to, **common, forbid_before="ForbidBeforeSendMsgCallback" in forbid,
            forbid_after="ForbidAfterSendMsgCallback" in forbid,
        )
        if result.code != codes.OK:
            raise ImError(result.code, result.info)
        return Reply({"MsgTime": result.msg_time, "MsgKey": result.msg_key}, after=result.after)

    def _sender(self, body: dict[str, Any], invalid: int) -> str:
        """A send's From_Account (the app administrator when absent), refused with ``invalid`` if it is no UserID."""
        sender = body.get("From_Account", self.identity.admin)
        if not _valid_user_id(sender):
            raise ImError(invalid, "From_Account is not a valid UserID")
        return sender

    def _c2c_common(self, body: dict[str, Any], allowed: frozenset[str], too_long: int) -> dict[str, Any]:
        """The fields sendmsg and batchsendmsg share."""
        seq, msg_random = _c2c_ids(body)
        stamp = body.get("MsgTimeStamp")
        if stamp is not None and not _is_int(stamp):
            raise ImError(codes.C2C_TIMESTAMP_INVALID, "MsgTimeStamp must be an integer")
        lifetime = body.get("MsgLifeTime", MAX_MSG_LIFETIME)
        if not _is_int(lifetime):
            raise ImError(codes.C2C_LIFETIME_NOT_INT, "MsgLifeTime must be an integer")
        if not 0 <= lifetime <= MAX_MSG_LIFETIME:
            raise ImError(codes.C2C_LIFETIME_INVALID, f"MsgLifeTime must be 0-{MAX_MSG_LIFETIME} seconds")
        msg_body = _check_body(
            body.get("MsgBody"), allowed, not_array=codes.C2C_BODY_NOT_ARRAY, bad=codes.C2C_BODY_FORMAT,
            too_long=too_long,
        )
        ccd = body.get("CloudCustomData", "")
        if not isinstance(ccd, str):
            raise ImError(codes.C2C_BODY_FORMAT, "CloudCustomData must be a string")
        control = body.get("SendMsgControl") or []
        return {
            "body": msg_body,
            "cloud_custom_data": ccd,
            "msg_seq": seq,
            "msg_random": msg_random,
            "msg_time": stamp,
            # §5.3: MsgLifeTime 0 = online only, not stored.
            "online_only": lifetime == 0,
            "no_unread": isinstance(control, list) and "NoUnread" in control,
        }

    def _api_batchsendmsg(self, body: dict[str, Any], caller: Caller) -> Reply:
        sender = self._sender(body, codes.C2C_FROM_INVALID)
        recipients = body.get("To_Account")
        if not isinstance(recipients, list) or not recipients:
            raise ImError(codes.C2C_TO_MISSING, "To_Account must be a non-empty array")
        if len(recipients) > MAX_BATCH_RECIPIENTS:
            raise ImError(codes.BATCH_TOO_MANY, f"at most {MAX_BATCH_RECIPIENTS} To_Account per call")
        common = self._c2c_common(body, REST_ELEMENT_TYPES, codes.BATCH_BODY_TOO_LONG)
        now = self._now()
        msg_time = common["msg_time"] if common["msg_time"] is not None else int(now)
        with self._lock:
            if sender not in self.accounts:
                raise ImError(codes.C2C_FROM_INVALID, f"From_Account {sender} does not exist")
            seq = common["msg_seq"] if common["msg_seq"] is not None else self._ids.randint(0, UINT32_MAX)
            msg_key = f"{seq}_{common['msg_random']}_{msg_time}"
            errors, delivered = [], 0
            for to in dict.fromkeys(r if isinstance(r, str) else repr(r) for r in recipients):
                if to not in self.accounts:
                    errors.append({"To_Account": to, "ErrorCode": codes.ACCOUNT_MISSING})
                    continue
                # §5.4: batchsendmsg fires no callbacks at all.
                self._store_c2c(
                    next(self._send_ids), "batch", sender, to, seq, common["msg_random"], msg_time, msg_key,
                    common["body"], common["cloud_custom_data"], common["online_only"], common["no_unread"],
                    sent=None,
                )
                delivered += 1
        if not delivered:
            return Reply({"ErrorList": errors}, "FAIL", codes.BATCH_NONE_DELIVERED, "no recipient exists")
        if errors:
            return Reply({"MsgKey": msg_key, "ErrorList": errors}, "SomeError")
        return Reply({"MsgKey": msg_key})

    def send_c2c(
        self,
        caller: Caller,
        sender: str,
        to: str,
        *,
        body: list[dict[str, Any]],
        cloud_custom_data: str,
        msg_seq: int | None,
        msg_random: int,
        msg_time: int | None,
        online_only: bool,
        no_unread: bool = False,
        forbid_before: bool = False,
        forbid_after: bool = False,
    ) -> SendResult:
        """One C2C message through the pipeline: dedupe, before-send, store, after-send and bot."""
        now = self._now()
        msg_time = int(now) if msg_time is None else msg_time
        with self._lock:
            send_id = next(self._send_ids)
            if msg_seq is None and caller.source == "client":
                # A client SDK numbers its own messages per conversation.
                msg_seq = self._c2c_seq[(sender, to)] = self._c2c_seq.get((sender, to), 0) + 1
            # §6.4: MsgRandom (and MsgSeq when given) de-duplicate within the same second.
            # CHOICE (§9 item 3): the duplicate is answered as a success with the original MsgKey.
            dedupe_key = (sender, to, msg_random, msg_seq, int(now))
            self._prune_c2c_dedupe(int(now))
            original = self._c2c_dedupe.get(dedupe_key)
            if original is not None:
                return self._duplicate(send_id, caller, original)
            seq = msg_seq if msg_seq is not None else self._ids.randint(0, UINT32_MAX)
            tinyid = self.accounts[sender].tinyid
        msg_key = f"{seq}_{msg_random}_{msg_time}"
        fields = {
            "From_Account": sender,
            "To_Account": to,
            "MsgSeq": seq,
            "MsgRandom": msg_random,
            "MsgTime": msg_time,
            "MsgKey": msg_key,
            "MsgId": f"{tinyid}-{msg_time}-{msg_random}",
            "OnlineOnlyFlag": int(online_only),
            "MsgBody": body,
            "CloudCustomData": cloud_custom_data,
        }
        decision = self._before_send("c2c", "C2C.CallbackBeforeSendMsg", fields, caller, send_id, forbid_before)
        refused = self._refused("c2c", decision, send_id, caller, fields)
        if refused is not None:
            if refused.code == codes.OK:  # discarded: the sender believes it was sent
                refused.msg_key, refused.msg_time = msg_key, msg_time
            return refused
        final_body = decision.body if decision.body is not None else body
        final_ccd = decision.cloud_custom_data if decision.cloud_custom_data is not None else cloud_custom_data
        with self._lock:
            original = self._c2c_dedupe.get(dedupe_key)  # a concurrent twin may have won meanwhile
            if original is not None:
                return self._duplicate(send_id, caller, original)
            sent = {"MsgBody": body, "CloudCustomData": cloud_custom_data} if decision.rewritten else None
            record = self._store_c2c(
                send_id, caller.source, sender, to, seq, msg_random, msg_time, msg_key, final_body, final_ccd,
                online_only, no_unread, sent,
            )
            self._c2c_dedupe[dedupe_key] = record
            self._c2c_dedupe_order.append(dedupe_key)
            unread = self.unread.get(to, 0)
            to_robot = self.accounts[to].robot
        after = {**fields, "MsgBody": final_body, "CloudCustomData": final_ccd}
        after_send = {
            **after, "EventTime": self._event_ms(), "SendMsgResult": 0, "ErrorInfo": "send msg succeed",
            "UnreadMsgNum": unread,
        }
        jobs = []
        if not forbid_after and self._callbacks.enabled("C2C.CallbackAfterSendMsg"):
            jobs.append(self._job("C2C.CallbackAfterSendMsg", after_send, caller, send_id))
        if to_robot and self._callbacks.enabled("Bot.OnC2CMessage"):
            # §2.6: the after-send fields. ForbidCallbackControl names the send callbacks only, so
            # a robot still hears of a message sent to it with them switched off.
            bot = {k: v for k, v in after_send.items() if k not in ("MsgId", "EventTime")}
            jobs.append(self._job("Bot.OnC2CMessage", bot, caller, send_id))
        return SendResult(
            codes.OK, "", record["outcome"], send_id, message=record, msg_key=msg_key, msg_time=msg_time, after=jobs
        )

    def _store_c2c(
        self, send_id: int, source: str, sender: str, to: str, seq: int, msg_random: int, msg_time: int,
        msg_key: str, body: list[dict[str, Any]], ccd: str, online_only: bool, no_unread: bool,
        sent: dict[str, Any] | None,
    ) -> dict[str, Any]:
        record = {
            "kind": "c2c",
            "send_id": send_id,
            "source": source,
            "From_Account": sender,
            "To_Account": to,
            "MsgSeq": seq,
            "MsgRandom": msg_random,
            "MsgTime": msg_time,
            "MsgKey": msg_key,
            "MsgBody": body,
            "CloudCustomData": ccd,
            "OnlineOnlyFlag": int(online_only),
            # Online-only messages are delivered but not stored, so they cannot be modified (§5.6).
            "stored": not online_only,
            # Counted in the recipient's unread total until read (admin_set_msg_read) or recalled.
            "unread": not online_only and not no_unread,
            "outcome": "rewritten" if sent is not None else "delivered",
            "history": [],
        }
        if sent is not None:
            record["sent"] = sent
        self.messages.append(record)
        if not online_only:
            self._c2c[(sender, to, msg_key)] = record
            self.conversations.setdefault(conversation(sender, to), []).append(record)
            if not no_unread:
                self.unread[to] = self.unread.get(to, 0) + 1
        return record

    def _prune_c2c_dedupe(self, second: int) -> None:
        order = self._c2c_dedupe_order
        while order and order[0][-1] < second - 1:
            self._c2c_dedupe.pop(order.popleft(), None)

    # ---------------------------------------------------------- group sends (§5.5)

    def _api_send_group_msg(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.GROUP_PARAM_INVALID
        group_id = _group_id(body.get("GroupId"))
        msg_random = body.get("Random")
        if not _is_uint32(msg_random):
            raise ImError(bad, "Random is required and must be a uint32")
        sender = self._sender(body, bad)
        common = self._group_common(body, REST_ELEMENT_TYPES)
        forbid = _forbid(body)
        with self._lock:
            self._group(group_id)
            # §5.5: From_Account must exist. Membership is not required of a REST sender (§9 item 11).
            if sender not in self.accounts:
                raise ImError(bad, f"From_Account {sender} does not exist")
        result = self.send_group(
            caller, sender, group_id, msg_random=msg_random, **common,
            forbid_before="ForbidBeforeSendMsgCallback" in forbid,
            forbid_after="ForbidAfterSendMsgCallback" in forbid,
        )
        if result.code != codes.OK:
            raise ImError(result.code, result.info)
        return Reply(
            {"MsgTime": result.msg_time, "MsgSeq": result.msg_seq, "MsgDropReason": result.drop_reason},
            after=result.after,
        )

    def _group_common(self, body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
        bad = codes.GROUP_PARAM_INVALID
        priority = body.get("MsgPriority", "Normal")
        if priority not in PRIORITIES:
            raise ImError(bad, "MsgPriority must be High, Normal or Low (case-sensitive)")
        online_only = body.get("OnlineOnlyFlag", 0)
        if online_only not in (0, 1) or isinstance(online_only, bool):
            raise ImError(bad, "OnlineOnlyFlag must be 0 or 1")
        msg_body = _check_body(
            body.get("MsgBody"), allowed, not_array=bad, bad=bad, too_long=codes.GROUP_BODY_TOO_LONG
        )
        ccd = body.get("CloudCustomData", "")
        if not isinstance(ccd, str):
            raise ImError(bad, "CloudCustomData must be a string")
        at_info = body.get("GroupAtInfo")
        if at_info is not None:
            if not isinstance(at_info, list) or not all(isinstance(a, dict) for a in at_info):
                raise ImError(bad, "GroupAtInfo must be an array of objects")
            if len(at_info) > MAX_GROUP_AT:
                raise ImError(codes.GROUP_TOO_MANY_AT, f"at most {MAX_GROUP_AT} GroupAtInfo items")
            for item in at_info:
                if item.get("GroupAtAllFlag", 0) not in (0, 1):
                    raise ImError(bad, "GroupAtAllFlag must be 0 or 1")
                if item.get("GroupAtAllFlag", 0) == 0 and not _valid_user_id(item.get("GroupAt_Account")):
                    raise ImError(bad, "GroupAt_Account is required when GroupAtAllFlag is 0")
        topic = body.get("TopicId")
        if topic is not None and not isinstance(topic, str):
            raise ImError(bad, "TopicId must be a string")
        return {
            "body": msg_body,
            "cloud_custom_data": ccd,
            "priority": priority,
            "online_only": bool(online_only),
            "at_info": at_info,
            "topic_id": topic,
        }

    def send_group(
        self,
        caller: Caller,
        sender: str,
        group_id: str,
        *,
        msg_random: int,
        body: list[dict[str, Any]],
        cloud_custom_data: str,
        priority: str,
        online_only: bool,
        at_info: list[dict[str, Any]] | None,
        topic_id: str | None,
        forbid_before: bool = False,
        forbid_after: bool = False,
    ) -> SendResult:
        """One group message: dedupe, before-send, frequency control, store, after-send and bot."""
        settings = self._settings()
        dedupe_key = (group_id, sender, msg_random)
        with self._lock:
            send_id = next(self._send_ids)
            group = self._group(group_id)
            group_type = group.type
            original = self._group_duplicate(dedupe_key, settings)
            if original is not None:
                return self._duplicate(send_id, caller, original)
        fields: dict[str, Any] = {
            "GroupId": group_id,
            "Type": group_type,
            "From_Account": sender,
            "Operator_Account": caller.operator,
            "Random": msg_random,
            "OnlineOnlyFlag": 0 if group_type == "AVChatRoom" else int(online_only),  # §2.3
            "MsgBody": body,
            "CloudCustomData": cloud_custom_data,
        }
        if topic_id is not None:
            fields["TopicId"] = topic_id
        decision = self._before_send("group", "Group.CallbackBeforeSendMsg", fields, caller, send_id, forbid_before)
        refused = self._refused("group", decision, send_id, caller, fields)
        if refused is not None:
            return refused
        final_body = decision.body if decision.body is not None else body
        final_ccd = decision.cloud_custom_data if decision.cloud_custom_data is not None else cloud_custom_data
        now = self._now()
        with self._lock:
            original = self._group_duplicate(dedupe_key, settings)
            if original is not None:
                return self._duplicate(send_id, caller, original)
            group = self._group(group_id)
            if not self._admit_group_message(group, priority, now, settings.group_msg_per_second):
                # §6.1: not delivered, not stored, no after-send; the sender is told success.
                # CHOICE: MsgSeq 0 in the answer, since no seq was assigned.
                entry = {
                    "kind": "group", "send_id": send_id, "reason": "MsgFreqCtrl", "time": now,
                    **fields, "MsgBody": final_body, "CloudCustomData": final_ccd, "MsgPriority": priority,
                }
                self.dropped.append(entry)
                return SendResult(
                    codes.OK, "", "dropped", send_id, reason="MsgFreqCtrl", msg_seq=0, msg_time=int(now),
                    drop_reason="MsgFreqCtrl",
                )
            seq = group.next_seq
            group.next_seq += 1
            group.last_msg_time = int(now)
            if sender in group.members:
                group.members[sender].last_send = int(now)
            record = {
                "kind": "group", "send_id": send_id, "source": caller.source, **fields,
                "MsgBody": final_body, "CloudCustomData": final_ccd, "MsgSeq": seq, "MsgTime": int(now),
                "MsgPriority": priority, "stored": not online_only,
                "outcome": "rewritten" if decision.rewritten else "delivered", "history": [],
            }
            if at_info is not None:
                record["GroupAtInfo"] = at_info
            if decision.rewritten:
                record["sent"] = {"MsgBody": body, "CloudCustomData": cloud_custom_data}
            self.messages.append(record)
            if not online_only:
                self._group_msgs[(group_id, seq)] = record
            self._group_dedupe[dedupe_key] = (now, record)
            self._group_dedupe_order.append((now, dedupe_key))
            robots = [
                a["GroupAt_Account"] for a in at_info or []
                if a.get("GroupAtAllFlag", 0) == 0 and a.get("GroupAt_Account") in self.accounts
                and self.accounts[a["GroupAt_Account"]].robot
            ]
        after_send = {**fields, "MsgBody": final_body, "CloudCustomData": final_ccd, "MsgSeq": seq,
                      "MsgTime": int(now), "EventTime": self._event_ms()}
        if at_info is not None:
            after_send["GroupAtInfo"] = at_info
        jobs = []
        if not forbid_after and self._callbacks.enabled("Group.CallbackAfterSendMsg"):
            jobs.append(self._job("Group.CallbackAfterSendMsg", after_send, caller, send_id))
        if robots and self._callbacks.enabled("Bot.OnGroupMessage"):
            # §2.6: only explicit @-mentions of robots, never @all; one callback naming them all.
            bot = {**after_send, "AtRobots_Account": list(dict.fromkeys(robots))}
            jobs.append(self._job("Bot.OnGroupMessage", bot, caller, send_id))
        return SendResult(
            codes.OK, "", record["outcome"], send_id, message=record, msg_seq=seq, msg_time=int(now), after=jobs
        )

    def _group_duplicate(self, key: tuple[str, str, int], settings: Settings) -> dict[str, Any] | None:
        """§6.4: the same sender's same Random in the same group within 5 minutes is a duplicate.

        CHOICE (§9 item 3): it is answered as a success carrying the ORIGINAL MsgSeq and MsgTime,
        so that a client's retry is idempotent. Only messages actually delivered are remembered:
        a message dropped by frequency control, rejected or discarded can be retried."""
        now = self._now()
        window = settings.group_dedupe_seconds
        order = self._group_dedupe_order
        while order and now - order[0][0] >= window:
            stored_at, stale = order.popleft()
            if self._group_dedupe.get(stale, (None,))[0] == stored_at:
                del self._group_dedupe[stale]
        found = self._group_dedupe.get(key)
        if found is None or now - found[0] >= window:
            return None
        return found[1]

    def _admit_group_message(self, group: Group, priority: str, now: float, limit: int) -> bool:
        while group.window and group.window[0][0] <= now - 1.0:
            group.window.popleft()
        if len(group.window) >= priority_ceilings(limit)[priority]:
            return False
        group.window.append((now, priority))
        return True

    # ---------------------------------------------------------- the send pipeline's shared steps

    def _before_send(
        self, kind: Literal["c2c", "group"], command: str, fields: dict[str, Any], caller: Caller, send_id: int,
        forbidden: bool,
    ) -> Decision:
        if forbidden or not self._callbacks.enabled(command):
            return Decision("skipped")
        body = {**fields, "EventTime": self._event_ms()}
        generation = self._callbacks.generation
        delivery = self._callbacks.call(command, body, caller.platform, caller.client_ip, send_id)
        decision = interpret_before_send(kind, delivery)
        action = "rewrite" if decision.rewritten else decision.action
        delivery.record["decision"] = {"action": action, "code": decision.code, "reason": decision.reason}
        self._callbacks.record(delivery.record, generation)
        return decision

    def _refused(
        self, kind: Literal["c2c", "group"], decision: Decision, send_id: int, caller: Caller, fields: dict[str, Any]
    ) -> SendResult | None:
        """The before-send answer's refusals (§2.5) and the failure policy (§1.4), or None to deliver."""
        if decision.action == "failed" and self._settings().before_send_failure_policy == "drop":
            decision = Decision("reject", codes.CALLBACK_FAILED_DROP, "before-send callback failed or timed out",
                                reason=f"callback failed: {decision.reason}")
        entry = {"kind": kind, "send_id": send_id, "source": caller.source, "time": self._now(), **fields}
        if decision.action == "reject":
            with self._lock:
                self.rejected.append({**entry, "ErrorCode": decision.code, "ErrorInfo": decision.info,
                                      "reason": decision.reason})
            return SendResult(decision.code, decision.info, "rejected", send_id, reason=decision.reason)
        if decision.action == "discard":
            # §2.5: discarded silently; the sender is told success. CHOICE: a group message gets
            # MsgSeq 0, as nothing was assigned; a C2C message keeps the MsgKey it was sent with.
            with self._lock:
                self.dropped.append({**entry, "reason": "callback discarded"})
            return SendResult(codes.OK, "", "discarded", send_id, reason="callback", msg_seq=0,
                              msg_time=int(self._now()))
        return None

    def _duplicate(self, send_id: int, caller: Caller, original: dict[str, Any]) -> SendResult:
        with self._lock:
            self.dropped.append(
                {"kind": original["kind"], "send_id": send_id, "source": caller.source, "time": self._now(),
                 "reason": "duplicate", "original_send_id": original["send_id"]}
            )
        return SendResult(
            codes.OK, "", "dropped", send_id, reason="duplicate", message=original, msg_key=original.get("MsgKey"),
            msg_time=original["MsgTime"], msg_seq=original.get("MsgSeq"),
        )

    def _job(self, command: str, body: dict[str, Any], caller: Caller, send_id: int | None) -> Job:
        return Job(command, body, caller.platform, caller.client_ip, send_id)

    def event_jobs(self, command: str, body: dict[str, Any], caller: Caller) -> list[Job]:
        """An after-the-fact callback (no send behind it), if the app has it switched on."""
        return [self._job(command, body, caller, None)] if self._callbacks.enabled(command) else []

    def _event_ms(self) -> int:
        return int(self._now() * 1000)

    # ---------------------------------------------------------- native stream messages (§8.4)

    def _api_send_c2c_stream_msg(self, body: dict[str, Any], caller: Caller) -> Reply:
        """The first call (no ``StreamMsgID``) stores a new C2C message and answers its
        ``StreamMsgID`` with ``MsgKey`` and ``MsgTime`` (CHOICE: the reference gives only the
        ``StreamMsgID``; the message's identity is answered as ``sendmsg`` does); every call appends
        its chunks. CHOICE: stream messages fire no callbacks (the reference names none)."""
        sender = self._sender(body, codes.C2C_FROM_INVALID)
        to = body.get("To_Account")
        if not isinstance(to, str) or not to:
            raise ImError(codes.C2C_TO_MISSING, "To_Account is required")
        seq, msg_random = _c2c_ids(body)
        content = _stream_content(body.get("MsgBody"), codes.C2C_BODY_NOT_ARRAY, codes.C2C_BODY_FORMAT,
                                  codes.C2C_BODY_TOO_LONG)
        now = self._now()
        with self._lock:
            for account, name in ((sender, "From_Account"), (to, "To_Account")):
                if account not in self.accounts:
                    code = codes.C2C_FROM_INVALID if name == "From_Account" else codes.C2C_RECIPIENT_MISSING
                    raise ImError(code, f"{name} {account} does not exist")
            scope = ("c2c", sender, to)

            def start() -> dict[str, Any]:
                msg_seq = seq if seq is not None else self._ids.randint(0, UINT32_MAX)
                msg_time = int(now)
                return self._store_c2c(
                    next(self._send_ids), caller.source, sender, to, msg_seq, msg_random, msg_time,
                    f"{msg_seq}_{msg_random}_{msg_time}", [], "", online_only=False, no_unread=False, sent=None,
                )

            stream = self._stream_call(scope, content, msg_random, now, start, codes.C2C_BODY_TOO_LONG)
            record = stream.record
            return Reply({"MsgTime": record["MsgTime"], "MsgKey": record["MsgKey"], "StreamMsgID": stream.stream_id})

    def _api_send_group_stream_msg(self, body: dict[str, Any], caller: Caller) -> Reply:
        """As the C2C one, into a group: the first call is a group message (a ``MsgSeq``, the
        group's frequency limit, answered with ``MsgDropReason`` as ``send_group_msg`` is)."""
        bad = codes.GROUP_PARAM_INVALID
        group_id = _group_id(body.get("GroupId"))
        msg_random = body.get("Random")
        if not _is_uint32(msg_random):
            raise ImError(bad, "Random is required and must be a uint32")
        sender = self._sender(body, bad)
        content = _stream_content(body.get("MsgBody"), bad, bad, codes.GROUP_BODY_TOO_LONG)
        settings = self._settings()
        now = self._now()
        with self._lock:
            group = self._group(group_id)
            if sender not in self.accounts:
                raise ImError(bad, f"From_Account {sender} does not exist")
            scope = ("group", group_id, sender)
            starting = not content.get("StreamMsgID") and (scope, msg_random) not in self._stream_starts
            if starting and not self._admit_group_message(group, "Normal", now, settings.group_msg_per_second):
                self.dropped.append({"kind": "group", "send_id": next(self._send_ids), "reason": "MsgFreqCtrl",
                                     "time": now, "GroupId": group_id, "From_Account": sender,
                                     "Random": msg_random, "MsgBody": body["MsgBody"]})
                return Reply({"MsgTime": int(now), "MsgSeq": 0, "MsgDropReason": "MsgFreqCtrl"})

            def start() -> dict[str, Any]:
                msg_seq = group.next_seq
                group.next_seq += 1
                group.last_msg_time = int(now)
                record = {
                    "kind": "group", "send_id": next(self._send_ids), "source": caller.source, "GroupId": group_id,
                    "Type": group.type, "From_Account": sender, "Operator_Account": caller.operator,
                    "Random": msg_random, "OnlineOnlyFlag": 0, "MsgBody": [], "CloudCustomData": "",
                    "MsgSeq": msg_seq, "MsgTime": int(now), "MsgPriority": "Normal", "stored": True,
                    "outcome": "delivered", "history": [],
                }
                self.messages.append(record)
                self._group_msgs[(group_id, msg_seq)] = record
                return record

            stream = self._stream_call(scope, content, msg_random, now, start, codes.GROUP_BODY_TOO_LONG)
            record = stream.record
            return Reply({"MsgTime": record["MsgTime"], "MsgSeq": record["MsgSeq"], "MsgDropReason": "",
                          "StreamMsgID": stream.stream_id})

    def _stream_call(
        self, scope: tuple[Any, ...], content: dict[str, Any], msg_random: int, now: float,
        start: Callable[[], dict[str, Any]], too_long: int,
    ) -> Stream:
        """One call of a stream (under the lock): start it or continue it, then append its chunks.

        CHOICE (§6.4 by analogy): a call repeating an earlier call's random (a client's retry) is
        answered as that call was and changes nothing."""
        stream_id = content.get("StreamMsgID")
        if not stream_id:
            stream = self._stream_starts.get((scope, msg_random))
            if stream is not None:
                return stream
            stream = Stream(f"{self._ids.getrandbits(64):016x}", scope, start(), now)
            self._streams[stream.stream_id] = stream
            self._stream_starts[(scope, msg_random)] = stream
        else:
            found = self._streams.get(stream_id)
            if found is None or found.scope != scope:
                raise ImError(codes.MSG_NOT_FOUND, "no stream message with this StreamMsgID from this sender")
            stream = found
            if msg_random in stream.randoms:
                return stream
            if stream.ended:
                raise ImError(codes.STREAM_ENDED, "the stream message has ended")
            if now - stream.last_time > STREAM_IDLE_SECONDS:
                stream.ended = True
                raise ImError(codes.STREAM_ENDED, f"more than {STREAM_IDLE_SECONDS:g} s since the last chunk: ended")
            while stream.calls and stream.calls[0] <= now - 1.0:
                stream.calls.popleft()
            if len(stream.calls) >= STREAM_CALLS_PER_SECOND:
                raise ImError(codes.RATE_LIMITED, f"at most {STREAM_CALLS_PER_SECOND} stream calls per second")
        chunks = content["Chunks"]
        expected = list(range(stream.last_index + 1, stream.last_index + 1 + len(chunks)))
        if [c["Index"] for c in chunks] != expected:
            raise ImError(codes.STREAM_INDEX_INVALID, f"chunk Index must continue the stream: expected {expected}")
        size = stream.size + sum(len(c["Markdown"].encode()) for c in chunks)
        if size >= STREAM_MAX_BYTES:
            raise ImError(too_long, f"the stream message would be {size} bytes, over {STREAM_MAX_BYTES}")
        stream.size = size
        stream.last_index = expected[-1]
        stream.last_time = now
        stream.calls.append(now)
        stream.randoms.add(msg_random)
        stream.ended = any(c["IsLast"] for c in chunks)
        record = stream.record
        previous = record["MsgBody"][0]["MsgContent"]["Chunks"] if record["MsgBody"] else []
        compatible = content.get("CompatibleText", "")
        record["MsgBody"] = [{"MsgType": "TIMStreamElem", "MsgContent": {
            "Chunks": [*previous, *chunks], "CompatibleText": compatible, "StreamMsgID": stream.stream_id}}]
        record["StreamMsgID"] = stream.stream_id
        record["stream_ended"] = stream.ended
        record["history"].append({"time": now, "Chunks": chunks, "CompatibleText": compatible})
        return stream

    # ---------------------------------------------------------- modify (§5.6)

    def _api_modify_c2c_msg(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.MODIFY_INVALID
        sender = body.get("From_Account")
        to = body.get("To_Account")
        msg_key = body.get("MsgKey")
        if not all(isinstance(v, str) and v for v in (sender, to, msg_key)):
            raise ImError(bad, "From_Account, To_Account and MsgKey are required")
        new_body, new_ccd = self._modify_fields(body, codes.C2C_BODY_FORMAT, codes.C2C_BODY_TOO_LONG, bad)
        key = ("c2c", sender, to, msg_key)
        with self._lock:
            record = self._c2c.get((sender, to, msg_key))
            # A recalled message is gone: there is nothing left to modify.
            if record is None or record.get("recalled"):
                raise ImError(codes.MSG_NOT_FOUND, "no stored message with this MsgKey between these accounts")
        record = self._modify(key, record, new_body, new_ccd, caller)
        callback = {
            "Operator_Account": caller.operator,
            **{k: record[k] for k in ("From_Account", "To_Account", "MsgSeq", "MsgRandom", "MsgTime", "MsgKey",
                                      "MsgBody", "CloudCustomData")},
            "EventTime": self._event_ms(),
        }
        return self._modified("C2C.CallbackAfterModifyMsg", callback, caller)

    def _api_modify_group_msg(self, body: dict[str, Any], caller: Caller) -> Reply:
        bad = codes.GROUP_PARAM_INVALID
        group_id = _group_id(body.get("GroupId"))
        seq = body.get("MsgSeq")
        if not _is_int(seq) or seq < 1:
            raise ImError(bad, "MsgSeq is required and must be a positive integer")
        new_body, new_ccd = self._modify_fields(body, bad, codes.GROUP_BODY_TOO_LONG, bad)
        with self._lock:
            group = self._group(group_id)
            if group.type == "AVChatRoom":
                raise ImError(bad, "AVChatRoom messages cannot be modified")
            record = self._group_msgs.get((group_id, seq))
            if record is None or record.get("recalled"):
                raise ImError(codes.MSG_NOT_FOUND, f"no stored message {seq} in group {group_id}")
        record = self._modify(("group", group_id, seq), record, new_body, new_ccd, caller)
        callback = {
            "Operator_Account": caller.operator, "GroupId": group_id, "MsgSeq": seq, "MsgBody": record["MsgBody"],
            "EventTime": self._event_ms(),
        }
        if "TopicId" in record:
            callback["TopicId"] = record["TopicId"]
        return self._modified("Group.CallbackAfterModifyMsg", callback, caller)

    def _modify_fields(
        self, body: dict[str, Any], bad: int, too_long: int, nothing: int
    ) -> tuple[list[dict[str, Any]] | None, str | None]:
        new_body = None
        if "MsgBody" in body:
            new_body = _check_body(body["MsgBody"], REST_ELEMENT_TYPES, not_array=bad, bad=bad, too_long=too_long)
        new_ccd = body.get("CloudCustomData")
        if new_ccd is not None and not isinstance(new_ccd, str):
            raise ImError(bad, "CloudCustomData must be a string")
        if new_body is None and new_ccd is None:
            # CHOICE: a modify that changes nothing is a caller error, not a silent success.
            raise ImError(nothing, "give MsgBody and/or CloudCustomData to modify")
        return new_body, new_ccd

    def _modify(
        self, key: tuple[Any, ...], record: dict[str, Any], new_body: list[dict[str, Any]] | None,
        new_ccd: str | None, caller: Caller,
    ) -> dict[str, Any]:
        """§5.6: a modify arriving while another of the same message is in progress gets 20028.
        The in-progress window lasts ``modify_latency_ms``, so a test can meet it."""
        with self._lock:
            if key in self._modifying:
                raise ImError(codes.MODIFY_CONFLICT, "the message is being modified by another request")
            self._modifying.add(key)
        try:
            latency = self._settings().modify_latency_ms
            if latency:
                self._stopping.wait(latency / 1000)
            with self._lock:
                if new_body is not None:
                    record["MsgBody"] = new_body
                if new_ccd is not None:
                    record["CloudCustomData"] = new_ccd
                record["history"].append(
                    {"time": self._now(), "Operator_Account": caller.operator, "MsgBody": record["MsgBody"],
                     "CloudCustomData": record["CloudCustomData"]}
                )
                return record
        finally:
            with self._lock:
                self._modifying.discard(key)

    def _modified(self, command: str, callback: dict[str, Any], caller: Caller) -> Reply:
        jobs = [self._job(command, callback, caller, None)] if self._callbacks.enabled(command) else []
        return Reply(info="succeed", after=jobs)  # §5.6 answers ErrorInfo "succeed"

    # ------------------------------------------------------------------ simulated clients

    def client_send_c2c(self, user: str, request: dict[str, Any]) -> SendResult | ImError:
        """A user sending from a client SDK (not REST): the callbacks say OptPlatform e.g. Web."""
        caller = _client_caller(user, request)
        to = request.get("To_Account")
        try:
            if not isinstance(to, str) or not to:
                raise ImError(codes.C2C_TO_MISSING, "To_Account is required")
            online_only = request.get("OnlineOnlyFlag", 0) == 1
            msg_body = _check_body(
                request.get("MsgBody"), CLIENT_ELEMENT_TYPES, not_array=codes.C2C_BODY_NOT_ARRAY,
                bad=codes.C2C_BODY_FORMAT, too_long=codes.C2C_BODY_TOO_LONG,
            )
            ccd = request.get("CloudCustomData", "")
            if not isinstance(ccd, str):
                raise ImError(codes.C2C_BODY_FORMAT, "CloudCustomData must be a string")
            msg_random = request.get("MsgRandom")
            if msg_random is None:
                msg_random = random.randint(0, UINT32_MAX)
            elif not _is_uint32(msg_random):
                raise ImError(codes.C2C_RANDOM_INVALID, "MsgRandom must be a uint32")
            with self._lock:
                self._client_account(user)
                if to not in self.accounts:
                    raise ImError(codes.C2C_RECIPIENT_MISSING, f"To_Account {to} does not exist")
                self._check_friendship(user, to)
        except ImError as exc:
            return self._client_rejected("c2c", user, request, exc)
        return self.send_c2c(
            caller, user, to, body=msg_body, cloud_custom_data=ccd, msg_seq=request.get("MsgSeq"),
            msg_random=msg_random, msg_time=None, online_only=online_only,
        )

    def client_send_group(self, user: str, request: dict[str, Any]) -> SendResult | ImError:
        caller = _client_caller(user, request)
        try:
            group_id = _group_id(request.get("GroupId"))
            msg_random = request.get("Random")
            if msg_random is None:
                msg_random = random.randint(0, UINT32_MAX)
            elif not _is_uint32(msg_random):
                raise ImError(codes.GROUP_PARAM_INVALID, "Random must be a uint32")
            common = self._group_common(request, CLIENT_ELEMENT_TYPES)
            with self._lock:
                self._client_account(user)
                group = self._group(group_id)
                if user not in group.members:
                    raise ImError(codes.GROUP_NO_PERMISSION, f"{user} is not a member of {group_id}")
        except ImError as exc:
            return self._client_rejected("group", user, request, exc)
        return self.send_group(caller, user, group_id, msg_random=msg_random, **common)

    def _client_account(self, user: str) -> None:
        if user not in self.accounts:
            raise ImError(codes.ACCOUNT_MISSING, f"{user} does not exist (import the account first)")

    def _check_friendship(self, sender: str, to: str) -> None:
        if not self._settings().c2c_friend_check or self.accounts[sender].robot:
            return
        sender_has = to in self.friends.get(sender, {})
        peer_has = sender in self.friends.get(to, {})
        if not sender_has and not peer_has:
            raise ImError(codes.C2C_NOT_FRIENDS, "not friends")
        if not peer_has:
            raise ImError(codes.C2C_NOT_FRIEND_OF_PEER, "the sender is not in the recipient's friend list")
        if not sender_has:
            raise ImError(codes.C2C_PEER_NOT_FRIEND, "the recipient is not in the sender's friend list")

    def _client_rejected(self, kind: str, user: str, request: dict[str, Any], exc: ImError) -> ImError:
        with self._lock:
            self.rejected.append(
                {"kind": kind, "send_id": next(self._send_ids), "source": "client", "time": self._now(),
                 "From_Account": user, **request, "ErrorCode": exc.code, "ErrorInfo": exc.info, "reason": "validation"}
            )
        return exc

    # ------------------------------------------------------------------ read-back

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "admin": self.identity.admin,
                "sdkappid": self.identity.sdkappid,
                "accounts": [
                    {"UserID": a.user_id, "Nick": a.nick, "FaceUrl": a.face_url, "robot": a.robot}
                    for a in self.accounts.values()
                ],
                "robots": [a.user_id for a in self.accounts.values() if a.robot],
                "friendships": [
                    {"From_Account": a, "To_Account": b, **info}
                    for a, edges in self.friends.items() for b, info in edges.items()
                ],
                "friend_requests": list(self.friend_requests),
                "groups": [
                    {"GroupId": g.group_id, "Type": g.type, "Name": g.name, "Owner_Account": g.owner,
                     "members": [{"Member_Account": m.account, "Role": m.role} for m in g.members.values()],
                     "next_seq": g.next_seq}
                    for g in self.groups.values()
                ],
                "unread": dict(self.unread),
                "modifies_in_progress": [list(k) for k in self._modifying],
            }

    def read(self, what: Literal["messages", "dropped", "rejected", "calls"]) -> list[dict[str, Any]]:
        with self._lock:  # copied whole: a modify may change a message while it is being sent out
            return copy.deepcopy(list(getattr(self, what)))


# Served by Service._api_<command>, the API's last path segment, or by the function of API_FUNCTIONS.
REST_APIS = frozenset(
    {
        "im_open_login_svc/account_import",
        "im_open_login_svc/multiaccount_import",
        "openim_robot_http_svc/create_robot",
        "openim_robot_http_svc/delete_robot",
        "openim_robot_http_svc/get_all_robots",
        "sns/friend_add",
        "sns/friend_check",
        "openim/sendmsg",
        "openim/batchsendmsg",
        "openim/modify_c2c_msg",
        "openim/modify_group_msg",
        "group_open_http_svc/create_group",
        "group_open_http_svc/add_group_member",
        "group_open_http_svc/send_group_msg",
        "group_open_http_svc/get_appid_group_list",
        "group_open_http_svc/get_group_member_info",
        "group_open_http_svc/get_role_in_group",
        "group_open_http_svc/get_group_info",
        "group_open_http_svc/modify_group_base_info",
        "group_open_http_svc/destroy_group",
        "group_open_http_svc/delete_group_member",
        "group_open_http_svc/group_msg_recall",
        "group_open_http_svc/group_msg_get_simple",
        "group_open_http_svc/group_msg_receipt",
        "group_open_http_svc/get_group_msg_receipt",
        "group_open_http_svc/get_group_msg_receipt_detail",
        "openim/admin_getroammsg",
        "openim/admin_msgwithdraw",
        "openim/admin_set_msg_read",
        "stream_msg/send_c2c_stream_msg",
        "stream_msg/send_group_stream_msg",
    }
)


# REST APIs served by functions of their own domain's module (groups.py, history.py), each taking
# the service first; they register here when imported (the package's __init__ imports them).
ApiFunction = Callable[[Service, dict[str, Any], Caller], Reply]
API_FUNCTIONS: dict[str, ApiFunction] = {}


def serves(api: str) -> Callable[[ApiFunction], ApiFunction]:
    def register(function: ApiFunction) -> ApiFunction:
        API_FUNCTIONS[api] = function
        return function

    return register


def conversation(a: str, b: str) -> tuple[str, ...]:
    """A C2C conversation's key: the same whichever account is named first."""
    return tuple(sorted((a, b)))


# ---------------------------------------------------------------------- validation helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)



def _c2c_ids(body: dict[str, Any]) -> tuple[Any, Any]:
    """(MsgSeq, MsgRandom) of a C2C send (sendmsg, batchsendmsg, send_c2c_stream_msg), checked with
    its SyncOtherMachine, as §5.3 has them: MsgSeq optional, MsgRandom required, both uint32."""
    seq = body.get("MsgSeq")
    if seq is not None and not _is_uint32(seq):
        raise ImError(codes.C2C_SEQ_INVALID, "MsgSeq must be a uint32")
    msg_random = body.get("MsgRandom")
    if not _is_uint32(msg_random):
        raise ImError(codes.C2C_RANDOM_INVALID, "MsgRandom is required and must be a uint32")
    sync = body.get("SyncOtherMachine")
    if sync is not None and not _is_int(sync):
        raise ImError(codes.C2C_SYNC_INVALID, "SyncOtherMachine must be an integer")
    return seq, msg_random

def _is_uint32(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= UINT32_MAX


def _valid_user_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value.encode()) <= MAX_USER_ID_BYTES


def _user_id(value: Any, code: int, name: str) -> str:
    if not _valid_user_id(value):
        raise ImError(code, f"{name} must be a UserID of 1-{MAX_USER_ID_BYTES} bytes")
    return value


def _opt_str(body: dict[str, Any], name: str, code: int) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ImError(code, f"{name} must be a string")
    return value


def _group_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ImError(codes.GROUP_PARAM_INVALID, "GroupId is required")
    return value


def _member_list(value: Any, code: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, dict) and _valid_user_id(m.get("Member_Account"))
                                              for m in value):
        raise ImError(code, "MemberList must be an array of {Member_Account}")
    return [m["Member_Account"] for m in value]


def _valid_add_source(value: Any) -> bool:
    prefix = "AddSource_Type_"
    keyword = value[len(prefix):] if isinstance(value, str) and value.startswith(prefix) else ""
    return 0 < len(keyword) <= 8 and keyword.isascii() and keyword.isalpha()


def _relation(a_has_b: bool, b_has_a: bool, both: bool) -> str:
    if not both:
        return "CheckResult_Type_AWithB" if a_has_b else "CheckResult_Type_NoRelation"
    if a_has_b and b_has_a:
        return "CheckResult_Type_BothWay"
    if a_has_b:
        return "CheckResult_Type_AWithB"
    if b_has_a:
        return "CheckResult_Type_BWithA"
    return "CheckResult_Type_NoRelation"


def _forbid(body: dict[str, Any]) -> set[str]:
    value = body.get("ForbidCallbackControl") or []
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _check_body(
    raw: Any, allowed: frozenset[str], *, not_array: int, bad: int, too_long: int
) -> list[dict[str, Any]]:
    """A send's MsgBody: an array of known elements this API may send, at most one custom element
    (§3), within 12 KB of compact UTF-8 JSON (§6.2). Returns the body as given."""
    if not isinstance(raw, list):
        raise ImError(not_array, "MsgBody must be an array")
    if not raw:
        raise ImError(bad, "MsgBody is empty")
    try:
        parsed = parse_body(raw)
    except ValidationError as exc:
        raise ImError(bad, f"MsgBody does not follow the message format ({error_fields(exc)})") from None
    kinds = [element.MsgType for element in parsed]
    unsendable = sorted({k for k in kinds if k not in allowed})
    if unsendable:
        raise ImError(bad, f"MsgBody holds element types this API cannot send: {', '.join(unsendable)}")
    if kinds.count("TIMCustomElem") > 1:
        raise ImError(bad, "a message holds at most one TIMCustomElem")
    size = body_size(parsed)
    if size > MAX_BODY_BYTES:
        raise ImError(too_long, f"msg too long: MsgBody is {size} bytes, over the {MAX_BODY_BYTES}-byte limit")
    return raw


def _stream_content(raw: Any, not_array: int, bad: int, too_long: int) -> dict[str, Any]:
    """A stream call's MsgBody: one ``TIMStreamElem`` whose ``Chunks`` are ``{EventType, Index,
    Markdown, IsLast}`` (§8.4), within the 12 KB body limit. Returns its ``MsgContent``."""
    body = _check_body(raw, frozenset({"TIMStreamElem"}), not_array=not_array, bad=bad, too_long=too_long)
    if len(body) != 1:
        raise ImError(bad, "a stream call's MsgBody is one TIMStreamElem")
    content = body[0].get("MsgContent")
    if not isinstance(content, dict):
        raise ImError(bad, "MsgContent must be an object")
    chunks = content.get("Chunks")
    if not isinstance(chunks, list) or not chunks:
        raise ImError(bad, "Chunks must be a non-empty array")
    for chunk in chunks:
        if not (isinstance(chunk, dict) and isinstance(chunk.get("EventType"), str) and _is_int(chunk.get("Index"))
                and isinstance(chunk.get("Markdown"), str) and isinstance(chunk.get("IsLast"), bool)):
            raise ImError(bad, "each chunk is {EventType: string, Index: integer, Markdown: string, IsLast: bool}")
    if any(chunk["IsLast"] for chunk in chunks[:-1]):
        raise ImError(bad, "only the last chunk may have IsLast")
    for name in ("CompatibleText", "StreamMsgID"):
        if name in content and not isinstance(content[name], str):
            raise ImError(bad, f"{name} must be a string")
    return content


def _member_info(member: Member, info_filter: list[str] | None, app_data: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "Member_Account": member.account,
        "Role": member.role,
        "JoinTime": member.join_time,
        "MsgSeq": 0,
        "MsgFlag": "AcceptAndNotify",
        "LastSendMsgTime": member.last_send,
        "MuteUntil": 0,
        "NameCard": "",
    }
    if app_data:
        info["AppMemberDefinedData"] = []
    if info_filter is not None:
        info = {k: v for k, v in info.items() if k == "Member_Account" or k in info_filter}
    return info


def _encode_cursor(index: int) -> str:
    return f"m{index:x}"


def _decode_cursor(value: Any) -> int:
    if value == "":
        return 0
    if isinstance(value, str) and value.startswith("m"):
        try:
            return int(value[1:], 16)
        except ValueError:
            pass
    raise ImError(codes.GROUP_PARAM_INVALID, "Next must be \"\" or the cursor of the previous answer")


def _client_caller(user: str, request: dict[str, Any]) -> Caller:
    platform = request.get("OptPlatform", "Web")
    client_ip = request.get("ClientIP", "127.0.0.1")
    return Caller("client", str(platform), str(client_ip), user)

