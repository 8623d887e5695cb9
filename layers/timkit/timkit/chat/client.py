"""ChatClient and ChatThreadClient: chat threads over Tencent IM's REST API (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from timkit.chat.errors import (
    ChatMessageNotFound,
    IdempotencyConflict,
    InvalidChatRequest,
    NotAParticipant,
    NotSupportedByTencent,
    OperationInProgress,
    ThreadNotFound,
)
from timkit.chat.mapping import (
    TEXT,
    c2c_message_id,
    chat_message,
    dump_envelope,
    envelope,
    from_history,
    group_message_id,
    outgoing_body,
    parse_c2c_message_id,
    parse_group_message_id,
    read_envelope,
    to_seconds,
    to_time,
)
from timkit.chat.paging import ChatPaged, decode_token, encode_token
from timkit.history import HistoryService
from timkit.models.chat import (
    MESSAGE_TYPE_PATTERN,
    AddChatParticipantsResult,
    ChatError,
    ChatMessage,
    ChatMessageReadReceipt,
    ChatMessagesPage,
    ChatParticipant,
    ChatParticipantsPage,
    ChatReadReceiptsPage,
    ChatThreadItem,
    ChatThreadProperties,
    ChatThreadsPage,
    CreateChatThreadResult,
    Metadata,
)
from timkit.models.conversations import (
    InvalidConversationId,
    group_conversation,
    normalise_conversation,
    parse_conversation,
)
from timkit.models.elements import CustomContent, CustomElem
from timkit.models.rest import (
    MAX_ADD_MEMBERS,
    MAX_GROUP_INFO_IDS,
    MAX_HISTORY_PAGE,
    MEMBER_ADD_FAILED,
    MEMBER_ADD_PENDING,
    AdminGetRoamMsgRequest,
    CreateGroupRequest,
    GroupHistoryMsg,
    GroupIdStr,
    GroupName,
    GroupType,
    ModifyC2CMsgRequest,
    ModifyGroupBaseInfoRequest,
    ModifyGroupMsgRequest,
    RoamMsg,
    SendGroupMsgRequest,
    SendMsgRequest,
    UserId,
)
from timkit.stores.chat_tokens import ChatTokenStore, TokenRecord
from timkit.tim.errors import (
    GROUP_ACCOUNT_MISSING,
    GROUP_ID_USED_CODES,
    GROUP_MISSING_CODES,
    GROUP_RECALL_MSG_MISSING,
    GROUP_RECEIPT_MISSING,
    TimApiError,
)
from timkit.tim.rest import TimRestClient

# A thread this API creates is a Work group ("Private" in the REST API, docs/protocol.md §10):
# members are added by others without approval, history roams, recall, edit and read receipts apply.
DEFAULT_GROUP_TYPE: GroupType = "Private"
# A token's thread gets a GroupId derived from it: custom ids are at most 48 bytes (docs/protocol.md §10.1).
TOKEN_GROUP_PREFIX = "thr-"  # noqa: S105 - a GroupId prefix, not a secret
# How long an attempt holds its token: above the admin API's 29 s timeout and the REST client's
# retries, so a live attempt is never taken over; after it, a repeat recovers.
LEASE_SECONDS = 60
# How far a recovery looks back for the message a crashed attempt may have sent (pages of 20).
RECOVERY_PAGES = 10
# Messages looked through for a one-to-one message id (Tencent's history has no lookup by MsgKey).
C2C_LOOKUP_PAGE = 100
C2C_LOOKUP_PAGES = 20
# The typing notice (docs/protocol.md §12.5): an online-only custom message in TUIKit's convention.
TYPING_DATA = json.dumps({"businessID": "user_typing_status", "command": "textInput"}, separators=(",", ":"))

_USER = TypeAdapter(UserId)
_GROUP_ID = TypeAdapter(GroupIdStr)
_TOPIC = TypeAdapter(GroupName)
_METADATA: TypeAdapter[dict[str, str] | None] = TypeAdapter(Metadata | None)


def _valid(adapter: TypeAdapter[Any], value: Any, field: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise InvalidChatRequest(field, f"{field}: {exc.errors()[0]['msg']}") from None


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _fingerprint(values: dict[str, Any]) -> str:
    return _hash(json.dumps(values, sort_keys=True, separators=(",", ":"), default=str))


def _members(participants: Iterable[ChatParticipant | str]) -> list[str]:
    users: list[str] = []
    for index, participant in enumerate(participants):
        item = ChatParticipant(identifier=participant) if isinstance(participant, str) else participant
        if item.share_history_time is not None:
            raise NotSupportedByTencent(
                "share_history_time",
                "Tencent IM has no per-participant history visibility "
                "(a group member sees the group's roaming history)",
                "leave it out; to hide earlier messages, start a new thread",
            )
        if item.display_name is not None:
            raise NotSupportedByTencent(
                "participant display_name",
                "add_group_member takes accounts only",
                "set the user's nickname with Tencent's profile API, or pass sender_display_name with each message",
            )
        users.append(_valid(_USER, item.identifier, f"participants[{index}].identifier"))
    if len(set(users)) != len(users):
        raise InvalidChatRequest("participants", "participants: must not name the same user twice")
    return users


class _Tokens:
    """Claims on idempotency records; see the package docstring for the states and crash windows."""

    def __init__(self, store: ChatTokenStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def claim(self, key: str, fingerprint: str, random: int) -> TokenRecord | None:
        """None: this attempt is the first. A record: ``done`` (answer with its result) or
        ``pending`` (an earlier attempt ended without an outcome: this one recovers it)."""
        record = self._store.begin(key, fingerprint, random, LEASE_SECONDS)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyConflict()
        if record.state == "done":
            return record
        if record.lease_until > self._clock() or not self._store.take_over(record, LEASE_SECONDS):
            raise OperationInProgress()
        return record

    def release(self, key: str) -> None:
        self._store.release(key)

    def finish(self, key: str, result: str) -> None:
        self._store.finish(key, result)


class ChatClient:
    """Threads: create, list, delete, and a :class:`ChatThreadClient` for each.

    ``rest`` is the REST client (or a callable giving one, like the admin API's paced client);
    ``history`` the archive's :class:`timkit.history.HistoryService` (None: Tencent's history APIs
    only); ``tokens`` the idempotency record store (None: a token still fixes the GroupId and the
    Random, but a repeat after a crash is recovered from Tencent's dedupe alone).
    """

    def __init__(
        self,
        rest: TimRestClient | Callable[[], TimRestClient],
        *,
        history: HistoryService | None = None,
        tokens: ChatTokenStore | None = None,
        group_type: GroupType = DEFAULT_GROUP_TYPE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rest: Callable[[], TimRestClient] = (lambda: rest) if isinstance(rest, TimRestClient) else rest
        self._history = history
        self._tokens = _Tokens(tokens, clock) if tokens is not None else None
        self._group_type = group_type
        self._clock = clock

    @property
    def rest(self) -> TimRestClient:
        return self._rest()

    def get_chat_thread_client(self, thread_id: str) -> ChatThreadClient:
        return ChatThreadClient(self._rest, thread_id, history=self._history, tokens=self._tokens, clock=self._clock)

    # ------------------------------------------------------------------ create

    def create_chat_thread(
        self,
        topic: str,
        participants: Iterable[ChatParticipant | str],
        idempotency_token: str | None = None,
    ) -> CreateChatThreadResult:
        """A group thread with ``participants``; those Tencent would not add are in ``errors`` with
        its code. One-to-one threads need no creating (``c2c:<a>:<b>`` exists once a message is sent)."""
        topic = _valid(_TOPIC, topic, "topic")
        members = _members(participants)
        if not members:
            raise InvalidChatRequest("participants", "participants: give at least one")
        if idempotency_token is None:
            group_id = self.rest.create_group(CreateGroupRequest(Type=self._group_type, Name=topic)).GroupId
            return self._populate(group_id, members)
        derived = TOKEN_GROUP_PREFIX + _hash("thread", idempotency_token)[:40]
        key = "chat-create#" + _hash(idempotency_token)
        fingerprint = _fingerprint({"topic": topic, "participants": sorted(members), "type": self._group_type})
        record = self._tokens.claim(key, fingerprint, 0) if self._tokens is not None else None
        if record is not None and record.state == "done":
            errors = [ChatError.model_validate(e) for e in json.loads(record.result or "[]")]
            thread = self.get_chat_thread_client(group_conversation(derived))
            try:
                return CreateChatThreadResult(chat_thread=thread.get_properties(), errors=errors)
            except ThreadNotFound:
                raise ThreadNotFound(thread.thread_id, "the thread this token created has been deleted") from None
        try:
            try:
                self.rest.create_group(CreateGroupRequest(Type=self._group_type, Name=topic, GroupId=derived))
            except TimApiError as exc:
                # Created by an earlier attempt with this token: complete its members.
                if exc.error_code not in GROUP_ID_USED_CODES:
                    raise
            result = self._populate(derived, members)
        except BaseException:
            if self._tokens is not None:
                self._tokens.release(key)
            raise
        if self._tokens is not None:
            self._tokens.finish(key, json.dumps([e.model_dump(mode="json") for e in result.errors]))
        return result

    def _populate(self, group_id: str, members: list[str]) -> CreateChatThreadResult:
        thread = self.get_chat_thread_client(group_conversation(group_id))
        added = thread.add_participants(members)
        return CreateChatThreadResult(chat_thread=thread.get_properties(), errors=added.errors)

    # ------------------------------------------------------------------ list, delete

    def list_chat_threads(
        self, results_per_page: int = MAX_GROUP_INFO_IDS, start_time: datetime | int | None = None
    ) -> ChatPaged[ChatThreadsPage]:
        """The app's groups, with their topics; ``start_time``: only those with a message (or,
        without one, created) since then. One-to-one conversations are not listed: Tencent keeps
        them per user, with no app-wide list."""
        if not 1 <= results_per_page <= MAX_GROUP_INFO_IDS:
            raise InvalidChatRequest("pageSize", f"pageSize: 1 to {MAX_GROUP_INFO_IDS}")
        since = to_seconds(start_time)

        def fetch(token: str | None) -> ChatThreadsPage:
            cursor = int(decode_token(token, "threads", {"n"})["n"]) if token else 0
            reply = self.rest.group_id_page(cursor, page_size=results_per_page)
            ids = [item.GroupId for item in reply.GroupIdList]
            items = []
            if ids:
                for info in self.rest.get_group_info(ids).GroupInfo:
                    last = info.LastMsgTime or info.CreateTime or 0
                    if info.ErrorCode == 0 and (since is None or last >= since):
                        items.append(
                            ChatThreadItem(
                                id=group_conversation(info.GroupId),
                                topic=info.Name,
                                last_message_received_on=to_time(info.LastMsgTime),
                            )
                        )
            return ChatThreadsPage(
                items=items, next_token=encode_token("threads", n=reply.Next) if reply.Next else None
            )

        return ChatPaged(fetch)

    def delete_chat_thread(self, thread_id: str) -> None:
        self.get_chat_thread_client(thread_id).delete()


class ChatThreadClient:
    """One thread: ``group:<GroupId>`` over the group APIs, ``c2c:<a>:<b>`` over the C2C ones."""

    def __init__(
        self,
        rest: Callable[[], TimRestClient],
        thread_id: str,
        *,
        history: HistoryService | None,
        tokens: _Tokens | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            kind, parts = parse_conversation(thread_id)
        except InvalidConversationId as exc:
            raise InvalidChatRequest("threadId", f"threadId: {exc}") from None
        if kind == "topic":
            raise InvalidChatRequest("threadId", "threadId: topics of Community groups are not threads here")
        # The ids Tencent would refuse (a UserID over 32 bytes, a GroupId over 48...) are this
        # request's mistake, told before any call.
        for part in parts:
            _valid(_USER if kind == "c2c" else _GROUP_ID, part, "threadId")
        self.kind = kind
        # "" in a one-to-one thread, where no group method is reached.
        self.group_id = parts[0] if kind == "group" else ""
        self.users: tuple[str, ...] = parts if kind == "c2c" else ()
        self.thread_id = normalise_conversation(thread_id)
        self._rest = rest
        self._history = history
        self._tokens = tokens
        self._clock = clock

    @property
    def rest(self) -> TimRestClient:
        return self._rest()

    def _not_for_c2c(self, operation: str, instead: str) -> None:
        if self.kind == "c2c":
            why = "Tencent IM has no such operation for a one-to-one conversation"
            raise NotSupportedByTencent(operation, why, instead)

    def _peer(self, user: str, field: str) -> str:
        if user not in self.users:
            raise NotAParticipant(field, f"{field}: {user!r} is not one of this one-to-one thread's two users")
        first, second = self.users
        return second if user == first else first

    def _group_missing(self, exc: TimApiError) -> None:
        if exc.error_code in GROUP_MISSING_CODES:
            raise ThreadNotFound(self.thread_id) from None

    # ------------------------------------------------------------------ the thread

    def get_properties(self) -> ChatThreadProperties:
        if self.kind == "c2c":
            return ChatThreadProperties(id=self.thread_id, kind="c2c", participant_count=2)
        info = next(iter(self.rest.get_group_info([self.group_id]).GroupInfo), None)
        if info is None or info.ErrorCode:
            raise ThreadNotFound(self.thread_id)
        return ChatThreadProperties(
            id=self.thread_id,
            kind="group",
            topic=info.Name,
            created_on=to_time(info.CreateTime),
            created_by=info.Owner_Account or None,
            last_message_received_on=to_time(info.LastMsgTime),
            participant_count=info.MemberNum,
        )

    def update_topic(self, topic: str) -> None:
        self._not_for_c2c("update_topic", "keep a topic of your own beside the conversation")
        topic = _valid(_TOPIC, topic, "topic")
        try:
            self.rest.modify_group_base_info(ModifyGroupBaseInfoRequest(GroupId=self.group_id, Name=topic))
        except TimApiError as exc:
            self._group_missing(exc)
            raise

    def delete(self) -> None:
        self._not_for_c2c(
            "delete_chat_thread", "recall its messages (delete_message), or let roaming storage expire them"
        )
        try:
            self.rest.destroy_group(self.group_id)
        except TimApiError as exc:
            self._group_missing(exc)
            raise

    # ------------------------------------------------------------------ participants

    def add_participants(self, participants: Iterable[ChatParticipant | str]) -> AddChatParticipantsResult:
        """Adds each user (up to 300 per Tencent call); those not added are in ``errors`` with
        Tencent's code: ``add_group_member``'s per-member ``Result`` ("0" failed, "3" waiting for
        approval), or the call's ErrorCode when it refused a member alone (10019: no such user)."""
        self._not_for_c2c("add_participants", "start a group thread with create_chat_thread")
        users = _members(participants)
        if not users:
            raise InvalidChatRequest("participants", "participants: give at least one")
        result = AddChatParticipantsResult()
        for start in range(0, len(users), MAX_ADD_MEMBERS):
            self._add(users[start : start + MAX_ADD_MEMBERS], result)
        return result

    def _add(self, users: list[str], result: AddChatParticipantsResult) -> None:
        try:
            reply = self.rest.add_group_member(self.group_id, users)
        except TimApiError as exc:
            self._group_missing(exc)
            if exc.error_code != GROUP_ACCOUNT_MISSING:
                raise
            if len(users) > 1:
                # The call refused the lot for some of them: one at a time tells who.
                for user in users:
                    self._add([user], result)
                return
            result.errors.append(
                ChatError(code=str(exc.error_code), message=exc.error_info or "no such user", target=users[0])
            )
            return
        for item in reply.MemberList:
            if item.Result in (MEMBER_ADD_FAILED, MEMBER_ADD_PENDING):
                why = "waiting for approval" if item.Result == MEMBER_ADD_PENDING else "not added"
                result.errors.append(
                    ChatError(
                        code=str(item.Result),
                        message=f"add_group_member Result {item.Result}: {why}",
                        target=item.Member_Account,
                    )
                )
            else:
                result.added.append(item.Member_Account)

    def remove_participant(self, user: str) -> None:
        self._not_for_c2c("remove_participant", "a one-to-one conversation always has its two users")
        user = _valid(_USER, user, "user")
        try:
            self.rest.delete_group_member(self.group_id, [user])
        except TimApiError as exc:
            self._group_missing(exc)
            raise

    def list_participants(self, results_per_page: int = 100) -> ChatPaged[ChatParticipantsPage]:
        if not 1 <= results_per_page <= 200:
            raise InvalidChatRequest("pageSize", "pageSize: 1 to 200")
        if self.kind == "c2c":
            users = [ChatParticipant(identifier=user) for user in self.users]

            def both(token: str | None) -> ChatParticipantsPage:
                # One page, so no token is one this listing gave.
                if token:
                    decode_token(token, "participants", set())
                return ChatParticipantsPage(items=users)

            return ChatPaged(both)

        def fetch(token: str | None) -> ChatParticipantsPage:
            offset = int(decode_token(token, "participants", {"o"})["o"]) if token else 0
            try:
                reply = self.rest.group_member_page(self.group_id, results_per_page, offset)
            except TimApiError as exc:
                self._group_missing(exc)
                raise
            items = [
                ChatParticipant(identifier=m.Member_Account, role=m.Role, joined_on=to_time(m.JoinTime))
                for m in reply.MemberList
            ]
            more = reply.MemberList and offset + len(reply.MemberList) < reply.MemberNum
            return ChatParticipantsPage(
                items=items, next_token=encode_token("participants", o=offset + len(items)) if more else None
            )

        return ChatPaged(fetch)

    # ------------------------------------------------------------------ messages

    def send_message(
        self,
        content: str,
        sender: str,
        sender_display_name: str | None = None,
        message_type: str = TEXT,
        metadata: dict[str, str] | None = None,
        idempotency_token: str | None = None,
    ) -> str:
        """Sends and returns the message id. With ``idempotency_token`` a repeat returns the first
        attempt's id and sends nothing, however that attempt ended."""
        if not isinstance(content, str) or not content:
            raise InvalidChatRequest("content", "content: give the message's text")
        sender = _valid(_USER, sender, "sender")
        peer = self._peer(sender, "sender") if self.kind == "c2c" else None
        if not isinstance(message_type, str) or not re.fullmatch(MESSAGE_TYPE_PATTERN, message_type):
            raise InvalidChatRequest("type", f"type: must match {MESSAGE_TYPE_PATTERN}")
        metadata = _valid(_METADATA, metadata, "metadata")
        body = outgoing_body(content, message_type)
        custom_data = dump_envelope(envelope(message_type, sender_display_name, metadata))
        if idempotency_token is None:
            return self._send(sender, peer, body, custom_data, secrets.randbits(32), None)
        digest = _hash("send", self.thread_id, idempotency_token)
        # Derived, so that even without a record a repeat carries the same Random (and MsgSeq).
        random, seq = int(digest[:8], 16), int(digest[8:16], 16)
        if self._tokens is None:
            return self._send(sender, peer, body, custom_data, random, seq)
        key = "chat-send#" + digest
        fingerprint = _fingerprint(
            {
                "content": content,
                "sender": sender,
                "name": sender_display_name,
                "type": message_type,
                "metadata": metadata,
            }
        )
        record = self._tokens.claim(key, fingerprint, random)
        if record is not None and record.state == "done" and record.result:
            return record.result
        try:
            found = self._find_sent(sender, peer, random, record.started_at) if record is not None else None
            message_id = found or self._send(sender, peer, body, custom_data, random, seq)
        except BaseException:
            self._tokens.release(key)
            raise
        self._tokens.finish(key, message_id)
        return message_id

    def _send(
        self, sender: str, peer: str | None, body: list[Any], custom_data: str | None, random: int, seq: int | None
    ) -> str:
        if peer is not None:
            reply = self.rest.send_c2c(
                SendMsgRequest(
                    From_Account=sender,
                    To_Account=peer,
                    MsgRandom=random,
                    MsgSeq=seq,
                    MsgBody=body,
                    CloudCustomData=custom_data,
                    SyncOtherMachine=1,
                )
            )
            return c2c_message_id(reply.MsgKey)
        try:
            group = self.rest.send_group(
                SendGroupMsgRequest(
                    GroupId=self.group_id,
                    From_Account=sender,
                    Random=random,
                    MsgBody=body,
                    CloudCustomData=custom_data,
                )
            )
        except TimApiError as exc:
            self._group_missing(exc)
            raise
        return group_message_id(self.group_id, group.MsgSeq)

    def _find_sent(self, sender: str, peer: str | None, random: int, since: int) -> str | None:
        """The id of the message ``sender`` sent with ``random`` since ``since`` (an earlier attempt
        whose answer was lost), from Tencent's history; None when it is not there."""
        floor = since - LEASE_SECONDS
        if peer is not None:
            for message in self._roam(sender, peer, floor, int(self._clock()) + LEASE_SECONDS, RECOVERY_PAGES):
                if message.MsgRandom == random and message.From_Account == sender:
                    return c2c_message_id(message.MsgKey)
            return None
        for item in self._group_history(None, RECOVERY_PAGES):
            if item.MsgTimeStamp < floor:
                return None
            if item.MsgRandom == random and item.From_Account == sender:
                return group_message_id(self.group_id, item.MsgSeq)
        return None

    def _group_history(self, below: int | None, pages: int) -> Iterator[GroupHistoryMsg]:
        seq = below
        for _ in range(pages):
            try:
                reply = self.rest.group_msg_get_simple(self.group_id, req_msg_seq=seq, number=MAX_HISTORY_PAGE)
            except TimApiError as exc:
                self._group_missing(exc)
                raise
            yield from reply.RspMsgList
            if not reply.RspMsgList:
                return
            seq = min(item.MsgSeq for item in reply.RspMsgList) - 1
            if seq < 1:
                return

    def _roam(
        self, operator: str, peer: str, min_time: int, max_time: int, pages: int, page_size: int = C2C_LOOKUP_PAGE
    ) -> Iterator[RoamMsg]:
        """Newest first, ``pages`` pages at most."""
        last_key: str | None = None
        for _ in range(pages):
            reply = self.rest.admin_getroammsg(
                AdminGetRoamMsgRequest(
                    Operator_Account=operator,
                    Peer_Account=peer,
                    MaxCnt=page_size,
                    MinTime=max(min_time, 0),
                    MaxTime=max_time,
                    LastMsgKey=last_key,
                )
            )
            yield from sorted(reply.MsgList, key=lambda m: (m.MsgTimeStamp, m.MsgSeq), reverse=True)
            if reply.Complete or not reply.MsgList or not reply.LastMsgKey:
                return
            max_time, last_key = reply.LastMsgTime, reply.LastMsgKey

    def _covered(self, since: int | None) -> bool:
        """Whether the archive holds the thread from ``since`` on; without ``since``, from its
        start: a group whose earliest archived entry is its creation (a one-to-one chat has no such
        start: Tencent's roaming history may hold older messages than the archive's first)."""
        if self._history is None:
            return False
        covers = self._history.covers(self.thread_id)
        if covers is None:
            return False
        if since is not None:
            return covers <= since
        if self.kind != "group":
            return False
        first = self._history.page(self.thread_id, page_size=1, newest_first=False).entries
        return bool(first) and first[0].system is not None and first[0].system.type == "thread_created"

    def get_message(self, message_id: str) -> ChatMessage:
        return self._lookup(message_id)[0]

    def _lookup(self, message_id: str) -> tuple[ChatMessage, bool]:
        """The message, and whether its CloudCustomData is known (Tencent's group history does not
        return it, docs/protocol.md §11.2: then the message's metadata, display name and type are not known either)."""
        self._check_id(message_id)
        if self._history is not None and self._history.covers(self.thread_id) is not None:
            try:
                return from_history(self._history.get(self.thread_id, message_id)), True
            except LookupError:
                pass  # not archived (sent before the archive held the thread): ask Tencent
        if self.kind == "group":
            seq = parse_group_message_id(message_id, self.group_id)
            for item in self._group_history(seq, 1):
                if item.MsgSeq == seq and item.IsPlaceMsg in (0, 2):
                    return self._from_group(item), item.CloudCustomData is not None
                break
            raise ChatMessageNotFound(message_id)
        key = parse_c2c_message_id(message_id)
        first, second = self.users
        now = int(self._clock())
        for message in self._roam(first, second, 0, now + LEASE_SECONDS, C2C_LOOKUP_PAGES):
            if message.MsgKey == key:
                return self._from_roam(message), True
        raise ChatMessageNotFound(message_id)

    def _check_id(self, message_id: str) -> None:
        if not isinstance(message_id, str):
            raise ChatMessageNotFound(str(message_id), "a message id is a string")
        if self.kind == "group":
            parse_group_message_id(message_id, self.group_id)
        else:
            parse_c2c_message_id(message_id)

    def _from_group(self, item: GroupHistoryMsg) -> ChatMessage:
        return chat_message(
            group_message_id(self.group_id, item.MsgSeq),
            sender=item.From_Account or None,
            time=item.MsgTimeStamp,
            body=item.MsgBody,
            cloud_custom_data=item.CloudCustomData,
            seq=item.MsgSeq,
            deleted=item.recalled,
        )

    def _from_roam(self, message: RoamMsg) -> ChatMessage:
        return chat_message(
            c2c_message_id(message.MsgKey),
            sender=message.From_Account,
            time=message.MsgTimeStamp,
            body=message.MsgBody,
            cloud_custom_data=message.CloudCustomData or None,
            seq=None,
            deleted=message.recalled,
        )

    def list_messages(
        self, results_per_page: int = 50, start_time: datetime | int | None = None
    ) -> ChatPaged[ChatMessagesPage]:
        """Newest first, from ``start_time`` on; edits, recalls (``deleted_on``) and, from the
        archive, system events. Read from the archive when it holds the thread from
        ``start_time`` (or from the start) on, else from Tencent's history APIs; each page's
        ``source`` says which. Tencent's group history has no CloudCustomData (docs/protocol.md §11.2): there, a
        message's metadata, display name, own type and edit time are unknown."""
        if not 1 <= results_per_page <= 100:
            raise InvalidChatRequest("pageSize", "pageSize: 1 to 100")
        since = to_seconds(start_time)

        def fetch(token: str | None) -> ChatMessagesPage:
            if token:
                state = decode_token(token, "messages", {"s", "t", "q", "m", "l"})
            else:
                state = {"s": "archive" if self._covered(since) else "tencent"}
            if state["s"] == "archive":
                return self._archive_page(results_per_page, since, state.get("t"))
            if self.kind == "group":
                return self._group_page(results_per_page, since, int(state["q"]) if "q" in state else None)
            max_time = int(state["m"]) if "m" in state else None
            return self._c2c_page(results_per_page, since, max_time, state.get("l"))

        return ChatPaged(fetch)

    def _archive_page(self, size: int, since: int | None, token: str | None) -> ChatMessagesPage:
        assert self._history is not None
        page = self._history.page(self.thread_id, start_time=since, page_size=size, next_token=token, newest_first=True)
        token = encode_token("messages", s="archive", t=page.next_token) if page.next_token else None
        return ChatMessagesPage(
            items=[from_history(entry) for entry in page.entries], source="archive", next_token=token
        )

    def _group_page(self, size: int, since: int | None, below: int | None) -> ChatMessagesPage:
        items: list[ChatMessage] = []
        last_seq: int | None = None
        done = False
        for item in self._group_history(below, (size + MAX_HISTORY_PAGE - 1) // MAX_HISTORY_PAGE):
            if since is not None and item.MsgTimeStamp < since:
                done = True
                break
            last_seq = item.MsgSeq
            if item.IsPlaceMsg in (0, 2):
                items.append(self._from_group(item))
            if len(items) >= size:
                break
        more = not done and last_seq is not None and last_seq > 1
        token = encode_token("messages", s="tencent", q=last_seq - 1) if more and last_seq else None
        return ChatMessagesPage(items=items, source="tencent", next_token=token)

    def _c2c_page(self, size: int, since: int | None, max_time: int | None, last_key: str | None) -> ChatMessagesPage:
        first, second = self.users
        until = max_time if max_time is not None else int(self._clock()) + LEASE_SECONDS
        if since is not None and since > until:
            # From a time still to come: nothing was sent then yet (Tencent takes no such range).
            return ChatMessagesPage(items=[], source="tencent", next_token=None)
        reply = self.rest.admin_getroammsg(
            AdminGetRoamMsgRequest(
                Operator_Account=first,
                Peer_Account=second,
                MaxCnt=size,
                MinTime=since or 0,
                MaxTime=until,
                LastMsgKey=last_key,
            )
        )
        messages = sorted(reply.MsgList, key=lambda m: (m.MsgTimeStamp, m.MsgSeq), reverse=True)
        more = not reply.Complete and reply.MsgList and reply.LastMsgKey
        token = encode_token("messages", s="tencent", m=reply.LastMsgTime, l=reply.LastMsgKey)
        return ChatMessagesPage(
            items=[self._from_roam(m) for m in messages], source="tencent", next_token=token if more else None
        )

    def update_message(
        self, message_id: str, content: str | None = None, metadata: dict[str, str] | None = None
    ) -> None:
        """Replaces the content (same type) and/or the metadata; the edit time goes with it."""
        if content is None and metadata is None:
            raise InvalidChatRequest("content", "give content or metadata to change")
        if content is not None and (not isinstance(content, str) or not content):
            raise InvalidChatRequest("content", "content: give the message's new text")
        metadata = _valid(_METADATA, metadata, "metadata")
        current, known = self._lookup(message_id)
        if current.deleted:
            raise ChatMessageNotFound(message_id, "the message was deleted")
        if not known and metadata is not None:
            raise InvalidChatRequest(
                "metadata",
                "metadata: this message's CloudCustomData is not known (the archive does not hold it, "
                "Tencent's group history does not return it), so its metadata cannot be changed without losing it",
            )
        body = None
        if content is not None:
            only = current.body[0] if len(current.body) == 1 else None
            if current.type == TEXT:
                body = outgoing_body(content, TEXT)
            elif isinstance(only, CustomElem):
                old = only.MsgContent
                body = [CustomElem(MsgContent=CustomContent(Data=content, Desc=old.Desc, Ext=old.Ext, Sound=old.Sound))]
            else:
                raise InvalidChatRequest("content", f"content: a {current.type} message cannot be edited here")
        custom_data = None  # not sent: Tencent keeps what a modification leaves out (docs/protocol.md §5.6)
        if known:
            fields = read_envelope(current.cloud_custom_data)
            if metadata is not None:
                fields["metadata"] = metadata or None
            fields["editedOn"] = int(self._clock())
            custom_data = dump_envelope({k: v for k, v in fields.items() if v is not None}, current.cloud_custom_data)
        try:
            if self.kind == "group":
                seq = parse_group_message_id(message_id, self.group_id)
                self.rest.modify_group(
                    ModifyGroupMsgRequest(GroupId=self.group_id, MsgSeq=seq, MsgBody=body, CloudCustomData=custom_data)
                )
            else:
                sender = current.sender or self.users[0]
                self.rest.modify_c2c(
                    ModifyC2CMsgRequest(
                        From_Account=sender,
                        To_Account=self._peer(sender, "sender"),
                        MsgKey=parse_c2c_message_id(message_id),
                        MsgBody=body,
                        CloudCustomData=custom_data,
                    )
                )
        except TimApiError as exc:
            self._group_missing(exc)
            raise

    def delete_message(self, message_id: str) -> None:
        """Recalls the message for everyone (Tencent's recall: the body is gone, a placeholder stays)."""
        self._check_id(message_id)
        if self.kind == "group":
            seq = parse_group_message_id(message_id, self.group_id)
            try:
                reply = self.rest.group_msg_recall(self.group_id, [seq])
            except TimApiError as exc:
                self._group_missing(exc)
                raise
            if (code := reply.failed.get(seq)) is not None:
                if code == GROUP_RECALL_MSG_MISSING:
                    raise ChatMessageNotFound(message_id)
                raise TimApiError("group_open_http_svc/group_msg_recall", code, f"message {seq} not recalled")
            return
        current = self.get_message(message_id)
        sender = current.sender or self.users[0]
        self.rest.admin_msgwithdraw(sender, self._peer(sender, "sender"), parse_c2c_message_id(message_id))

    # ------------------------------------------------------------------ read receipts, typing

    def send_read_receipt(self, message_id: str, reader: str) -> None:
        """Group: Tencent's read receipt for the message on ``reader``'s behalf (group_msg_receipt:
        the app must have group read receipts switched on, docs/protocol.md §11.3). One-to-one: marks ``reader``'s
        side of the conversation read up to the message's time (admin_set_msg_read, §12.3)."""
        reader = _valid(_USER, reader, "reader")
        self._check_id(message_id)
        if self.kind == "group":
            seq = parse_group_message_id(message_id, self.group_id)
            try:
                self.rest.group_msg_receipt(self.group_id, reader, [seq])
            except TimApiError as exc:
                self._group_missing(exc)
                raise
            return
        peer = self._peer(reader, "reader")
        message = self.get_message(message_id)
        self.rest.admin_set_msg_read(reader, peer, int(message.created_on.timestamp()))

    def list_read_receipts(self, results_per_page: int = 20) -> ChatPaged[ChatReadReceiptsPage]:
        """For each reader, the newest message they have read (``read_on`` where it is known).

        Group: Tencent's receipts for the thread's newest ``results_per_page`` messages
        (get_group_msg_receipt, then who read each). One-to-one: the read marks the archive
        recorded (read reports, admin_set_msg_read) when it holds the thread, else Tencent's
        ``IsPeerRead`` flags (set by clients' message receipts only)."""
        if not 1 <= results_per_page <= MAX_HISTORY_PAGE:
            raise InvalidChatRequest("pageSize", f"pageSize: 1 to {MAX_HISTORY_PAGE}")
        if self.kind == "group":
            return ChatPaged(lambda token: self._group_receipts(results_per_page))
        return ChatPaged(lambda token: self._c2c_receipts())

    def _group_receipts(self, size: int) -> ChatReadReceiptsPage:
        seqs = [item.MsgSeq for item in self._group_history(None, 1) if item.IsPlaceMsg == 0][:size]
        receipts: dict[str, ChatMessageReadReceipt] = {}
        if seqs:
            counts = self.rest.get_group_msg_receipt(self.group_id, seqs).GroupMsgReceiptList
            for info in sorted(counts, key=lambda i: i.MsgSeq, reverse=True):
                if info.Code == GROUP_RECEIPT_MISSING or info.Code or not info.ReadNum:
                    continue
                cursor = ""
                while True:
                    detail = self.rest.get_group_msg_receipt_detail(self.group_id, info.MsgSeq, cursor=cursor)
                    for read in detail.ReadList:
                        receipts.setdefault(
                            read.Read_Account,
                            ChatMessageReadReceipt(
                                sender=read.Read_Account, chat_message_id=group_message_id(self.group_id, info.MsgSeq)
                            ),
                        )
                    if detail.IsFinished or not detail.Cursor:
                        break
                    cursor = detail.Cursor
        return ChatReadReceiptsPage(items=list(receipts.values()), source="tencent")

    def _c2c_receipts(self) -> ChatReadReceiptsPage:
        first, second = self.users
        # Read marks do not need the whole conversation archived, only the reports since.
        if self._history is not None and self._history.covers(self.thread_id) is not None:
            page = self._history.page(self.thread_id, page_size=100, newest_first=True)
            receipts = []
            for reader, read_time in page.read_marks.items():
                token: str | None = None
                current = page
                while True:
                    entry = next(
                        (
                            e
                            for e in current.entries
                            if e.kind == "message" and e.sender != reader and e.time <= read_time
                        ),
                        None,
                    )
                    if entry is not None:
                        receipts.append(
                            ChatMessageReadReceipt(sender=reader, chat_message_id=entry.id, read_on=to_time(read_time))
                        )
                        break
                    token = current.next_token
                    if not token:
                        break
                    current = self._history.page(self.thread_id, page_size=100, next_token=token, newest_first=True)
            return ChatReadReceiptsPage(items=receipts, source="archive")
        receipts_by_reader: dict[str, ChatMessageReadReceipt] = {}
        now = int(self._clock())
        for message in self._roam(first, second, 0, now + LEASE_SECONDS, 1):
            if message.IsPeerRead and message.To_Account not in receipts_by_reader:
                receipts_by_reader[message.To_Account] = ChatMessageReadReceipt(
                    sender=message.To_Account, chat_message_id=c2c_message_id(message.MsgKey)
                )
        return ChatReadReceiptsPage(items=list(receipts_by_reader.values()), source="tencent")

    def send_typing_notification(self, sender: str) -> None:
        """One-to-one: an online-only custom message (not stored, no unread, not the last message),
        as Tencent advises for typing (docs/protocol.md §12.5). Groups: refused, no Tencent client shows one."""
        sender = _valid(_USER, sender, "sender")
        if self.kind == "group":
            raise NotSupportedByTencent(
                "send_typing_notification",
                "Tencent IM shows typing notices in one-to-one chats only (TUIKit has none for groups)",
                "send an online-only custom message of your own (POST /admin/messages with onlineOnly) "
                "if your clients show one",
            )
        peer = self._peer(sender, "sender")
        self.rest.send_c2c(
            SendMsgRequest(
                From_Account=sender,
                To_Account=peer,
                MsgRandom=secrets.randbits(32),
                MsgLifeTime=0,
                MsgBody=[CustomElem(MsgContent=CustomContent(Data=TYPING_DATA))],
                SendMsgControl=["NoUnread", "NoLastMsg"],
            )
        )
