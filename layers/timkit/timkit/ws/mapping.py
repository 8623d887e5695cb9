"""Between the gateway's frames and Tencent messages (README "WebSocket gateway", the mapping table).

Out to Tencent, a ``text`` frame is one ``TIMTextElem`` (its ``Text`` is ``msg.content``); any other
``msgType`` is one ``TIMCustomElem`` whose ``Data`` is the JSON of ``{"msgType", "extra", "msg"}``
(the content: ``msg`` without msgId and timestamp), ``Desc`` the msgType (what SDK clients and
offline pushes show) and ``Ext`` :data:`CUSTOM_EXT`, which marks it as a frame. What the body does
not hold travels in ``CloudCustomData``, under a key of its own so an app's own use of the field
sits beside it::

    {"timkitWs": {"msgId": 1, "timestamp": 1611065986, "numeric": ["source"], "extra": ..., "msg": {...}}}

(``numeric``: the ids the client wrote as numbers; ``extra`` and ``msg`` only for text frames,
whose element has no room for them.) Back from Tencent, the same message makes the same frame.
A message from an SDK client (or any other sender) is read from its body: one text element is a
``text`` frame whose msgId is Tencent's message id and timestamp its MsgTime; anything else
(images, sounds, several elements, custom elements that are not frames) is a ``tim`` frame whose
``msg.body`` is the MsgBody as Tencent delivered it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from timkit.models.elements import CustomContent, CustomElem, MsgElement, TextContent, TextElem, dump_body
from timkit.models.ws import TEXT, Frame

ENVELOPE_KEY = "timkitWs"
CUSTOM_EXT = "timkit-ws/1"
# The msgType of a delivered message that no frame made.
TIM = "tim"


def outgoing(frame: Frame) -> tuple[list[MsgElement], str]:
    """The MsgBody and CloudCustomData a message frame is sent as."""
    envelope: dict[str, Any] = {"msgId": frame.msg.msgId, "timestamp": frame.msg.timestamp}
    numeric = [name for name in ("source", "target") if isinstance(getattr(frame, name), int)]
    if numeric:
        envelope["numeric"] = numeric
    content = frame.msg.content()
    given_extra = "extra" in frame.model_fields_set
    body: list[MsgElement]
    if frame.msgType == TEXT:
        body = [TextElem(MsgContent=TextContent(Text=content.pop("content")))]
        if given_extra:
            envelope["extra"] = frame.extra
        if content:
            envelope["msg"] = content
    else:
        data: dict[str, Any] = {"msgType": frame.msgType, "msg": content}
        if given_extra:
            data["extra"] = frame.extra
        custom = CustomContent(Data=_compact(data), Desc=frame.msgType, Ext=CUSTOM_EXT)
        body = [CustomElem(MsgContent=custom)]
    return body, _compact({ENVELOPE_KEY: envelope})


def delivered(
    kind: Literal["single", "group"],
    source: str,
    target: str,
    body: list[MsgElement],
    cloud_custom_data: str | None,
    message_id: str,
    msg_time: int,
) -> dict[str, Any]:
    """The frame a delivered message (an after-send callback's) reaches sockets as; ``messageId``
    is Tencent's id of it (the history API's), beside the client's msgId."""
    envelope = _envelope(cloud_custom_data)
    numeric: list[Any] = envelope["numeric"] if isinstance(envelope.get("numeric"), list) else []
    frame: dict[str, Any] = {
        "type": kind,
        "source": _id(source, "source" in numeric),
        "target": _id(target, "target" in numeric),
        "msgType": TIM,
    }
    content: dict[str, Any]
    carried = _carried_frame(body)
    if len(body) == 1 and isinstance(body[0], TextElem):
        frame["msgType"] = TEXT
        if "extra" in envelope:
            frame["extra"] = envelope["extra"]
        fields = envelope["msg"] if isinstance(envelope.get("msg"), dict) else {}
        content = {**fields, "content": body[0].MsgContent.Text}
    elif carried is not None:
        frame["msgType"] = carried["msgType"]
        if "extra" in carried:
            frame["extra"] = carried["extra"]
        content = carried["msg"]
    else:
        content = {"body": dump_body(body)}
    # The frame's own id and time win over content fields of the same name.
    msg = {
        **content,
        "msgId": envelope["msgId"] if isinstance(envelope.get("msgId"), str | int) else message_id,
        "timestamp": envelope["timestamp"] if isinstance(envelope.get("timestamp"), int) else msg_time,
    }
    frame["msg"] = msg
    frame["messageId"] = message_id
    return frame


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _envelope(cloud_custom_data: str | None) -> dict[str, Any]:
    try:
        value = json.loads(cloud_custom_data or "")
    except ValueError:
        return {}
    envelope = value.get(ENVELOPE_KEY) if isinstance(value, dict) else None
    return envelope if isinstance(envelope, dict) else {}


def _carried_frame(body: list[MsgElement]) -> dict[str, Any] | None:
    """The frame content a custom element of ours carries; None for any other body."""
    if len(body) != 1 or not isinstance(body[0], CustomElem) or body[0].MsgContent.Ext != CUSTOM_EXT:
        return None
    try:
        data = json.loads(body[0].MsgContent.Data)
    except ValueError:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("msgType"), str) and isinstance(data.get("msg"), dict)):
        return None
    return data


def _id(value: str, numeric: bool) -> str | int:
    return int(value) if numeric and value.isdecimal() and str(int(value)) == value else value
