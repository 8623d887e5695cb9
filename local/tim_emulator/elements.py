"""Message elements as the emulator checks them (docs/protocol.md §3, §6.2, §7.1, §8.4).

Written from the protocol document, not from the bundle's models: the emulator is the referee,
so a mistake in the bundle's element models must not pass here too. Every element is
``{"MsgType": ..., "MsgContent": {...}}``. A known type's content must have its required fields
with their JSON types; fields the document does not list are kept (Tencent adds fields). An
element type the emulator does not know is carried through when its ``MsgType`` is a string:
whether an API may send it is the caller's question (:func:`check_body`'s ``allowed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from local.tim_emulator.codes import ImError

MAX_BODY_BYTES = 12 * 1024  # docs/protocol.md §6.2: the compact UTF-8 JSON of MsgBody
# docs/protocol.md §7.4: mergers nest up to 100 levels; deeper is refused rather than followed.
MAX_NESTING = 100

# docs/protocol.md §3: what the REST send APIs accept. A client SDK can also send a merger
# (TIMRelayElem, docs/protocol.md §7.2).
REST_ELEMENT_TYPES = frozenset(
    {
        "TIMTextElem",
        "TIMLocationElem",
        "TIMFaceElem",
        "TIMCustomElem",
        "TIMSoundElem",
        "TIMImageElem",
        "TIMFileElem",
        "TIMVideoFileElem",
    }
)
CLIENT_ELEMENT_TYPES = REST_ELEMENT_TYPES | {"TIMRelayElem"}


class BodyError(ValueError):
    """A body that does not follow docs/protocol.md §3; the message names the field, never its value."""


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# name -> (type check, required). Optional fields may also be null.
Fields = dict[str, tuple[Callable[[Any], bool], bool]]

_IMAGE_INFO: Fields = {
    "Type": (_integer, True),
    "Size": (_integer, False),
    "Width": (_integer, False),
    "Height": (_integer, False),
    "URL": (_string, False),
}
_CHUNK: Fields = {
    "EventType": (_string, False),
    "Index": (_integer, True),
    "Markdown": (_string, False),
    "IsLast": (_boolean, False),
}
_RELAY_MESSAGE: Fields = {
    "From_Account": (_string, True),
    "To_Account": (_string, False),
    "GroupId": (_string, False),
    "MsgSeq": (_integer, False),
    "MsgRandom": (_integer, False),
    "MsgTimeStamp": (_integer, False),
    "CloudCustomData": (_string, False),
    "From_AccountNick": (_string, False),
    "From_AccountHeadurl": (_string, False),
}
CONTENT: dict[str, Fields] = {
    "TIMTextElem": {"Text": (_string, True)},
    "TIMLocationElem": {"Desc": (_string, False), "Latitude": (_number, True), "Longitude": (_number, True)},
    "TIMFaceElem": {"Index": (_integer, True), "Data": (_string, False)},
    "TIMCustomElem": {
        "Data": (_string, False),
        "Desc": (_string, False),
        "Ext": (_string, False),
        "Sound": (_string, False),
    },
    "TIMSoundElem": {
        "Url": (_string, False),
        "UUID": (_string, False),
        "Size": (_integer, False),
        "Second": (_integer, False),
        "Download_Flag": (_integer, False),
    },
    "TIMImageElem": {"UUID": (_string, False), "ImageFormat": (_integer, False)},
    "TIMFileElem": {
        "Url": (_string, False),
        "UUID": (_string, False),
        "FileSize": (_integer, False),
        "FileName": (_string, False),
        "Download_Flag": (_integer, False),
    },
    "TIMVideoFileElem": {
        **{
            name: (_string, False)
            for name in ("VideoUrl", "VideoUUID", "VideoFormat", "ThumbUrl", "ThumbUUID", "ThumbFormat")
        },
        **{
            name: (_integer, False)
            for name in (
                "VideoSize",
                "VideoSecond",
                "VideoDownloadFlag",
                "ThumbSize",
                "ThumbWidth",
                "ThumbHeight",
                "ThumbDownloadFlag",
            )
        },
    },
    "TIMRelayElem": {
        "Title": (_string, False),
        "MsgNum": (_integer, False),
        "CompatibleText": (_string, False),
        "AbstractList": (_strings, False),
        "JsonMsgKey": (_string, False),
        "PbMsgKey": (_string, False),
    },
    "TIMStreamElem": {"CompatibleText": (_string, False), "StreamMsgID": (_string, False)},
}


def validate_body(raw: Any, where: str = "MsgBody", depth: int = 0) -> None:
    """Raise :class:`BodyError` unless ``raw`` is an array of elements following docs/protocol.md §3."""
    if depth > MAX_NESTING:
        raise BodyError(f"{where}: mergers nest deeper than {MAX_NESTING} levels")
    if not isinstance(raw, list):
        raise BodyError(f"{where} must be an array")
    for index, element in enumerate(raw):
        _element(element, f"{where}.{index}", depth)


def _element(element: Any, where: str, depth: int) -> None:
    if not isinstance(element, dict) or not isinstance(element.get("MsgType"), str):
        raise BodyError(f"{where}.MsgType must be a string")
    msg_type = element["MsgType"]
    fields = CONTENT.get(msg_type)
    if fields is None:
        return  # a type the document does not list: carried through
    content = element.get("MsgContent")
    where = f"{where}.MsgContent"
    _object(content, fields, where)
    for (owner, name), check in _LISTS.items():
        if owner == msg_type and content.get(name) is not None:
            items = content[name]
            if not isinstance(items, list):
                raise BodyError(f"{where}.{name} must be an array")
            for index, item in enumerate(items):
                check(item, f"{where}.{name}.{index}", depth)


def _object(value: Any, fields: Fields, where: str) -> None:
    if not isinstance(value, dict):
        raise BodyError(f"{where} must be an object")
    for name, (check, required) in fields.items():
        if name not in value or (value[name] is None and not required):
            if required:
                raise BodyError(f"{where}.{name} is required")
            continue
        if not check(value[name]):
            raise BodyError(f"{where}.{name} has the wrong type")


def _image_info(item: Any, where: str, depth: int) -> None:
    _object(item, _IMAGE_INFO, where)


def _chunk(item: Any, where: str, depth: int) -> None:
    _object(item, _CHUNK, where)


def _relay_message(item: Any, where: str, depth: int) -> None:
    _object(item, _RELAY_MESSAGE, where)
    validate_body(item.get("MsgBody"), f"{where}.MsgBody", depth + 1)


# Fields holding arrays of objects, checked item by item: (element type, field) -> item check.
_LISTS: dict[tuple[str, str], Callable[[Any, str, int], None]] = {
    ("TIMImageElem", "ImageInfoArray"): _image_info,
    ("TIMStreamElem", "Chunks"): _chunk,
    ("TIMRelayElem", "MsgList"): _relay_message,
}


def body_size(raw: list[Any]) -> int:
    """Bytes counted against the 12 KB limit (docs/protocol.md §6.2): UTF-8 of the compact JSON of ``MsgBody``, as
    ``JSON.stringify`` writes it (no spaces, non-ASCII characters as they are)."""
    return len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())


def check_body(raw: Any, allowed: frozenset[str], *, not_array: int, bad: int, too_long: int) -> list[dict[str, Any]]:
    """A send's MsgBody: an array of known elements this API may send, at most one custom element
    (docs/protocol.md §3), within 12 KB of compact UTF-8 JSON (docs/protocol.md §6.2). Returns the body as given."""
    if not isinstance(raw, list):
        raise ImError(not_array, "MsgBody must be an array")
    if not raw:
        raise ImError(bad, "MsgBody is empty")
    try:
        validate_body(raw)
    except BodyError as exc:
        raise ImError(bad, f"MsgBody does not follow the message format ({exc})") from None
    kinds = [element["MsgType"] for element in raw]
    unsendable = sorted({k for k in kinds if k not in allowed})
    if unsendable:
        raise ImError(bad, f"MsgBody holds element types this API cannot send: {', '.join(unsendable)}")
    if kinds.count("TIMCustomElem") > 1:
        raise ImError(bad, "a message holds at most one TIMCustomElem")
    size = body_size(raw)
    if size > MAX_BODY_BYTES:
        raise ImError(too_long, f"msg too long: MsgBody is {size} bytes, over the {MAX_BODY_BYTES}-byte limit")
    return raw
