"""Admin operations on Tencent IM: bot friends, robots, messages and chatbot configurations
(broadcasts: timkit.broadcast).

Every call goes through the REST client, paced by the shared rate limiter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from timkit.models.admin import (
    NO_ANSWER,
    BotFriendsResponse,
    FriendResult,
    MessageRequest,
    MessageResponse,
    RobotCreateRequest,
    SendResult,
)
from timkit.models.rest import MAX_BATCH_RECIPIENTS, BatchSendMsgRequest
from timkit.tim.errors import ACCOUNT_MISSING_CODES, ROBOT_LIMIT, MessageDropped, TimApiError, TimTransportError
from timkit.tim.rest import TimRestClient

if TYPE_CHECKING:
    from timkit.models.botconfig import BotConfig
    from timkit.stores.bots import BotStore

# Users checked and added per call: one friend_add writes the bot's list once for all of them
# (Tencent advises batching per user against 30008 write conflicts).
FRIEND_BATCH = 100
# An app has at most MAX_ROBOTS robots (docs/protocol.md §8.1); past that create_robot answers ROBOT_LIMIT.
MAX_ROBOTS = 20
# How long the app's list of robots is trusted to say a robot exists (one not in it is looked up again).
ROBOTS_CACHE_SECONDS = 5.0


class AccountNotFound(LookupError):
    def __init__(self, account: str) -> None:
        super().__init__(f"no such account: {account}")
        self.account = account


class RobotLimitReached(Exception):
    """The app already has the most robots Tencent allows: one must be deleted first."""

    def __init__(self) -> None:
        super().__init__(f"the app has {MAX_ROBOTS} robots, Tencent's limit: delete one first")


class RobotNotFound(LookupError):
    def __init__(self, robot: str) -> None:
        super().__init__(f"the app has no robot {robot} (create it with POST /admin/robots)")
        self.robot = robot


class ConfigNotFound(LookupError):
    def __init__(self, bot: str) -> None:
        super().__init__(f"{bot} has no configuration")
        self.bot = bot


class AdminService:
    def __init__(self, rest: TimRestClient) -> None:
        self.rest = rest

    def bot_friends(self, bot_id: str, user_ids: list[str]) -> BotFriendsResponse:
        results: list[FriendResult] = []
        for start in range(0, len(user_ids), FRIEND_BATCH):
            chunk = user_ids[start : start + FRIEND_BATCH]
            try:
                codes = self.rest.ensure_friends(bot_id, chunk)
            except TimApiError as exc:
                if exc.error_code in ACCOUNT_MISSING_CODES:
                    raise AccountNotFound(bot_id) from None
                raise
            for user in chunk:
                code = codes.get(user, -1)
                if code is None:
                    results.append(FriendResult(user_id=user, result="already"))
                else:
                    results.append(FriendResult(user_id=user, result="added" if code == 0 else "failed", code=code))
        counts = {kind: sum(r.result == kind for r in results) for kind in ("added", "already", "failed")}
        return BotFriendsResponse(bot_id=bot_id, results=results, **counts)

    def create_robot(self, request: RobotCreateRequest) -> None:
        face = str(request.face_url) if request.face_url else None
        try:
            self.rest.create_robot(request.robot_id, request.nick, face)
        except TimApiError as exc:
            if exc.error_code == ROBOT_LIMIT:
                raise RobotLimitReached() from None
            raise

    def robots(self) -> list[str]:
        return self.rest.get_all_robots()

    def delete_robot(self, robot_id: str) -> None:
        try:
            self.rest.delete_robot(robot_id)
        except TimApiError as exc:
            if exc.error_code in ACCOUNT_MISSING_CODES:
                raise AccountNotFound(robot_id) from None
            raise

    def send(self, request: MessageRequest, random: int | None = None) -> MessageResponse:
        """``random``: the Random (group) or MsgRandom and MsgSeq (one-to-one) to send with: a scheduled
        job's, kept for its retries, so that Tencent takes a resend as a repeat (docs/protocol.md §5.10)."""
        message, options, sender = request.message(), request.options, request.from_account
        results: list[SendResult] = []
        if request.to_group is not None:
            group = request.to_group
            try:
                reply = self.rest.send_group(message.group_request(group, sender, options, random))
                results.append(SendResult(recipient=group, result="sent", msg_seq=reply.MsgSeq))
            except MessageDropped as exc:
                results.append(SendResult(recipient=group, result="dropped", info=exc.error_info))
            except TimApiError as exc:
                results.append(_failed(group, exc.error_code, exc.error_info))
        elif request.to_user is not None:
            user = request.to_user
            try:
                sent = self.rest.send_c2c(message.c2c_request(user, sender, options, random, seq=random))
                results.append(SendResult(recipient=user, result="sent", msg_key=sent.MsgKey))
            except TimApiError as exc:
                results.append(_failed(user, exc.error_code, exc.error_info))
        else:
            users = request.to_users or []
            for start in range(0, len(users), MAX_BATCH_RECIPIENTS):
                batch = message.batch_c2c_request(
                    users[start : start + MAX_BATCH_RECIPIENTS], sender, options, random, seq=random
                )
                results.extend(self._batch(batch))
        sent_count = sum(r.result == "sent" for r in results)
        return MessageResponse(sent=sent_count, failed=len(results) - sent_count, results=results)

    def _batch(self, batch: BatchSendMsgRequest) -> list[SendResult]:
        users = batch.To_Account
        try:
            reply = self.rest.batch_send_c2c(batch)
        except TimApiError as exc:
            return [_failed(u, exc.error_code, exc.error_info) for u in users]
        except TimTransportError as exc:
            # The batches before this one went out: their results stand, this one's is unknown.
            return [_failed(u, NO_ANSWER, exc.error_info) for u in users]
        failed = reply.failed
        return [
            _failed(u, failed[u]) if u in failed else SendResult(recipient=u, result="sent", msg_key=reply.MsgKey)
            for u in users
        ]


class BotConfigService:
    """Chatbot configurations (PUT/GET/DELETE /admin/bots/{botId}/config): stored only for a robot
    the app has; read and deleted whatever Tencent says (a deleted robot's configuration can go)."""

    def __init__(
        self,
        rest: Callable[[], TimRestClient],
        store: BotStore,
        robots_ttl: float = ROBOTS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self._store = store
        self._ttl = robots_ttl
        self._clock = clock
        # When the robots were listed, and which (replaced whole: no lock needed to read it).
        self._robots: tuple[float, frozenset[str]] | None = None

    def put(self, bot: str, config: BotConfig) -> BotConfig:
        self._require_robot(bot)
        self._store.put_config(bot, config)
        return config

    def get(self, bot: str) -> BotConfig:
        config = self._store.get_config(bot)
        if config is None:
            raise ConfigNotFound(bot)
        return config

    def delete(self, bot: str) -> None:
        if not self._store.delete_config(bot):
            raise ConfigNotFound(bot)

    def _require_robot(self, bot: str) -> None:
        cached = self._robots
        if cached is not None and self._clock() - cached[0] < self._ttl and bot in cached[1]:
            return
        robots = frozenset(self._rest().get_all_robots())
        self._robots = (self._clock(), robots)
        if bot not in robots:
            raise RobotNotFound(bot)


def _failed(recipient: str, code: int, info: str = "") -> SendResult:
    return SendResult(recipient=recipient, result="failed", code=code, info=info)
