"""Between the thread API's models and what Tencent and the archive hold.

**Message content.** ``message_type="text"`` is sent as one ``TIMTextElem`` (the content is its
``Text``); any other type (``"html"``, a kind of the app's own) as one ``TIMCustomElem`` whose
``Data`` is the content. What the SDK shape has beyond the body travels in the message's
``CloudCustomData`` as JSON, under a key of its own so that an app's own use of the field can sit
beside it::

    {"chat": {"type": "html", "senderDisplayName": "Alice", "metadata": {"k": "v"}, "editedOn": 1730000000}}

(``type`` only when it is not "text"; keys with nothing to say left out; no ``CloudCustomData`` at
all for a plain text message.) Reading back, a message without the envelope (sent by a client or
another API) is typed from its body: "text" for text elements, "custom" for a custom element, the
element type otherwise.

**Ids.** A message id is the archive's identity: ``group:<GroupId>:<MsgSeq>`` (the group id as it
is, the seq after the last colon) or ``c2c:<MsgKey>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from timkit.chat.errors import ChatMessageNotFound, InvalidChatRequest
from timkit.models.callbacks import group_identity
from timkit.models.chat import SYSTEM_TYPES, ChatMessage, ChatMessageContent, ChatParticipant
from timkit.models.conversations import MAX_TIME
from timkit.models.elements import CustomContent, CustomElem, MsgElement, TextContent, TextElem
from timkit.models.history import HistoryEntry

ENVELOPE_KEY = "chat"
TEXT = "text"


def to_time(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def to_seconds(value: datetime | int | None, field: str = "startTime") -> int | None:
    """Unix seconds of a datetime (naive: taken as UTC) or of seconds already, in Tencent's range."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if not 0 <= value <= MAX_TIME:
        raise InvalidChatRequest(field, f"{field}: Unix seconds, 0 to {MAX_TIME}")
    return value


# ----------------------------------------------------------------------------- ids


def group_message_id(group_id: str, seq: int) -> str:
    return group_identity(group_id, seq)


def c2c_message_id(msg_key: str) -> str:
    return f"c2c:{msg_key}"


def parse_group_message_id(message_id: str, group_id: str) -> int:
    """The MsgSeq of a message id of this group's; anything else is not a message of the thread."""
    prefix = f"group:{group_id}:"
    seq = message_id[len(prefix) :] if message_id.startswith(prefix) else ""
    if not seq.isdigit() or not 0 < int(seq) < 2**63:
        raise ChatMessageNotFound(message_id, f"not a message id of group {group_id} (group:<GroupId>:<MsgSeq>)")
    return int(seq)


def parse_c2c_message_id(message_id: str) -> str:
    key = message_id[4:] if message_id.startswith("c2c:") else ""
    if not key or len(key) > 128 or not key.isprintable():
        raise ChatMessageNotFound(message_id, "not a one-to-one message id (c2c:<MsgKey>)")
    return key


# ----------------------------------------------------------------------------- content


def outgoing_body(content: str, message_type: str) -> list[MsgElement]:
    if message_type == TEXT:
        return [TextElem(MsgContent=TextContent(Text=content))]
    return [CustomElem(MsgContent=CustomContent(Data=content))]


def envelope(
    message_type: str,
    display_name: str | None,
    metadata: dict[str, str] | None,
    edited_on: int | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": None if message_type == TEXT else message_type,
        "senderDisplayName": display_name,
        "metadata": metadata or None,
        "editedOn": edited_on,
    }
    return {name: value for name, value in fields.items() if value is not None}


def dump_envelope(fields: dict[str, Any], original: str | None = None) -> str | None:
    """CloudCustomData carrying ``fields``, keeping whatever else an app put in ``original``."""
    doc = _json_object(original) or {}
    if fields:
        doc[ENVELOPE_KEY] = fields
    else:
        doc.pop(ENVELOPE_KEY, None)
    if not doc:
        return None if original is None or _json_object(original) is not None else original
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def read_envelope(cloud_custom_data: str | None) -> dict[str, Any]:
    doc = _json_object(cloud_custom_data)
    fields = doc.get(ENVELOPE_KEY) if doc else None
    return fields if isinstance(fields, dict) else {}


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def message_type_of(body: Sequence[MsgElement], fields: dict[str, Any]) -> str:
    declared = fields.get("type")
    if isinstance(declared, str) and declared:
        return declared
    kinds = {getattr(elem, "MsgType", None) for elem in body}
    if kinds == {"TIMTextElem"}:
        return TEXT
    if kinds == {"TIMCustomElem"}:
        return "custom"
    return next((kind for kind in kinds if isinstance(kind, str)), TEXT) if body else TEXT


def content_text(body: Sequence[MsgElement]) -> str | None:
    """Text elements' text joined, or a custom element's Data; None for other elements."""
    texts = [elem.MsgContent.Text for elem in body if isinstance(elem, TextElem)]
    if texts:
        return "".join(texts)
    custom = next((elem for elem in body if isinstance(elem, CustomElem)), None)
    return custom.MsgContent.Data if custom is not None else None


def chat_message(
    message_id: str,
    *,
    sender: str | None,
    time: int,
    body: Sequence[MsgElement],
    cloud_custom_data: str | None,
    seq: int | None = None,
    edited_at: int | None = None,
    deleted: bool = False,
    deleted_at: int | None = None,
) -> ChatMessage:
    elements = list(body)
    fields = read_envelope(cloud_custom_data)
    metadata = fields.get("metadata")
    edited = fields.get("editedOn")
    name = fields.get("senderDisplayName")
    return ChatMessage(
        id=message_id,
        type=message_type_of(elements, fields),
        sequence_id=str(seq) if seq is not None else None,
        content=ChatMessageContent(message=None if deleted else content_text(elements)),
        sender=sender,
        sender_display_name=name if isinstance(name, str) else None,
        created_on=to_time(time) or datetime.fromtimestamp(0, UTC),
        # The archive's edit time (the modify callback), else the one the edit wrote in the envelope.
        edited_on=to_time(edited_at) or (to_time(edited) if isinstance(edited, int) else None),
        deleted_on=to_time(deleted_at),
        deleted=deleted or deleted_at is not None,
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else None,
        cloud_custom_data=cloud_custom_data,
        body=[] if deleted else elements,
    )


def from_history(entry: HistoryEntry) -> ChatMessage:
    """An archive entry (message or system event) as a ChatMessage."""
    if entry.kind == "system" and entry.system is not None:
        event = entry.system
        participants = [ChatParticipant(identifier=user) for user in event.participants] or None
        return ChatMessage(
            id=entry.id,
            type=SYSTEM_TYPES[event.type],
            sequence_id=str(entry.seq) if entry.seq is not None else None,
            content=ChatMessageContent(topic=event.topic, participants=participants, initiator=event.operator),
            sender=event.operator,
            created_on=to_time(entry.time) or datetime.fromtimestamp(0, UTC),
        )
    return chat_message(
        entry.id,
        sender=entry.sender,
        time=entry.time,
        body=entry.body,
        cloud_custom_data=entry.cloud_custom_data,
        seq=entry.seq,
        edited_at=entry.edited_at,
        deleted_at=entry.deleted_at,
    )
