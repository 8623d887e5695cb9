"""Frames out: each message Tencent delivered (an after-send event on the bus) posted to every open
connection of its recipients.

The events are the after-send callbacks the bundle receives, whoever sent the message (an SDK
client, a socket, the admin API), so a socket sees what Tencent delivered: after the before-send
policy, rewritten as it rewrote it. A one-to-one message goes to its ``To_Account``, a group message
to the group's members but its sender (members read through the REST client, cached for a short
time per Lambda; a member join or exit event drops the group's entry at once in the Lambda that
gets it). Messages of community topics are not posted (a frame has no room for the topic). A
post that finds its connection gone removes the connection there and then.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from timkit.chat.mapping import c2c_message_id, group_message_id
from timkit.models.bus import detail_model
from timkit.models.callbacks import C2CAfterSend, GroupAfterSend, GroupMembersExited, GroupMembersJoined
from timkit.stores.connections import ConnectionGone, ConnectionStore, ManagementApi
from timkit.tim.rest import TimRestClient
from timkit.ws.mapping import delivered

C2C_AFTER_SEND = "C2C.CallbackAfterSendMsg"
GROUP_AFTER_SEND = "Group.CallbackAfterSendMsg"
MEMBERSHIP_EVENTS = ("Group.CallbackAfterNewMemberJoin", "Group.CallbackAfterMemberExit")
# The detail-types the fan-out's rule sends it (template: WsFanoutFunction).
DETAIL_TYPES = (C2C_AFTER_SEND, GROUP_AFTER_SEND, *MEMBERSHIP_EVENTS)
# Posts in flight at once: a group's connections are many small HTTPS calls.
POSTERS = 32


@dataclass(frozen=True)
class Delivery:
    posted: int = 0
    gone: int = 0


class MemberCache:
    """Group members by group, kept ``seconds`` (0: read every time)."""

    def __init__(
        self, rest: Callable[[], TimRestClient], seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rest = rest
        self._seconds = seconds
        self._clock = clock
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, group_id: str) -> frozenset[str]:
        now = self._clock()
        cached = self._groups.get(group_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        members = frozenset(member.Member_Account for member in self._rest().iter_group_members(group_id))
        if self._seconds:
            self._groups[group_id] = (now + self._seconds, members)
        return members

    def forget(self, group_id: str) -> None:
        self._groups.pop(group_id, None)


class WsFanout:
    def __init__(
        self,
        connections: ConnectionStore,
        api: ManagementApi,
        members: MemberCache,
        posters: int = POSTERS,
    ) -> None:
        self._connections = connections
        self._api = api
        self._members = members
        self._posters = posters

    def handle(self, detail_type: str, detail: dict[str, Any]) -> Delivery:
        """One bus event (its detail-type and detail)."""
        callback = detail_model(detail_type).model_validate(detail).callback
        if isinstance(callback, GroupMembersJoined | GroupMembersExited):
            self._members.forget(callback.GroupId)
            return Delivery()
        if isinstance(callback, C2CAfterSend):
            if callback.SendMsgResult:
                return Delivery()  # not delivered
            frame = delivered(
                "single",
                callback.From_Account,
                callback.To_Account,
                callback.MsgBody,
                callback.CloudCustomData,
                c2c_message_id(callback.MsgKey),
                callback.MsgTime,
            )
            return self.post({callback.To_Account} - {callback.From_Account}, frame)
        if isinstance(callback, GroupAfterSend) and not callback.TopicId:
            frame = delivered(
                "group",
                callback.From_Account,
                callback.GroupId,
                callback.MsgBody,
                callback.CloudCustomData,
                group_message_id(callback.GroupId, callback.MsgSeq),
                callback.MsgTime,
            )
            return self.post(self._members.members(callback.GroupId) - {callback.From_Account}, frame)
        return Delivery()

    def post(self, users: set[str] | frozenset[str], frame: dict[str, Any]) -> Delivery:
        """Posts ``frame`` to every open connection of ``users``."""
        data = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()
        targets = [
            (user, connection_id)
            for user, ids in self._connections.connections_of(users).items()
            for connection_id in ids
        ]
        if not targets:
            return Delivery()
        with ThreadPoolExecutor(max_workers=min(self._posters, len(targets)), thread_name_prefix="ws-post") as pool:
            posted = list(pool.map(lambda target: self._post(target[0], target[1], data), targets))
        return Delivery(posted=sum(posted), gone=len(posted) - sum(posted))

    def _post(self, user: str, connection_id: str, data: bytes) -> bool:
        try:
            self._api.post(connection_id, data)
        except ConnectionGone:
            self._connections.remove(connection_id, user)
            return False
        return True
