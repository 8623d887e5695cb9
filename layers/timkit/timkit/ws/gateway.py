"""Frames in: connecting with a UserSig, and each client frame to a Tencent call, answered with an ack.

* ``$connect`` verifies the ``token`` (the user's own UserSig, as the merger API's authorizer
  does) and counts the user's open connections before anything is written.
* A frame is counted against its connection's frames per second (the rate limiter's one-second
  windows, shared by every Lambda), read (timkit.models.ws), checked to come from the connection's
  user, then sent (``single``: sendmsg, ``group``: send_group_msg) or applied (``join``: only to
  groups anyone may join, ``leave``) through the paced REST client. Nothing is written or sent for
  a frame that is refused.
* A message's ``msgId`` and the user make its Tencent ``Random`` (and one-to-one ``MsgSeq``), and an
  idempotency record (the thread API's, timkit.stores.chat_tokens) answers a resent frame with the
  first one's message id without sending it again. A resend while the first is still being sent is
  answered ``in_progress``. A resend after an attempt that ended without an answer from Tencent
  first looks for that attempt's one-to-one message in the conversation's history (Tencent drops a
  repeated ``MsgRandom`` only within the same second), then sends again with the same ``Random``,
  which Tencent drops as a duplicate of a group message within 5 minutes (docs/protocol.md §6.4).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from timkit.chat.mapping import c2c_message_id, group_message_id
from timkit.keys import KeyNotConfigured
from timkit.models.rest import AdminGetRoamMsgRequest, SendGroupMsgRequest, SendMsgRequest
from timkit.models.ws import Ack, Frame, FrameError, MsgId, msg_id_of, ok, parse_frame, tencent_id
from timkit.stores.chat_tokens import ChatTokenStore
from timkit.stores.connections import ConnectionStore
from timkit.stores.rates import RateBuckets
from timkit.tim.errors import MessageDropped, MessageTooLarge, TimApiError, TimTransportError
from timkit.tim.rest import TimRestClient
from timkit.tim.usersig import UserSigError, verify_usersig
from timkit.ws.mapping import outgoing

# API Gateway ends every connection after 2 hours (docs/protocol.md §14): records live as long.
CONNECTION_LIFETIME_SECONDS = 2 * 3600
# How long a send may run before a resend of its frame may take it over.
LEASE_SECONDS = 30
# One page of a one-to-one conversation is searched for a send whose answer was lost.
RECOVERY_PAGE = 100
JOINABLE = "FreeAccess"
NOT_MEMBER = "NotMember"

# Ack error codes beyond the frame's own (timkit.models.ws).
FORBIDDEN = "forbidden"
RATE_LIMITED = "rate_limited"
NOT_CONNECTED = "not_connected"
CONFLICT = "conflict"
IN_PROGRESS = "in_progress"
REJECTED = "rejected"
DROPPED = "dropped"
UNAVAILABLE = "unavailable"
TOO_LARGE = "too_large"


class Refused(Exception):
    """A connection refused at ``$connect``: the HTTP status API Gateway answers the handshake with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    frames_per_second: int
    connections_per_user: int


