"""Every error code the emulator answers, in one place, with where it comes from.

"§" points at docs/protocol.md. Codes marked CHOICE are not given for
that situation by the protocol document; the comment says why this one was picked, so a client written
against the emulator does not come to rely on an accident.
"""

from __future__ import annotations

OK = 0

# ---------------------------------------------------------------- REST gateway (docs/protocol.md §4.1, §6.3)
# CHOICE: an unknown service/command (or a method other than POST) gets 60002, the protocol document's
# "parse" code for the request line; the protocol document lists no "no such command" code, and Tencent
# answers HTTP 200 with the error in the body for everything but network-level failures (docs/protocol.md §4.1).
URL_INVALID = 60002
# A body that is empty or not a JSON object (docs/protocol.md §4.1: "never empty; use {} if nothing to send").
JSON_INVALID = 60003
IDENTIFIER_INVALID = 60004  # `identifier` missing from the URL (docs/protocol.md §4.2 "60004/60005 ... in URL")
SDKAPPID_INVALID = 60006  # `sdkappid` missing or not this app (docs/protocol.md §6.3)
# The per-API frequency limit; docs/protocol.md §6.1 names 60007 "REST call frequency over limit" (60018/60019 are
# the generic "too many requests", left to fault injection).
RATE_LIMITED = 60007
ADMIN_REQUIRED = 60010  # `identifier` is not the app admin (docs/protocol.md §6.3 "60010/90009/70403")

# ---------------------------------------------------------------- UserSig (docs/protocol.md §4.2)
SIG_EXPIRED = 70001
SIG_EMPTY = 70002
SIG_MALFORMED = 70003
SIG_WRONG_KEY = 70009
SIG_IDENTIFIER_MISMATCH = 70013
SIG_SDKAPPID_MISMATCH = 70014

# ---------------------------------------------------------------- accounts and robots
ACCOUNT_MISSING = 70107  # docs/protocol.md §5.4 ("70107 user missing"), docs/protocol.md §6.3
# CHOICE: the protocol document gives no codes for account_import, create_robot or delete_robot. Invalid
# parameters (a bad UserID, an `@RBT#` ID imported as a plain account, a plain ID given to
# create_robot) answer 70402 and the 20-robot limit answers 70398: Tencent's account-service codes
# for "invalid parameter" and "account count over the limit" (not in the protocol document).
ACCOUNT_PARAM_INVALID = 70402
ACCOUNT_LIMIT = 70398

# ---------------------------------------------------------------- friends (docs/protocol.md §5.1)
FRIEND_PARAM_INVALID = 30001
FRIEND_ACCOUNT_MISSING = 30003
FRIEND_LIST_FULL = 30010
FRIEND_PEER_LIST_FULL = 30014
# Not a failure (docs/protocol.md §5.1): the peer must confirm. The emulator treats every account as "needs
# confirmation" (Tencent's default AllowType), so only ForceAddFlags 1 adds at once (docs/protocol.md §9 item 12).
FRIEND_PENDING = 30539
# CHOICE: "already friends" has no code of its own in the protocol document. Tencent's own TUIKit sources
# recognise it as ResultCode 30001 (ERR_SVR_FRIENDSHIP_INVALID_PARAMETERS) with ResultInfo
# "Err_SNS_FriendAdd_Friend_Exist"; the emulator answers exactly that, per item.
FRIEND_EXISTS_INFO = "Err_SNS_FriendAdd_Friend_Exist"
MAX_FRIENDS = 3000  # docs/protocol.md §6.2
MAX_FRIEND_CHECK = 1000  # Tencent's friend_check page: at most 1000 To_Account per request

