"""Merger (merged-forward) storage with a download flow (protocol §7).

Tencent's own long-message store is internal to its client SDKs, so the app keeps its own: a
client uploads a merger's message list, gets a ``downloadKey`` and a small ``TIMRelayElem``
carrying it to send; the conversation's members download the list with the key. Inline mergers
that arrive in after-send callbacks are captured under a key derived, with a secret, from the
message identity and the merger itself (the archive records it with the message).

Who may read a merger: its uploader, and the destination conversation's members (the C2C peer,
or the group's members as Tencent lists them). Anyone else, like an unknown or expired key, gets
:class:`MergerNotFound`: the API says nothing about keys that exist.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pydantic_core

from timkit.config import Settings
from timkit.models.callbacks import BotC2CMessage, C2CAfterSend, CallbackRequest, GroupAfterSend
from timkit.models.elements import RelayElem, RelayMessage
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
from timkit.stores.mergers import MergerMeta, MergerStore
from timkit.tim.errors import GROUP_MISSING_CODES, TimApiError
from timkit.tim.rest import TimRestClient

# 192 bits of randomness in every uploaded key.
KEY_BYTES = 24
# Longer than any key this service makes; refused before S3 or DynamoDB see it (their key limits).
MAX_KEY_CHARS = 128
DOWNLOAD_URL_SECONDS = 300
MEMBERSHIP_CACHE_SECONDS = 60


class MergerNotFound(Exception):
    """Unknown, expired, or not the caller's to read: one answer for all three."""


class NotJson(ValueError):
    """An upload body that is not JSON."""


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


class GroupMembers:
    """Group membership from Tencent, cached briefly per group (a download should not cost a
    member listing each time, and a removed member loses access within a minute)."""

    def __init__(
        self,
        list_members: Callable[[str], Iterable[str]],
        ttl: float = MEMBERSHIP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._list = list_members
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group_id: str, user: str) -> bool:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is None or cached[0] <= now:
            cached = (now + self._ttl, frozenset(self._list(group_id)))
            with self._lock:
                self._cache[group_id] = cached
        return user in cached[1]


def tencent_members(rest: Callable[[], TimRestClient]) -> Callable[[str], list[str]]:
    """A group's members as Tencent lists them (for :class:`GroupMembers`); none for a group that
    does not exist or is gone."""

    def members(group_id: str) -> list[str]:
        try:
            return [member.Member_Account for member in rest().iter_group_members(group_id)]
        except TimApiError as exc:
            if exc.error_code in GROUP_MISSING_CODES:
                return []
            raise

    return members


@dataclass(frozen=True)
class InlineDocument:
    json: bytes


class MergerService:
    def __init__(
        self,
        store: MergerStore,
        retention_days: int,
        is_member: Callable[[str, str], bool] | None = None,
        inline_max_bytes: int = Settings.model_fields["MERGER_INLINE_MAX_BYTES"].default,
        clock: Callable[[], float] = time.time,
        new_key: Callable[[], str] = lambda: secrets.token_urlsafe(KEY_BYTES),
    ) -> None:
        self.store = store
        self._retention = retention_days * 86400
        self._is_member = is_member
        self._inline_max = inline_max_bytes
        self._clock = clock
        self._new_key = new_key

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
        found = nesting(upload.messageList)
        levels = found.levels
        for nested_key, at_level in found.keys:
            meta = self._readable(uploader, nested_key)
            if meta is None:
                raise UnknownNestedKey(
                    f"messageList references a merger that does not exist or is not yours: {nested_key}"
                )
            levels = max(levels, at_level + meta.levels)
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
        fetched = self.store.fetch(key, self._inline_max) if len(key) <= MAX_KEY_CHARS else None
        if fetched is None or not self._may_read(caller, fetched[0]):
            raise MergerNotFound(key)
        meta, document = fetched
        if meta.layers_over_limit:
            # §7.4: past 100 levels the title and abstracts come back empty and the list is withheld.
            withheld = MergerDocument(
                title="", abstractList=[], compatibleText="", messageList=[], layersOverLimit=True
            )
            return InlineDocument(withheld.model_dump_json().encode())
        if document is None:
            url = self.store.download_url(key, DOWNLOAD_URL_SECONDS)
            return DownloadLink(downloadUrl=url, expiresIn=DOWNLOAD_URL_SECONDS)
        return InlineDocument(document)

    def _readable(self, caller: str, key: str) -> MergerMeta | None:
        meta = self.store.meta(key) if len(key) <= MAX_KEY_CHARS else None
        return meta if meta is not None and self._may_read(caller, meta) else None

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
            if isinstance(elem, RelayElem) and elem.MsgContent.MsgList is not None:
                key = captured_key(secret(), message.identity, index, elem)
                keys[index] = key
                if self.store.meta(key) is not None:
                    continue  # a repeated delivery: storing again would restart its retention
                content = elem.MsgContent
                document = MergerDocument(
                    title=content.Title,
                    abstractList=content.AbstractList,
                    compatibleText=content.CompatibleText,
                    messageList=content.MsgList,
                )
                # Tencent delivered it: its limits held; count its levels without refusing it.
                levels = _levels(content.MsgList)
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
            key=key, uploader=uploader, kind=kind, conversation=conversation,
            msg_count=len(document.messageList), levels=levels, layers_over_limit=over,
            size_bytes=len(raw), created_at=now, expires_at=now + self._retention, source=source,
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
