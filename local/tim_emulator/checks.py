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
