"""The emulated service's shared state, and the helpers every domain module uses.

One :class:`Service` holds everything: accounts (robots are accounts whose ID starts with
``@RBT#``), directed friendship edges, groups with members, and the message store (C2C messages
by ``MsgKey``, group messages by ``GroupId`` + ``MsgSeq``), with the de-duplication memory, the
per-API call windows and the records the control API reads back. The REST APIs themselves are
functions in their domain's module (:mod:`.accounts`, :mod:`.friends`, :mod:`.c2c`,
:mod:`.groups`, :mod:`.group_messages`, :mod:`.history`), each taking this service first; the
table in :mod:`.rest_api` maps every API path to its function.

One lock guards all state. It is never held while waiting: not across a callback, not across
the modify latency.
"""

from __future__ import annotations

import copy
import itertools
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from local.tim_emulator import codes
from local.tim_emulator.callbacks import CallbackClient, Job
from local.tim_emulator.codes import ImError
from local.tim_emulator.config import Identity, Settings

MAX_LOG = 100_000

Outcome = Literal["delivered", "rewritten", "rejected", "discarded", "dropped"]


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
    """A native stream message (docs/protocol.md §8.4) being written: its chunks go into ``record``."""

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
    # The profile get_group_info answers and modify_group_base_info changes (docs/protocol.md §10.2, §10.3).
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
        self.settings = settings
        self._now = now
        self.callbacks = callbacks
        self.stopping = stopping
        self.lock = threading.RLock()
        self._seed = Seed()
        self._reset_state()

    def _reset_state(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.friends: dict[str, dict[str, dict[str, Any]]] = {}  # from -> to -> edge info
        self.friend_requests: list[dict[str, Any]] = []  # pending (non-forced) adds
        self.groups: dict[str, Group] = {}
        self.messages: list[dict[str, Any]] = []
        self.c2c: dict[tuple[str, str, str], dict[str, Any]] = {}
        # The stored C2C messages of each conversation (its two accounts, sorted), in send order.
        self.conversations: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self.group_msgs: dict[tuple[str, int], dict[str, Any]] = {}
        self.c2c_dedupe: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.group_dedupe: dict[tuple[str, str, int], tuple[float, dict[str, Any]]] = {}
        # Insertion order of the dedupe keys, so that expiring them does not scan everything.
        self.c2c_dedupe_order: deque[tuple[Any, ...]] = deque()
        self.group_dedupe_order: deque[tuple[float, tuple[str, str, int]]] = deque()
        self.c2c_seq: dict[tuple[str, str], int] = {}
        self.unread: dict[str, int] = {}
        self.dropped: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.calls: deque[dict[str, Any]] = deque(maxlen=MAX_LOG)
        self._call_windows: dict[str, deque[float]] = {}
        self.modifying: set[tuple[Any, ...]] = set()
        # Native stream messages (docs/protocol.md §8.4) by StreamMsgID, and the first calls by (scope, random).
        self.streams: dict[str, Stream] = {}
        self.stream_starts: dict[tuple[Any, ...], Stream] = {}
        self.send_ids = itertools.count(1)
        self._tinyids = itertools.count(144_115_200_000_000_001)
        # IDs the service makes up (group IDs, C2C seqs and randoms) are reproducible run to run.
        self.ids = random.Random(0x7173)
        self.add_account(self.identity.admin)

    def reset(self, seed: bool = True) -> None:
        with self.lock:
            self._reset_state()
            if seed:
                self.apply_seed(self._seed)

    def set_seed(self, seed: Seed) -> None:
        """Remember ``seed`` for resets and put it in place now."""
        with self.lock:
            self._seed = seed
            self.apply_seed(seed)

    def apply_seed(self, seed: Seed) -> None:
        now = self.now_s()
        with self.lock:
            for user in seed.accounts:
                self.add_account(user)
            for robot in seed.robots:
                self.add_account(robot, robot=True)
            for spec in seed.groups:
                # Seeded directly: a demo ID such as "@TGS#demo" is fine here, though a REST
                # create_group may not choose an ID with Tencent's own prefix (docs/protocol.md §6.2).
                group = Group(spec.group_id, spec.type, spec.name, spec.owner, now)
                self.groups[spec.group_id] = group
                for user in dict.fromkeys([*([spec.owner] if spec.owner else []), *spec.members]):
                    self.add_account(user)
                    group.members[user] = Member(user, "Owner" if user == spec.owner else "Member", now)

    def add_account(self, user: str, nick: str = "", face_url: str = "", robot: bool = False) -> Account:
        account = self.accounts.get(user)
        if account is None:
            account = Account(user, nick, face_url, robot, next(self._tinyids))
            self.accounts[user] = account
        return account

    def now_s(self) -> int:
        return int(self._now())

    def now(self) -> float:
        return self._now()

    def admit_call(self, api: str) -> bool:
        """The per-API frequency limit: a sliding one-second window of admitted calls.

        Calls refused for the rate do not count: a client that backs off gets through as soon as
        the window has room again."""
        limit = self.settings().rate_limit(api)
        now = self._now()
        with self.lock:
            window = self._call_windows.setdefault(api, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return False
            window.append(now)
            return True

    def record_call(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(entry)

    def group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise ImError(codes.GROUP_MISSING, f"group {group_id} does not exist")
        return group

    def new_group_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        while True:
            group_id = "@TGS#" + "".join(self.ids.choice(alphabet) for _ in range(9))
            if group_id not in self.groups:
                return group_id

    def job(self, command: str, body: dict[str, Any], caller: Caller, send_id: int | None) -> Job:
        return Job(command, body, caller.platform, caller.client_ip, send_id)

    def event_jobs(self, command: str, body: dict[str, Any], caller: Caller) -> list[Job]:
        """An after-the-fact callback (no send behind it), if the app has it switched on."""
        return [self.job(command, body, caller, None)] if self.callbacks.enabled(command) else []

    def event_ms(self) -> int:
        return int(self._now() * 1000)

    def state(self) -> dict[str, Any]:
        with self.lock:
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
                    for a, edges in self.friends.items()
                    for b, info in edges.items()
                ],
                "friend_requests": list(self.friend_requests),
                "groups": [
                    {
                        "GroupId": g.group_id,
                        "Type": g.type,
                        "Name": g.name,
                        "Owner_Account": g.owner,
                        "members": [{"Member_Account": m.account, "Role": m.role} for m in g.members.values()],
                        "next_seq": g.next_seq,
                    }
                    for g in self.groups.values()
                ],
                "unread": dict(self.unread),
                "modifies_in_progress": [list(k) for k in self.modifying],
            }

    def read(self, what: Literal["messages", "dropped", "rejected", "calls"]) -> list[dict[str, Any]]:
        with self.lock:  # copied whole: a modify may change a message while it is being sent out
            return copy.deepcopy(list(getattr(self, what)))


def conversation(a: str, b: str) -> tuple[str, ...]:
    """A C2C conversation's key: the same whichever account is named first."""
    return tuple(sorted((a, b)))