# ---------------------------------------------------------------- C2C messages (docs/protocol.md §5.3, §5.4)
C2C_RECIPIENT_MISSING = 20003  # docs/protocol.md §6.3 "20003 (account does not exist)"
C2C_REJECTED = 20006  # before-send callback answered 1 (docs/protocol.md §2.5)
C2C_NOT_FRIENDS = 20009  # only with the console's C2C friend check on (docs/protocol.md §6.3)
C2C_NOT_FRIEND_OF_PEER = 20010  # one-way: the sender is not in the recipient's list
C2C_PEER_NOT_FRIEND = 20011  # one-way: the recipient is not in the sender's list
# CHOICE: "message does not exist" for modify: the protocol document has no code; 20026 is what Tencent's
# Web SDK documents for modifyMessage on a missing message.
MSG_NOT_FOUND = 20026
MODIFY_CONFLICT = 20028  # docs/protocol.md §5.6
MODIFY_INVALID = 20001  # "request packet invalid" in Tencent's modify pages (docs/protocol.md §5.3 lists 20001)
# docs/protocol.md §5.3/§5.4 name the 9000x family; the individual meanings follow Tencent's sendmsg error table.
C2C_BODY_FORMAT = 90002  # MsgBody does not follow the message format (unknown or unsendable element)
C2C_TO_MISSING = 90003  # To_Account missing
C2C_SEQ_INVALID = 90004  # docs/protocol.md §5.4 "90004 bad MsgSeq"
C2C_RANDOM_INVALID = 90005  # MsgRandom missing or not a uint32 (docs/protocol.md §5.3: required)
C2C_TIMESTAMP_INVALID = 90006  # docs/protocol.md §5.3
C2C_BODY_NOT_ARRAY = 90007
C2C_FROM_INVALID = 90008  # docs/protocol.md §5.4 "From_Account missing" (or unknown)
BATCH_TOO_MANY = 90011  # docs/protocol.md §5.4: more than 500 recipients
BATCH_NONE_DELIVERED = 90012  # docs/protocol.md §5.4: "none → FAIL ... (e.g. 90012)"
C2C_LIFETIME_INVALID = 90026  # MsgLifeTime over 7 days
C2C_SYNC_INVALID = 90031
C2C_LIFETIME_NOT_INT = 90044
# CHOICE: batchsendmsg's oversize body answers 90055 ("batch packet too long", docs/protocol.md §6.2), sendmsg 93000.
BATCH_BODY_TOO_LONG = 90055
C2C_BODY_TOO_LONG = 93000  # docs/protocol.md §6.2
# One-to-one history, recall and read marks (docs/protocol.md §12). CHOICE: a field of the wrong
# type or range answers 90001, the only generic code those pages document ("JSON parse failure").
C2C_JSON_INVALID = 90001
C2C_RECALL_MISSING = 20022
C2C_ALREADY_RECALLED = 20023
C2C_MSG_KEY_INVALID = 90054  # also: admin_getroammsg's LastMsgKey is no message of the conversation (CHOICE)

# ---------------------------------------------------------------- groups (docs/protocol.md §5.5, §5.8)
GROUP_INTERNAL = 10002
# CHOICE: every malformed group request field answers 10004 ("parameter invalid", docs/protocol.md §5.5 lists it).
GROUP_PARAM_INVALID = 10004
GROUP_NO_PERMISSION = 10007  # a simulated client sends to a group it is not a member of; roles in an AVChatRoom
GROUP_MISSING = 10010
GROUP_REJECTED = 10016  # before-send callback answered 1 (docs/protocol.md §2.5)
# CHOICE: a custom GroupId already taken. Not in the protocol document; Tencent's "group ID already used".
GROUP_ID_TAKEN = 10021
GROUP_TOO_MANY_AT = 10053  # docs/protocol.md §5.5: more than 30 GroupAtInfo items
# Groups as threads (docs/protocol.md §10): create_group's MemberList over 100, add_group_member's
# over 300; the group is full; add_group_member naming no existing account.
GROUP_TOO_MANY_MEMBERS = 10005
GROUP_FULL = 10014
GROUP_ACCOUNT_MISSING = 10019
# Group recall, history and read receipts (docs/protocol.md §11).
RECALL_MSG_MISSING = 10030  # per-seq RetCode
RECALL_REFUSED = 10032  # per-seq RetCode; CHOICE: also for a message already recalled
RECEIPT_MISSING = 10062  # no read receipt kept for that seq
GROUP_BODY_TOO_LONG = 80002  # docs/protocol.md §6.2
CALLBACK_FAILED_DROP = 80003  # docs/protocol.md §1.4: before-send failed and the failure policy says drop

# ---------------------------------------------------------------- native stream messages (docs/protocol.md §8.4)
# CHOICE: the protocol document gives the stream APIs' rules (docs/protocol.md §6.1) but no codes.
# A StreamMsgID that is not this sender's answers 20026 (as a missing message for modify), a call after the stream ended
# (IsLast, or 15 s without a chunk) 20001 ("request packet invalid"), a chunk Index that does not
# continue the stream 20001 too, more than 5 calls/s on one stream 60007 (the REST frequency code,
# which a client retries after backing off), a message past 128 KB the API's "too long" code.
STREAM_ENDED = 20001
STREAM_INDEX_INVALID = 20001

# Before-send custom rejection ranges (docs/protocol.md §2.5).
C2C_CUSTOM_CODES = range(120001, 130001)
GROUP_CUSTOM_CODES = range(10100, 10201)

# HTTP-level fault: below 1000 a fault "code" is an HTTP status (no Tencent ErrorCode is that small).
HTTP_STATUS_CODES_BELOW = 1000


class ImError(Exception):
    """A whole-request failure: answered as ``ActionStatus: FAIL`` with this code."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info
