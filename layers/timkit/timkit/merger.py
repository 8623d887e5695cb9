"""Merger (merged-forward) storage with a download flow (docs/protocol.md §7).

Tencent's own long-message store is internal to its client SDKs, so the app keeps its own: a
client uploads a merger's message list, gets a ``downloadKey`` and a small ``TIMRelayElem``
carrying it to send; the conversation's members download the list with the key. Inline mergers
that arrive in after-send callbacks are captured under a key derived, with a secret, from the
message identity and the merger itself (the archive records it with the message).

Who may read a merger: its uploader, and the destination conversation's members (the C2C peer,
or a member of the group as Tencent reports the caller's role in it). Anyone else, like an unknown
or expired key, gets :class:`MergerNotFound`: the API says nothing about keys that exist, and
decides from the merger's metadata before any of its list is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic_core
from aws_lambda_powertools.shared.cache_dict import LRUDict
from pydantic import TypeAdapter, ValidationError

from timkit.config import MergerApiSettings
from timkit.keys import KeyNotConfigured
from timkit.models.callbacks import BotC2CMessage, C2CAfterSend, CallbackRequest, GroupAfterSend
from timkit.models.elements import RelayContent, RelayElem, RelayMessage
from timkit.models.merger import (
    MAX_LEVELS,
    MAX_UPLOAD_BYTES,
    DownloadLink,
    LimitExceeded,
    MergerDocument,
    MergerUpload,
    UploadResult,
    nesting,
    raw_levels,
    relay_elem,
    relay_fits,
)
from timkit.models.rest import UserId
from timkit.policy import Policy
from timkit.stores.mergers import MergerMeta, MergerStore
from timkit.tim.errors import GROUP_MISSING_CODES, TimApiError, TimError
from timkit.tim.rest import TimRestClient

# 192 bits of randomness in every uploaded key.
KEY_BYTES = 24
# Every key this service makes (token_urlsafe uploads, "m" + hex captures) and nothing else: a
# key outside it is unknown without asking S3 or DynamoDB, which would refuse some (lone
# surrogates, over-long keys) with an error rather than "not found".
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
DOWNLOAD_URL_SECONDS = 300
# Stored mergers one upload may reference by key: a list holds at most 300 messages, so one key per
# message of the top level is the most a forward of forwards needs. Beyond it an upload would cost
# lookups out of proportion to what it stores.
MAX_NESTED_KEYS = 300
MEMBERSHIP_CACHE_SECONDS = 60
# Answers one warm instance remembers, each a (group, user) pair of at most 80 bytes of IDs: a few
# MB at most, and more readers than an instance serves within the minute an answer is kept.
MEMBERSHIP_CACHE_ENTRIES = 10_000
# Tencent's roles (get_role_in_group: https://www.tencentcloud.com/document/product/1047/34963);
# anything else, "NotMember" included, is not a member.
MEMBER_ROLES = frozenset({"Owner", "Admin", "Member"})
# No member to be: the group is missing or gone (GROUP_MISSING_CODES), or Tencent will not tell
# roles in it (10007: the lookup does not serve AVChatRoom groups). Only the uploader reads those.
NOT_MEMBER_CODES = GROUP_MISSING_CODES | {10007}
_USER_ID: TypeAdapter[str] = TypeAdapter(UserId)


class MergerNotFound(Exception):
    """Unknown, expired, or not the caller's to read: one answer for all three."""


class MembershipUnavailable(Exception):
    """Tencent could not say whether the caller is in the merger's group (an error or no usable
    answer): nothing is decided, the caller may try again later."""

    def __init__(self, group_id: str, reason: str) -> None:
        super().__init__(f"membership of {group_id} cannot be checked: {reason}")


class NotJson(ValueError):
    """An upload body that is not JSON."""


class BlockedContent(ValueError):
    """An upload holding a word the app's moderation policy blocks."""


class UnknownNestedKey(ValueError):
    """The list references a stored merger that does not exist or the uploader may not read."""


