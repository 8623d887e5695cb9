"""Errors from Tencent IM REST calls (docs/protocol.md §4.1, §6.3).

Every non-zero ``ErrorCode`` becomes a :class:`TimApiError` that carries ``error_code``,
``error_info`` and the ``command``; transport failures become :class:`TimTransportError`. No
message, argument or repr ever holds a UserSig, a key or a URL with its query string.
"""

from __future__ import annotations

# Safe to retry with backoff: transient or server-side (docs/protocol.md §6.3). 70001 (expired sig) is handled
# apart: the sig is regenerated once and the call repeated.
RETRYABLE_CODES = frozenset(
    {
        60007,
        60008,
        60011,
        60018,
        60019,
        60022,
        70169,
        70202,
        70500,
        20004,
        20005,
        20028,
        90992,
        90994,
        90995,
        91000,
        10002,
        10006,
        10023,
        30006,
        30007,
        30008,
        70050,
    }
)
SIG_EXPIRED = 70001
# Answers that mean "the body is too big" (docs/protocol.md §6.2).
TOO_LARGE_CODES = frozenset({80002, 93000, 90055})
# "The account does not exist": the user, bot or robot named is not there.
ACCOUNT_MISSING_CODES = frozenset({30003, 70107})
# create_robot past an app's robot limit: the account service's "account count over the limit".
ROBOT_LIMIT = 70398

# Groups as threads and their messages (docs/protocol.md §10, §11; error-code page 1047/34348).
GROUP_PARAM_INVALID = 10004
GROUP_NO_PERMISSION = 10007
GROUP_MISSING = 10010
GROUP_FULL = 10014
GROUP_ID_INVALID = 10015
# "The group does not exist" (or is gone): nobody is its member.
GROUP_MISSING_CODES = frozenset({GROUP_MISSING, GROUP_ID_INVALID})
GROUP_ACCOUNT_MISSING = 10019  # add_group_member: a UserID does not exist
GROUP_ID_TAKEN = 10021  # create_group: the custom GroupId is used by someone else
GROUP_ID_YOURS = 10025  # create_group: the custom GroupId is already yours (dismiss it first)
# create_group with a custom GroupId that exists: whoever holds it, the thread is not new.
GROUP_ID_USED_CODES = frozenset({GROUP_ID_TAKEN, GROUP_ID_YOURS})
GROUP_RECALL_MSG_MISSING = 10030  # group_msg_recall RetCode: no such message
GROUP_RECALL_TOO_LATE = 10031
GROUP_RECALL_REFUSED = 10032  # cannot be recalled (the emulator: already recalled)
GROUP_RECALL_UNSUPPORTED = 10033  # the group type has no recall
GROUP_RECEIPT_MISSING = 10062  # get_group_msg_receipt(_detail): no read receipt for that message
# One-to-one (docs/protocol.md §12).
C2C_PEER_INVALID = 90003  # admin_getroammsg / admin_msgwithdraw / admin_set_msg_read: To_Account / Peer_Account
C2C_ACCOUNT_INVALID = 90008  # ... From_Account / Operator_Account / Report_Account
C2C_RECALL_MSG_MISSING = 20022  # admin_msgwithdraw: no such message
C2C_ALREADY_RECALLED = 20023
C2C_MSG_KEY_INVALID = 90054
# Answers that say a user, group or message named in the request is not there: the caller's
# mistake (an API answers 404), not Tencent failing. 20003 is sendmsg's "To_Account does not
# exist"; 90003 / 90008 the C2C history, recall and read-mark APIs' unknown peer / account.
NOT_FOUND_CODES = (
    ACCOUNT_MISSING_CODES
    | GROUP_MISSING_CODES
    | frozenset({20003, C2C_PEER_INVALID, C2C_ACCOUNT_INVALID, C2C_RECALL_MSG_MISSING, GROUP_RECALL_MSG_MISSING})
)


class TimError(Exception):
    """Base of every error the REST client raises."""

    def __init__(self, command: str, error_code: int | None, error_info: str) -> None:
        self.command = command
        self.error_code = error_code
        self.error_info = error_info
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:
        return False

    def __str__(self) -> str:
        code = "" if self.error_code is None else f"{self.error_code} "
        return f"{self.command}: {code}{self.error_info}"


class TimApiError(TimError):
    """Tencent answered with a non-zero ``ErrorCode``."""

    error_code: int

    def __init__(self, command: str, error_code: int, error_info: str) -> None:
        super().__init__(command, error_code, error_info)

    @property
    def retryable(self) -> bool:
        return self.error_code in RETRYABLE_CODES


class TimTransportError(TimError):
    """No usable answer: a timeout, a refused connection, an HTTP 5xx, a body that is not JSON."""

    def __init__(self, command: str, error_info: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(command, None, error_info)

    @property
    def retryable(self) -> bool:
        # 4xx means the request itself is wrong; everything else (timeouts, 5xx, a garbled
        # answer) may pass next time.
        return self.status is None or not 400 <= self.status < 500 or self.status in (408, 429)

    def __str__(self) -> str:
        status = f"HTTP {self.status} " if self.status is not None else ""
        return f"{self.command}: {status}{self.error_info}"


class MessageTooLarge(TimError, ValueError):
    """Refused before any call: the body is over Tencent's 12 KB limit."""

    def __init__(self, command: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            command, None, f"message body is {size} bytes, over Tencent's {limit}-byte limit (UTF-8 JSON of MsgBody)"
        )


class MessageDropped(TimError):
    """``send_group_msg`` answered success but dropped the message (``MsgDropReason``, e.g. the
    40 messages/s per-group limit): it was not delivered. Resend it as a new message."""

    def __init__(self, command: str, reason: str, group_id: str) -> None:
        self.reason = reason
        self.group_id = group_id
        # Success as far as ErrorCode goes: no code of its own.
        super().__init__(command, None, f"message to {group_id} dropped: {reason}")