class WsGateway:
    def __init__(
        self,
        connections: ConnectionStore,
        rest: Callable[[], TimRestClient],
        tokens: ChatTokenStore,
        windows: RateBuckets,
        sdkappid: int,
        key: Callable[[], str],
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connections = connections
        self._rest = rest
        self._tokens = tokens
        self._windows = windows
        self._sdkappid = sdkappid
        self._key = key
        self.limits = limits
        self._clock = clock

    # ------------------------------------------------------------------ connections

    def connect(self, connection_id: str, token: str | None) -> str:
        """Records the connection of the user whose UserSig ``token`` is; :class:`Refused` otherwise."""
        if not token:
            raise Refused(401, "connect with ?token=<your UserSig>")
        try:
            user = verify_usersig(token, self._sdkappid, self._key(), now=self._clock).identifier
        except UserSigError as exc:
            raise Refused(401, str(exc)) from None
        # Not atomic with the write: two connections made at the same moment may both fit.
        if len(self._connections.open_connections(user)) >= self.limits.connections_per_user:
            raise Refused(429, f"at most {self.limits.connections_per_user} open connections per user")
        self._connections.add(user, connection_id, CONNECTION_LIFETIME_SECONDS)
        return user

    def disconnect(self, connection_id: str) -> None:
        self._connections.remove(connection_id)

    # ------------------------------------------------------------------ frames

    def frame(self, connection_id: str, raw: str | bytes) -> Ack:
        """The answer to one client frame."""
        user = self._connections.user_of(connection_id)
        if user is None:
            return Ack(msgId=None, ok=False, code=NOT_CONNECTED, message="this connection is not open")
        if not self._windows.take(f"ws#{connection_id}", int(self._clock()), self.limits.frames_per_second):
            return Ack(
                msgId=msg_id_of(raw),
                ok=False,
                code=RATE_LIMITED,
                message=f"at most {self.limits.frames_per_second} frames per second per connection; send it again",
            )
        try:
            frame = parse_frame(raw)
        except FrameError as exc:
            return exc.ack()
        msg_id = frame.msg.msgId
        if tencent_id(frame.source) != user:
            return _error(msg_id, FORBIDDEN, "source must be the user this connection was opened as")
        try:
            if frame.type in ("join", "leave"):
                return self._membership(frame, user)
            return self._send_once(frame, user)
        except MessageTooLarge as exc:
            return _error(msg_id, TOO_LARGE, str(exc))
        except MessageDropped as exc:
            return _error(msg_id, DROPPED, f"Tencent dropped the message ({exc.reason})")
        except TimApiError as exc:
            return Ack(
                msgId=msg_id, ok=False, code=REJECTED, message=exc.error_info or "refused", tencentCode=exc.error_code
            )
        except TimTransportError:
            return _error(msg_id, UNAVAILABLE, "Tencent IM cannot be reached now; send it again")
        except KeyNotConfigured:
            # Logged (and counted) where the key is read; the client only learns to come back.
            return _error(msg_id, UNAVAILABLE, "the gateway cannot send now; send it again")

    def _membership(self, frame: Frame, user: str) -> Ack:
        group = tencent_id(frame.target)
        rest = self._rest()
        if frame.type == "leave":
            rest.delete_group_member(group, [user])
            return ok(frame.msg.msgId)
        info = rest.get_group_info([group]).GroupInfo
        found = info[0] if info else None
        if found is None or found.ErrorCode:
            code, text = (found.ErrorCode, found.ErrorInfo) if found is not None else (0, "")
            return Ack(
                msgId=frame.msg.msgId,
                ok=False,
                code=REJECTED,
                message=text or "no such group",
                tencentCode=code or None,
            )
        if found.ApplyJoinOption != JOINABLE:
            return _error(frame.msg.msgId, FORBIDDEN, "this group is not open for anyone to join")
        rest.add_group_member(group, [user])
        return ok(frame.msg.msgId)

    def _send_once(self, frame: Frame, user: str) -> Ack:
        msg_id = frame.msg.msgId
        if frame.type == "group" and self._rest().roles_in_group(tencent_id(frame.target), [user]).get(user) in (
            None,
            NOT_MEMBER,
        ):
            # The admin account sends as the user: Tencent's own member check cannot be relied on.
            return _error(msg_id, FORBIDDEN, "only the group's members may send to it")
        digest = hashlib.sha256(f"ws\0{user}\0{json.dumps(msg_id)}".encode()).hexdigest()
        random, seq = int(digest[:8], 16), int(digest[8:16], 16)
        key = "ws-send#" + digest
        fingerprint = hashlib.sha256(json.dumps(frame.wire(), sort_keys=True).encode()).hexdigest()
        record = self._tokens.begin(key, fingerprint, random, LEASE_SECONDS)
        if record is not None:
            if record.fingerprint != fingerprint:
                return _error(msg_id, CONFLICT, "this msgId was used for another frame")
            if record.state == "done" and record.result:
                return ok(msg_id, record.result)
            if record.lease_until > self._clock() or not self._tokens.take_over(record, LEASE_SECONDS):
                return _error(msg_id, IN_PROGRESS, "this msgId is being sent; wait for its answer")
        try:
            found = self._sent_before(frame, user, random, record.started_at) if record is not None else None
            message_id = found or self._send(frame, user, random, seq)
        except BaseException:
            self._tokens.release(key)
            raise
        self._tokens.finish(key, message_id)
        return ok(msg_id, message_id)

    def _sent_before(self, frame: Frame, user: str, random: int, since: int) -> str | None:
        """The one-to-one message an earlier attempt sent with ``random`` (its answer lost), from
        the newest page of the conversation's history since then; Tencent drops a group message's
        repeat by itself."""
        if frame.type != "single":
            return None
        now = int(self._clock())
        request = AdminGetRoamMsgRequest(
            Operator_Account=user,
            Peer_Account=tencent_id(frame.target),
            MaxCnt=RECOVERY_PAGE,
            MinTime=max(0, since - LEASE_SECONDS),
            # The record's clock may run ahead of this one: the window covers both.
            MaxTime=max(now, since) + LEASE_SECONDS,
        )
        for message in self._rest().admin_getroammsg(request).MsgList:
            if message.MsgRandom == random and message.From_Account == user:
                return c2c_message_id(message.MsgKey)
        return None

    def _send(self, frame: Frame, user: str, random: int, seq: int) -> str:
        body, custom = outgoing(frame)
        target = tencent_id(frame.target)
        if frame.type == "single":
            reply = self._rest().send_c2c(
                SendMsgRequest(
                    From_Account=user,
                    To_Account=target,
                    MsgRandom=random,
                    MsgSeq=seq,
                    MsgBody=body,
                    CloudCustomData=custom,
                    SyncOtherMachine=1,
                )
            )
            return c2c_message_id(reply.MsgKey)
        group = self._rest().send_group(
            SendGroupMsgRequest(GroupId=target, From_Account=user, Random=random, MsgBody=body, CloudCustomData=custom)
        )
        return group_message_id(target, group.MsgSeq)


def _error(msg_id: MsgId | None, code: str, message: str) -> Ack:
    return Ack(msgId=msg_id, ok=False, code=code, message=message)
