"""The merger API's models: an upload (a merged-forward message list, docs/protocol.md §7.1 wire shape) and what a
download returns (the Web SDK's ``MergerPayload`` names, §7.2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from timkit.models.elements import (
    MAX_BODY_BYTES,
    MsgElement,
    RelayContent,
    RelayElem,
    RelayMessage,
    Wire,
    body_size,
    strictly,
)

# docs/protocol.md §7.2 / §7.4: the client SDKs merge at most 300 messages and nest at most 100 levels.
MAX_MESSAGES = 300
MAX_LEVELS = 100
# The reference gives no number for abstracts; these keep the TIMRelayElem that carries the key
# (title + abstracts + compatible text) far inside Tencent's 12 KB body limit.
MAX_ABSTRACTS = 10
MAX_ABSTRACT_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_COMPATIBLE_TEXT_CHARS = 500
# What a synchronous Lambda invocation takes is 6 MB, event envelope included.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class Conversation(BaseModel):
    """Where the merger is sent: a C2C peer or a group. Its members may download it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["c2c", "group"]
    id: Annotated[str, Field(min_length=1, max_length=48)]


class MergerUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation: Conversation
    title: Annotated[str, Field(max_length=MAX_TITLE_CHARS)] = ""
    abstractList: Annotated[
        list[Annotated[str, Field(max_length=MAX_ABSTRACT_CHARS)]], Field(max_length=MAX_ABSTRACTS)
    ] = Field(default_factory=list)
    compatibleText: Annotated[str, Field(min_length=1, max_length=MAX_COMPATIBLE_TEXT_CHARS)]
    messageList: Annotated[
        Annotated[list[RelayMessage], Field(min_length=1, max_length=MAX_MESSAGES)],
        strictly(Annotated[list[RelayMessage], Field(min_length=1, max_length=MAX_MESSAGES)]),
    ]


class MergerDocument(BaseModel):
    """What is stored and what a download returns."""

    title: str = ""
    abstractList: list[str] = Field(default_factory=list)
    compatibleText: str = ""
    messageList: list[RelayMessage] = Field(default_factory=list)
    layersOverLimit: bool = False


class UploadResult(BaseModel):
    downloadKey: str
    expiresAt: int
    # Ready to send: a TIMRelayElem carrying the key instead of the list (fits in 12 KB).
    relayElem: dict[str, Any]


class DownloadLink(BaseModel):
    """A list too large to return through Lambda: a plain GET of ``downloadUrl`` (short-lived)
    returns the same document an inline download would."""

    downloadUrl: str
    expiresIn: int


def relay_elem(upload: MergerUpload, key: str) -> RelayElem:
    return RelayElem(
        MsgContent=RelayContent(
            Title=upload.title,
            MsgNum=len(upload.messageList),
            CompatibleText=upload.compatibleText,
            AbstractList=upload.abstractList,
            JsonMsgKey=key,
        )
    )


def relay_fits(elem: RelayElem) -> bool:
    return body_size([elem]) <= MAX_BODY_BYTES


def nested(body: list[MsgElement]) -> list[RelayElem]:
    return [elem for elem in body if isinstance(elem, RelayElem)]


class LimitExceeded(ValueError):
    """An upload over one of the limits above; ``limit`` names it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def raw_levels(document: object) -> int:
    """Inline nesting levels of an upload still in decoded JSON, counted without recursion, so
    that a too-deep upload is refused by name before validation (which recurses) sees it."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document.get("messageList") if isinstance(document, dict) else None, 1)]
    while stack:
        messages, level = stack.pop()
        if not isinstance(messages, list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_LEVELS:
            break
        for message in messages:
            body = message.get("MsgBody") if isinstance(message, dict) else None
            for elem in body if isinstance(body, list) else ():
                content = elem.get("MsgContent") if isinstance(elem, dict) else None
                if isinstance(content, dict) and elem.get("MsgType") == "TIMRelayElem":
                    stack.append((content.get("MsgList"), level + 1))
    return deepest


class Nesting(Wire):
    """How deep a list nests (1 for a flat list) and the stored mergers it references by key."""

    levels: int = 1
    # (key, the level its TIMRelayElem sits at)
    keys: list[tuple[str, int]] = Field(default_factory=list)


def nesting(messages: list[RelayMessage]) -> Nesting:
    """Walk the inline mergers at every depth; each level holds at most 300 messages."""
    deepest, keys = 1, []
    stack: list[tuple[list[RelayMessage], int]] = [(messages, 1)]
    while stack:
        current, level = stack.pop()
        if len(current) > MAX_MESSAGES:
            raise LimitExceeded(
                "messages", f"a merger at level {level} holds {len(current)} messages; at most {MAX_MESSAGES}"
            )
        deepest = max(deepest, level)
        for message in current:
            for relay in nested(message.MsgBody):
                if relay.MsgContent.MsgList is not None:
                    stack.append((relay.MsgContent.MsgList, level + 1))
                elif relay.MsgContent.JsonMsgKey:
                    keys.append((relay.MsgContent.JsonMsgKey, level))
    if deepest > MAX_LEVELS:
        raise LimitExceeded("levels", f"messageList nests {deepest} levels; at most {MAX_LEVELS}")
    return Nesting(levels=deepest, keys=keys)
