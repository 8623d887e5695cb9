"""The WebSocket gateway's JSON frames (README "WebSocket gateway").

A client frame::

    {"type": "single", "source": "alice", "target": "bob", "msgType": "text", "extra": {...},
     "msg": {"msgId": 1, "timestamp": 1611065986, "content": "hi"}}

``type`` is ``single`` (one-to-one), ``group`` (a group message), ``join`` or ``leave`` (the
source joins or leaves the group ``target``); ``source`` and ``target`` are user or group ids, as
strings or as whole numbers (a number is the id of its decimal digits); ``msgType`` is ``text`` by
default or any kind of the app's own; ``extra`` is any JSON; ``msg`` has the client's ``msgId``
(a string or a whole number), a ``timestamp`` (Unix seconds; messages only) and the content
(``content``, a string, for text; any fields for other kinds). Unknown top-level fields are
ignored. Every frame is answered with an :class:`Ack` carrying its ``msgId``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

# The largest frame taken, in bytes of its UTF-8 text: Tencent's limit for a message body
# (docs/protocol.md §6.2), so that a frame within it normally fits in one message; API Gateway's
# own limits are larger (docs/protocol.md §14).
MAX_FRAME_BYTES = 12 * 1024
FRAME_TYPES = ("single", "group", "join", "leave")
MESSAGE_TYPES = frozenset({"single", "group"})
TEXT = "text"
# An id as a client writes it: a non-empty string or a whole number (not a bool, not 1.0). The
# largest Tencent id is a 48-byte group id (docs/protocol.md §10.1); user ids are 32 bytes at most,
# which Tencent itself checks.
MAX_ID_BYTES = 48
Id = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_BYTES)] | Annotated[StrictInt, Field(ge=0)]
MsgId = Annotated[StrictStr, Field(min_length=1, max_length=64)] | StrictInt
MsgTypeName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,32}$")]

# Error codes of an error acknowledgement (README "WebSocket gateway").
NOT_JSON = "not_json"
TOO_LARGE = "too_large"
UNKNOWN_TYPE = "unknown_type"
MALFORMED = "malformed"


def tencent_id(value: str | int) -> str:
    """The Tencent id a frame's id names."""
    return value if isinstance(value, str) else str(value)


class FrameMsg(BaseModel):
    """``msg``: the client's id and time of the frame, and the content in fields of any name."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    msgId: MsgId
    timestamp: Annotated[StrictInt, Field(ge=0)] | None = None

    def content(self) -> dict[str, Any]:
        """The fields beyond msgId and timestamp, as the client sent them."""
        return dict(self.__pydantic_extra__ or {})


class Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    type: Literal["single", "group", "join", "leave"]
    source: Id
    target: Id
    msgType: MsgTypeName = TEXT
    extra: JsonValue = None
    msg: FrameMsg

    @model_validator(mode="after")
    def _messages_are_complete(self) -> Frame:
        if self.type in MESSAGE_TYPES:
            if self.msg.timestamp is None:
                raise ValueError("msg.timestamp: a message needs its timestamp (Unix seconds)")
            text = self.msg.content().get("content")
            if self.msgType == TEXT and not (isinstance(text, str) and text):
                raise ValueError("msg.content: a text message needs its text (a non-empty string)")
        return self

    def wire(self) -> dict[str, Any]:
        """The frame as JSON values, without the fields that were left out."""
        dumped: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True)
        return dumped


class Ack(BaseModel):
    """The answer to every frame: ``ok`` with Tencent's message id (messages) or an error ``code``
    and ``message`` (``tencentCode`` when Tencent refused it)."""

    model_config = ConfigDict(defer_build=True)

    type: Literal["ack"] = "ack"
    msgId: str | int | None
    ok: bool
    messageId: str | None = None
    code: str | None = None
    message: str | None = None
    tencentCode: int | None = None

    def text(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        # msgId stays in every answer, null when the frame had none that could be read: a client
        # matches answers on it.
        data["msgId"] = self.msgId
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class FrameError(ValueError):
    """A frame the gateway refuses; ``code`` says why (NOT_JSON, TOO_LARGE, UNKNOWN_TYPE, MALFORMED...)."""

    def __init__(self, code: str, message: str, msg_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.msg_id = msg_id

    def ack(self) -> Ack:
        return Ack(msgId=self.msg_id, ok=False, code=self.code, message=self.message)


def ok(msg_id: str | int, message_id: str | None = None) -> Ack:
    return Ack(msgId=msg_id, ok=True, messageId=message_id)


def parse_frame(raw: str | bytes) -> Frame:
    """A client frame, or :class:`FrameError` naming what is wrong (the msgId, when one can be read)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_FRAME_BYTES:
        raise FrameError(TOO_LARGE, f"a frame is at most {MAX_FRAME_BYTES} bytes; this one is {len(data)}")
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise FrameError(NOT_JSON, "a frame is a JSON object") from None
    if not isinstance(value, dict):
        raise FrameError(NOT_JSON, "a frame is a JSON object")
    msg_id = _readable_msg_id(value)
    if value.get("type") not in FRAME_TYPES:
        shown = json.dumps(value["type"])[:40] if "type" in value else "missing"
        raise FrameError(UNKNOWN_TYPE, f"type must be one of {', '.join(FRAME_TYPES)}, not {shown}", msg_id)
    try:
        return Frame.model_validate(value)
    except ValidationError as exc:
        raise FrameError(MALFORMED, _problem(exc), msg_id) from None


def msg_id_of(raw: str | bytes) -> str | int | None:
    """The msgId of a frame that is not read further (one refused for its rate), if it has one."""
    try:
        value = json.loads(raw) if len(raw) <= MAX_FRAME_BYTES else None
    except (ValueError, UnicodeDecodeError):
        return None
    return _readable_msg_id(value) if isinstance(value, dict) else None


def _readable_msg_id(value: dict[str, Any]) -> str | int | None:
    msg = value.get("msg")
    msg_id = msg.get("msgId") if isinstance(msg, dict) else None
    try:
        return FrameMsg.model_validate({"msgId": msg_id}).msgId
    except ValidationError:
        return None


def _problem(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    # A union's error names the branch ("source.str"); the field is what the client knows.
    loc = [str(part) for part in err["loc"] if part not in ("str", "int", "constrained-str", "constrained-int")]
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{'.'.join(loc)}: missing"
    return f"{'.'.join(loc)}: {message}" if loc else message
