"""Field checks and identifiers every domain shares, written from docs/protocol.md (§4, §6.2)."""

from __future__ import annotations

from typing import Any

from local.tim_emulator import codes
from local.tim_emulator.codes import ImError

UINT32_MAX = 0xFFFFFFFF
MAX_USER_ID_BYTES = 32  # docs/protocol.md §6.2: @RBT# IDs count too
MAX_GROUPID_BYTES = 48  # docs/protocol.md §6.2
ROBOT_PREFIX = "@RBT#"  # docs/protocol.md §8.1
GROUP_TYPES = frozenset({"Public", "Private", "Work", "ChatRoom", "Meeting", "AVChatRoom", "Community"})


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_uint32(value: Any) -> bool:
    return is_int(value) and 0 <= value <= UINT32_MAX


def valid_user_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value.encode()) <= MAX_USER_ID_BYTES


def checked_user_id(value: Any, code: int, name: str) -> str:
    if not valid_user_id(value):
        raise ImError(code, f"{name} must be a UserID of 1-{MAX_USER_ID_BYTES} bytes")
    return value


def optional_str(body: dict[str, Any], name: str, code: int) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ImError(code, f"{name} must be a string")
    return value


def checked_group_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ImError(codes.GROUP_PARAM_INVALID, "GroupId is required")
    return value


def forbidden_callbacks(body: dict[str, Any]) -> set[str]:
    value = body.get("ForbidCallbackControl") or []
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


# docs/protocol.md §5.10: the message options of the send APIs, each checked as documented.
MAX_GROUP_RECEIVERS = 50
ANDROID_PUSH = {
    "Sound": str,
    "HuaWeiChannelID": str,
    "XiaoMiChannelID": str,
    "OPPOChannelID": str,
    "GoogleChannelID": str,
    "VIVOClassification": int,
    "HuaWeiImportance": str,
    "ExtAsHuaweiIntentParam": int,
    "HuaWeiCategory": str,
}
APNS_PUSH = {"Sound": str, "BadgeMode": int, "Title": str, "SubTitle": str, "Image": str, "MutableContent": int}
PUSH = {"PushFlag": int, "Title": str, "Desc": str, "Ext": str}


def check_flags(body: dict[str, Any], names: tuple[str, ...], code: int) -> None:
    """Each of ``names`` that is present is 0 or 1."""
    for name in names:
        if name in body and (not is_int(body[name]) or body[name] not in (0, 1)):
            raise ImError(code, f"{name} must be 0 or 1")


def check_push_info(body: dict[str, Any], code: int) -> None:
    """OfflinePushInfo, when present: an object of the documented fields and types. (Tencent's answer to a
    field it does not know is not documented; the emulator refuses it, so a misspelling is seen.)"""
    info = body.get("OfflinePushInfo")
    if info is None:
        return
    _check_object(info, "OfflinePushInfo", {**PUSH, "AndroidInfo": dict, "ApnsInfo": dict}, code)
    for part, fields in (("AndroidInfo", ANDROID_PUSH), ("ApnsInfo", APNS_PUSH)):
        if part in info:
            _check_object(info[part], f"OfflinePushInfo.{part}", fields, code)
    flags = [("PushFlag", info), *[(n, info.get("ApnsInfo", {})) for n in ("BadgeMode", "MutableContent")]]
    flags += [(n, info.get("AndroidInfo", {})) for n in ("VIVOClassification", "ExtAsHuaweiIntentParam")]
    for name, holder in flags:
        check_flags(holder, (name,), code)
    if info.get("AndroidInfo", {}).get("HuaWeiImportance", "NORMAL") not in ("LOW", "NORMAL"):
        raise ImError(code, "OfflinePushInfo.AndroidInfo.HuaWeiImportance must be LOW or NORMAL")


def _check_object(value: Any, name: str, fields: dict[str, type], code: int) -> None:
    if not isinstance(value, dict):
        raise ImError(code, f"{name} must be an object")
    for key, item in value.items():
        expected = fields.get(key)
        if expected is None:
            raise ImError(code, f"{name}.{key} is not a field of {name}")
        if not isinstance(item, expected) or (expected is int and not is_int(item)):
            raise ImError(code, f"{name}.{key} must be a {expected.__name__}")


def check_receivers(body: dict[str, Any], code: int) -> list[str] | None:
    """send_group_msg's To_Account: at most 50 members to deliver to."""
    receivers = body.get("To_Account")
    if receivers is None:
        return None
    if not isinstance(receivers, list) or not receivers or not all(valid_user_id(r) for r in receivers):
        raise ImError(code, "To_Account must be a non-empty array of UserIDs")
    if len(receivers) > MAX_GROUP_RECEIVERS:
        raise ImError(code, f"To_Account names at most {MAX_GROUP_RECEIVERS} members")
    return receivers


# SendMsgControl's values (docs/protocol.md §5.3, §5.5, §5.10). CHOICE: a value outside these is refused
# (what Tencent does with one is not documented).
C2C_CONTROLS = frozenset({"NoUnread", "NoLastMsg", "WithMuteNotifications", "NoMsgCheck"})
GROUP_CONTROLS = frozenset({"NoLastMsg", "NoUnread", "NoMsgCheck"})


def check_controls(body: dict[str, Any], allowed: frozenset[str], code: int) -> list[str]:
    control = body.get("SendMsgControl")
    if control is None:
        return []
    if not isinstance(control, list) or not all(isinstance(c, str) and c in allowed for c in control):
        raise ImError(code, f"SendMsgControl must be an array of {', '.join(sorted(allowed))}")
    return control