def captured_key(secret: bytes, identity: str, index: int, element: RelayElem) -> str:
    """The key an inline merger from a callback is stored under: an HMAC, keyed with the capture
    secret, of the message ``identity``, the element's ``index`` and the element's content. A key
    made of public values alone (group id and seq) could be guessed, and a body posted first under
    it would be the one kept; with the content in it, another body captures under other keys."""
    plain = element.model_dump(mode="json", exclude_unset=True)
    content = hashlib.sha256(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return "m" + hmac.new(secret, json.dumps([identity, index, content]).encode(), hashlib.sha256).hexdigest()[:40]


class GroupMembership:
    """Whether a user is in a group, asked of Tencent for that user alone (one role lookup, however
    large the group) and remembered per (group, user) for ``ttl`` seconds: a download should not
    cost a lookup each time, and a removed member loses access within a minute. The least recently
    used answers make way past ``max_entries``. Tencent's error or silence is
    :class:`MembershipUnavailable`, never a guess either way."""

    def __init__(
        self,
        rest: Callable[[], TimRestClient],
        ttl: float = MEMBERSHIP_CACHE_SECONDS,
        max_entries: int = MEMBERSHIP_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self._ttl = ttl
        self._clock = clock
        self._cache: LRUDict = LRUDict(max_items=max_entries)
        self._lock = threading.Lock()

    def __call__(self, group_id: str, user: str) -> bool:
        key = (group_id, user)
        now = self._clock()
        with self._lock:
            cached: tuple[float, bool] | None = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        member = self._ask(group_id, user)
        with self._lock:
            self._cache[key] = (now + self._ttl, member)
        return member

    def _ask(self, group_id: str, user: str) -> bool:
        try:
            _USER_ID.validate_python(user)
        except ValidationError:
            return False  # not a UserID Tencent accepts: no such account, so in no group
        try:
            roles = self._rest().roles_in_group(group_id, [user])
        except TimApiError as exc:
            if exc.error_code in NOT_MEMBER_CODES:
                return False
            raise MembershipUnavailable(group_id, str(exc)) from exc
        except KeyNotConfigured:
            raise  # its own 503, naming the setting
        except TimError as exc:
            raise MembershipUnavailable(group_id, str(exc)) from exc
        except ValidationError:
            raise MembershipUnavailable(group_id, "the answer is not in the documented shape") from None
        return roles.get(user) in MEMBER_ROLES


@dataclass(frozen=True)
class InlineDocument:
    json: bytes


class MergerService:
    def __init__(
        self,
        store: MergerStore,
        retention_days: int,
        is_member: Callable[[str, str], bool] | None = None,
        inline_max_bytes: int = MergerApiSettings.model_fields["MERGER_INLINE_MAX_BYTES"].default,
        clock: Callable[[], float] = time.time,
        new_key: Callable[[], str] = lambda: secrets.token_urlsafe(KEY_BYTES),
        policy: Callable[[], Policy] | None = None,
    ) -> None:
        self.store = store
        self._retention = retention_days * 86400
        self._is_member = is_member
        self._inline_max = inline_max_bytes
        self._clock = clock
        self._new_key = new_key
        # The before-send policy: its blocked words apply to uploads too. The callback only ever
        # sees the TIMRelayElem that carries the key, never the messages behind it.
        self._policy = policy

    # ------------------------------------------------------------------ upload

    def upload_json(self, uploader: str, raw: bytes) -> UploadResult:
        """An upload as the request body carries it. :class:`NotJson`, :class:`LimitExceeded` or
        pydantic's ValidationError say what is wrong with it."""
        if len(raw) > MAX_UPLOAD_BYTES:
            raise LimitExceeded("size", f"the upload is {len(raw)} bytes; at most {MAX_UPLOAD_BYTES}")
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # Unicode and JSON errors are ValueErrors
            raise NotJson(f"the body is not JSON ({type(exc).__name__})") from None
        # Counted before validation, which recurses and would fail on depth with a less useful error.
        if (levels := raw_levels(document)) > MAX_LEVELS:
            raise LimitExceeded("levels", f"messageList nests more than {MAX_LEVELS} levels ({levels} seen)")
        # The list is stored as it came: the validated models would serialise back to the same JSON, only slower.
        return self.upload(uploader, MergerUpload.model_validate(document), document.get("messageList"))

    def upload(self, uploader: str, upload: MergerUpload, received: list[Any] | None = None) -> UploadResult:
        """``received``: the upload's messageList as decoded from the request, stored as it came."""
        if self._policy is not None:
            card = RelayContent(
                Title=upload.title,
                AbstractList=upload.abstractList,
                CompatibleText=upload.compatibleText,
                MsgList=upload.messageList,
            )
            if self._policy().blocks([RelayElem(MsgContent=card)]):
                raise BlockedContent("the merger holds text the app's moderation policy blocks")
        found = nesting(upload.messageList)
        levels = max(found.levels, self._levels_by_key(uploader, found.keys))
        key = self._new_key()
        elem = relay_elem(upload, key)
        if not relay_fits(elem):
            raise LimitExceeded("relay", "title, abstractList and compatibleText do not fit in a 12 KB message")
        document = MergerDocument(
            title=upload.title,
            abstractList=upload.abstractList,
            compatibleText=upload.compatibleText,
            messageList=upload.messageList,
        )
        meta = self._store(
            key, uploader, upload.conversation.kind, upload.conversation.id, document, levels, "upload", received
        )
        return UploadResult(
            downloadKey=key, expiresAt=meta.expires_at, relayElem=elem.model_dump(mode="json", exclude_none=True)
        )

    # ------------------------------------------------------------------ download

    def download(self, caller: str, key: str) -> InlineDocument | DownloadLink:
        # An unknown key and a key the caller may not read cost the same: one GET whose list is
        # read only once the metadata that came with it says the caller may read it.
        opened = self.store.open(key) if KEY_PATTERN.fullmatch(key) else None
        if opened is None:
            raise MergerNotFound(key)
        with opened:
            meta = opened.meta
            if not self._may_read(caller, meta):
                raise MergerNotFound(key)
            if meta.layers_over_limit:
                # docs/protocol.md §7.4: past 100 levels the title and abstracts come back empty and the list is
                # withheld.
                withheld = MergerDocument(
                    title="", abstractList=[], compatibleText="", messageList=[], layersOverLimit=True
                )
                return InlineDocument(withheld.model_dump_json().encode())
            if meta.size_bytes > self._inline_max:
                url = self.store.download_url(key, DOWNLOAD_URL_SECONDS)
                return DownloadLink(downloadUrl=url, expiresIn=DOWNLOAD_URL_SECONDS)
            return InlineDocument(opened.read())

    def _levels_by_key(self, uploader: str, keys: list[tuple[str, int]]) -> int:
        """The levels the stored mergers an upload references by key add (0 for none); each must be
        one the uploader may read. Each key is looked up once, all of them in batches."""
        deepest: dict[str, int] = {}
        for key, at_level in keys:
            deepest[key] = max(deepest.get(key, 0), at_level)
        if len(deepest) > MAX_NESTED_KEYS:
            raise LimitExceeded(
                "nested_keys", f"messageList references {len(deepest)} stored mergers by key; at most {MAX_NESTED_KEYS}"
            )
        metas = self.store.metas([key for key in deepest if KEY_PATTERN.fullmatch(key)])
        levels = 0
        for key, at_level in deepest.items():
            meta = metas.get(key)
            if meta is None or not self._may_read(uploader, meta):
                raise UnknownNestedKey(f"messageList references a merger that does not exist or is not yours: {key}")
            levels = max(levels, at_level + meta.levels)
        return levels

    def _may_read(self, caller: str, meta: MergerMeta) -> bool:
        if meta.expires_at <= self._clock():
            return False
        if caller == meta.uploader or (meta.kind == "c2c" and caller == meta.conversation):
            return True
        return meta.kind == "group" and self._is_member is not None and self._is_member(meta.conversation, caller)

    # ------------------------------------------------------------------ capture

    def capture(self, message: CallbackRequest, secret: Callable[[], bytes]) -> dict[int, str]:
        """Store every inline merger of a delivered message; their keys (stored now or before) by
        element index. Other callbacks (before-send, modify, recall...) carry no message delivered:
        none. ``secret`` gives the capture secret (see :func:`captured_key`), asked for only when
        there is a merger to capture."""
        if not isinstance(message, C2CAfterSend | BotC2CMessage | GroupAfterSend):
            return {}
        if isinstance(message, GroupAfterSend):
            kind, conversation = "group", message.GroupId
        else:
            kind, conversation = "c2c", message.To_Account
        keys: dict[int, str] = {}
        for index, elem in enumerate(message.MsgBody):
            if isinstance(elem, RelayElem) and (messages := elem.MsgContent.MsgList) is not None:
                key = captured_key(secret(), message.identity, index, elem)
                keys[index] = key
                if self.store.meta(key) is not None:
                    continue  # a repeated delivery: storing again would restart its retention
                content = elem.MsgContent
                document = MergerDocument(
                    title=content.Title,
                    abstractList=content.AbstractList,
                    compatibleText=content.CompatibleText,
                    messageList=messages,
                )
                # Tencent delivered it: its limits held; count its levels without refusing it.
                levels = _levels(messages)
                self._store(key, message.From_Account, kind, conversation, document, levels, "callback")
        return keys

    def _store(
        self,
        key: str,
        uploader: str,
        kind: str,
        conversation: str,
        document: MergerDocument,
        levels: int,
        source: str,
        received: list[Any] | None = None,
    ) -> MergerMeta:
        over = levels > MAX_LEVELS
        # The forwarded messages go out as they came in: only the fields they had.
        if received is None:
            update = {"layersOverLimit": over}
            plain = document.model_copy(update=update).model_dump(mode="json", exclude_unset=True)
        else:
            plain = document.model_dump(mode="json", exclude_unset=True, exclude={"messageList"})
            plain.update(messageList=received, layersOverLimit=over)
        raw = _compact_json(plain)
        now = int(self._clock())
        meta = MergerMeta(
            key=key,
            uploader=uploader,
            kind=kind,
            conversation=conversation,
            msg_count=len(document.messageList),
            levels=levels,
            layers_over_limit=over,
            size_bytes=len(raw),
            created_at=now,
            expires_at=now + self._retention,
            source=source,
        )
        self.store.put(meta, raw)
        return meta


def _compact_json(document: dict[str, Any]) -> bytes:
    """UTF-8 compact JSON, non-ASCII as is. pydantic-core's encoder is four times faster than the
    standard one but stops near 250 nested arrays and objects (about 45 merger levels): what it
    refuses goes through the standard encoder, which also finds text that is not valid Unicode."""
    try:
        return pydantic_core.to_json(document)
    except pydantic_core.PydanticSerializationError:
        pass
    try:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        raise LimitExceeded("text", "messageList holds text that is not valid Unicode") from None


def _levels(messages: list[RelayMessage]) -> int:
    try:
        return nesting(messages).levels
    except LimitExceeded:
        return MAX_LEVELS + 1
