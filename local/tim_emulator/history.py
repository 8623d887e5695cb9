"""Message history, recall and read state over the messages the service stores
(docs/protocol.md §11, §12): group_msg_recall, group_msg_get_simple, the group read receipts
(group_msg_receipt, get_group_msg_receipt, get_group_msg_receipt_detail), admin_getroammsg,
admin_msgwithdraw and admin_set_msg_read, with the callbacks of docs/protocol.md §13 (Group.CallbackAfterRecallMsg,
Group.CallbackAfterReadReceipt, C2C.CallbackAfterMsgWithDraw, C2C.CallbackAfterMsgReport).

History reads the stored records themselves, so an edit (docs/protocol.md §5.6 modify) shows at once; a recall
marks the record ``recalled`` and empties what history shows of it (CHOICE: docs/protocol.md §11.2 calls a recalled
message a "place" message; its content is gone). Choices made where the pages are silent are
marked CHOICE here and in docs/protocol.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

from local.tim_emulator import codes
from local.tim_emulator.checks import checked_group_id, is_int, valid_user_id
from local.tim_emulator.codes import ImError
from local.tim_emulator.core import Caller, Group, Reply, Service, conversation

MAX_RECALL_SEQS = 10  # docs/protocol.md §11.1
MAX_RECALL_REASON_BYTES = 100  # docs/protocol.md §11.1 (the Java SDK)
MAX_HISTORY_PAGE = 20  # docs/protocol.md §11.2
MAX_RECEIPT_SEQS = 50  # docs/protocol.md §11.3, group_msg_receipt
MAX_RECEIPT_DETAIL_COUNT = 200  # docs/protocol.md §11.3, get_group_msg_receipt_detail
ROAM_PAGE_BYTES = 13 * 1024  # docs/protocol.md §12.1: a page is cut at about 13 KB of answer
MSG_FLAG_RECALLED = 8  # docs/protocol.md §12.1
PLACE_MSG_GONE, PLACE_MSG_RECALLED = 1, 2  # docs/protocol.md §11.2
PRIORITY_NUMBERS = {"High": 1, "Normal": 2, "Low": 3}  # docs/protocol.md §11.2's MsgPriority
# docs/protocol.md §11.3: no read receipts in these group types.
NO_RECEIPT_TYPES = frozenset({"AVChatRoom", "Community"})
MSG_KEY = re.compile(r"\d+_\d+_\d+")

BAD = codes.GROUP_PARAM_INVALID


# ---------------------------------------------------------------------- group recall (docs/protocol.md §11.1)


def group_msg_recall(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    seqs = _seq_list(body.get("MsgSeqList"), MAX_RECALL_SEQS)
    reason = body.get("Reason")
    if reason is not None and (not isinstance(reason, str) or len(reason.encode()) > MAX_RECALL_REASON_BYTES):
        raise ImError(BAD, f"Reason is a string of at most {MAX_RECALL_REASON_BYTES} bytes")
    topic = body.get("TopicId")
    if topic is not None and not isinstance(topic, str):
        raise ImError(BAD, "TopicId must be a string")
    now = svc.now_s()
    with svc.lock:
        # docs/protocol.md §11.1: the current page takes AVChatRoom messages too (the 2024 page did not).
        group = svc.group(group_id)
        results = []
        for seq in seqs:
            record = svc.group_msgs.get((group_id, seq))
            if record is None:
                code = codes.RECALL_MSG_MISSING
            elif record.get("recalled"):
                code = codes.RECALL_REFUSED
            else:
                record["recalled"] = True
                record["recall"] = {"time": now, "Operator_Account": caller.operator, "Reason": reason or ""}
                code = codes.OK
            results.append({"MsgSeq": seq, "RetCode": code})
        group_type = group.type
    recalled = [{"MsgSeq": r["MsgSeq"]} for r in results if r["RetCode"] == codes.OK]
    jobs = []
    if recalled:
        event: dict[str, Any] = {
            "Operator_Account": caller.operator,
            "Type": group_type,
            "GroupId": group_id,
            "MsgSeqList": recalled,
        }
        if topic is not None:
            event["TopicId"] = topic
        event["EventTime"] = svc.event_ms()
        jobs = svc.event_jobs("Group.CallbackAfterRecallMsg", event, caller)
    return Reply({"RecallRetList": results}, after=jobs)


# ---------------------------------------------------------------------- group history (docs/protocol.md §11.2)


def group_msg_get_simple(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    number = body.get("ReqMsgNumber")
    if not is_int(number) or not 1 <= number <= MAX_HISTORY_PAGE:
        # CHOICE: docs/protocol.md §11.2 asks for 20 or fewer; more is refused rather than cut.
        raise ImError(BAD, f"ReqMsgNumber is required, 1-{MAX_HISTORY_PAGE}")
    top = body.get("ReqMsgSeq")
    if top is not None and (not is_int(top) or top < 1):
        raise ImError(BAD, "ReqMsgSeq must be a positive integer")
    with_recalled = body.get("WithRecalledMsg", 0)
    if with_recalled not in (0, 1) or isinstance(with_recalled, bool):
        raise ImError(BAD, "WithRecalledMsg must be 0 or 1")
    topic = body.get("TopicId")
    if topic is not None and not isinstance(topic, str):
        raise ImError(BAD, "TopicId must be a string")
    with svc.lock:
        group = svc.group(group_id)
        if group.type == "AVChatRoom":
            # CHOICE: docs/protocol.md §11.2 says AVChatRoom has no history but names no code: "no permission".
            raise ImError(codes.GROUP_NO_PERMISSION, "AVChatRoom messages are not stored")
        seq = min(top, group.next_seq - 1) if top is not None else group.next_seq - 1
        page: list[dict[str, Any]] = []
        while seq >= 1 and len(page) < number:
            record = svc.group_msgs.get((group_id, seq))
            if record is None or not record.get("recalled") or with_recalled:
                page.append(_group_history_item(seq, record))
            seq -= 1
    # IsFinished 1: everything asked for is here (the emulator never cuts a page for its size).
    return Reply({"GroupId": group_id, "IsFinished": 1, "RspMsgList": page})


def _group_history_item(seq: int, record: dict[str, Any] | None) -> dict[str, Any]:
    if record is None:
        # CHOICE: a seq with nothing stored (an online-only message) is a place message.
        return {
            "From_Account": "",
            "IsPlaceMsg": PLACE_MSG_GONE,
            "IsSystemMsg": 0,
            "MsgBody": [],
            "MsgPriority": PRIORITY_NUMBERS["Normal"],
            "MsgRandom": 0,
            "MsgSeq": seq,
            "MsgTimeStamp": 0,
        }
    recalled = bool(record.get("recalled"))
    return {
        "From_Account": record["From_Account"],
        "IsPlaceMsg": PLACE_MSG_RECALLED if recalled else 0,
        "IsSystemMsg": 0,
        "MsgBody": [] if recalled else record["MsgBody"],
        "MsgPriority": PRIORITY_NUMBERS.get(record.get("MsgPriority", "Normal"), 2),
        "MsgRandom": record["Random"],
        "MsgSeq": seq,
        "MsgTimeStamp": record["MsgTime"],
    }


# ---------------------------------------------------------------------- group read receipts (docs/protocol.md §11.3)


def group_msg_receipt(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    reader = body.get("From_Account")
    if not valid_user_id(reader):
        raise ImError(BAD, "From_Account must be the UserID of the member who read")
    seqs = _seq_list(body.get("MsgSeqList"), MAX_RECEIPT_SEQS)
    with svc.lock:
        group = _receipt_group(svc, group_id)
        if reader not in group.members:
            # CHOICE: only a member can have read the group's messages.
            raise ImError(codes.GROUP_NO_PERMISSION, f"{reader} is not a member of {group_id}")
        receipts = []
        for seq in dict.fromkeys(seqs):
            record = svc.group_msgs.get((group_id, seq))
            if record is None:
                continue  # CHOICE: a seq with no stored message is skipped
            readers = record.setdefault("read_by", [])
            if reader != record["From_Account"] and reader not in readers:
                readers.append(reader)
            read, unread = _receipt_counts(group, record)
            receipts.append(
                {
                    "MsgSeq": seq,
                    "ReadNum": read,
                    "UnreadNum": unread,
                    "ReadReceiptMembers": [{"Member_Account": reader}],
                }
            )
        group_type = group.type
    jobs = []
    if receipts:
        event = {"GroupId": group_id, "Type": group_type, "GroupMsgReceiptList": receipts, "EventTime": svc.event_ms()}
        jobs = svc.event_jobs("Group.CallbackAfterReadReceipt", event, caller)
    return Reply(after=jobs)


def get_group_msg_receipt(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    seqs = _seq_list(body.get("MsgSeqList"), None)
    with svc.lock:
        group = _receipt_group(svc, group_id)
        receipts = []
        for seq in seqs:
            record = svc.group_msgs.get((group_id, seq))
            if record is None:
                receipts.append({"Code": codes.RECEIPT_MISSING, "MsgSeq": seq, "ReadNum": 0, "UnreadNum": 0})
                continue
            read, unread = _receipt_counts(group, record)
            receipts.append({"Code": codes.OK, "MsgSeq": seq, "ReadNum": read, "UnreadNum": unread})
    return Reply({"GroupMsgReceiptList": receipts})


def get_group_msg_receipt_detail(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    seq = body.get("MsgSeq")
    if not is_int(seq) or seq < 1:
        raise ImError(BAD, "MsgSeq is required and must be a positive integer")
    which = body.get("Filter")
    if which not in (0, 1) or isinstance(which, bool):
        raise ImError(BAD, "Filter is required: 0 (who read) or 1 (who did not)")
    cursor = body.get("Cursor")
    if not isinstance(cursor, str) or not (cursor == "" or cursor.isdigit()):
        raise ImError(BAD, 'Cursor is required: "" or the previous answer\'s Cursor')
    count = body.get("Count")
    if not is_int(count) or not 1 <= count <= MAX_RECEIPT_DETAIL_COUNT:
        raise ImError(BAD, f"Count is required, 1-{MAX_RECEIPT_DETAIL_COUNT}")
    with svc.lock:
        group = _receipt_group(svc, group_id)
        record = svc.group_msgs.get((group_id, seq))
        if record is None:
            raise ImError(codes.RECEIPT_MISSING, f"no read receipt for message {seq}")
        readers = [r for r in record.get("read_by", []) if r in group.members]
        listed = (
            readers if which == 0 else [m for m in group.members if m != record["From_Account"] and m not in readers]
        )
    start = int(cursor or 0)
    page = listed[start : start + count]
    following = start + len(page)
    finished = following >= len(listed)
    # The pages' examples spell it IsFinish (docs/protocol.md §11.3).
    answer: dict[str, Any] = {"MsgSeq": seq, "Cursor": "" if finished else str(following), "IsFinish": int(finished)}
    if which == 0:
        answer["ReadList"] = [{"Read_Account": a} for a in page]
    else:
        answer["UnreadList"] = [{"Unread_Account": a} for a in page]
    return Reply(answer)


def _receipt_group(svc: Service, group_id: str) -> Group:
    group = svc.group(group_id)
    if group.type in NO_RECEIPT_TYPES:
        raise ImError(codes.GROUP_NO_PERMISSION, f"{group.type} groups have no read receipts")
    return group


def _receipt_counts(group: Group, record: dict[str, Any]) -> tuple[int, int]:
    """Read and unread counts among the current members other than the sender."""
    readers = {r for r in record.get("read_by", []) if r in group.members}
    others = [m for m in group.members if m != record["From_Account"]]
    return len(readers), len([m for m in others if m not in readers])


# ---------------------------------------------------------------------- C2C history (docs/protocol.md §12.1)


def admin_getroammsg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    operator = _account(body, "Operator_Account", codes.C2C_FROM_INVALID)
    peer = _account(body, "Peer_Account", codes.C2C_TO_MISSING)
    max_cnt = body.get("MaxCnt")
    if not is_int(max_cnt) or max_cnt < 1:
        raise ImError(codes.C2C_JSON_INVALID, "MaxCnt is required and must be a positive integer")
    low, high = body.get("MinTime"), body.get("MaxTime")
    if not (is_int(low) and is_int(high)) or low < 0 or low > high:
        raise ImError(codes.C2C_JSON_INVALID, "MinTime and MaxTime are required: seconds, MinTime <= MaxTime")
    last_key = body.get("LastMsgKey")
    if last_key is not None and not isinstance(last_key, str):
        raise ImError(codes.C2C_JSON_INVALID, "LastMsgKey must be a string")
    with svc.lock:
        _known(svc, operator, codes.C2C_FROM_INVALID, "Operator_Account")
        _known(svc, peer, codes.C2C_TO_MISSING, "Peer_Account")
        records = svc.conversations.get(conversation(operator, peer), [])
        ordered = sorted(records, key=_order)
        if last_key:
            # Continue below the previous page's oldest message.
            found = [r for r in ordered if r["MsgKey"] == last_key]
            if not found:
                raise ImError(codes.C2C_MSG_KEY_INVALID, "LastMsgKey is no message of this conversation")
            ordered = [r for r in ordered if _order(r) < _order(found[0])]
        remaining = [r for r in ordered if low <= r["MsgTime"] <= high]
        page: list[dict[str, Any]] = []
        size = 0
        for record in reversed(remaining):
            item = _roam_item(record)
            item_size = len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
            if len(page) == max_cnt or (page and size + item_size > ROAM_PAGE_BYTES):
                break
            page.append(item)
            size += item_size
    page.reverse()  # oldest first within a page, as docs/protocol.md §12.1's samples
    oldest = page[0] if page else None
    return Reply(
        {
            "Complete": int(len(page) == len(remaining)),
            "MsgCnt": len(page),
            "LastMsgTime": oldest["MsgTimeStamp"] if oldest else 0,
            "LastMsgKey": oldest["MsgKey"] if oldest else "",
            "MsgList": page,
        }
    )


def _order(record: dict[str, Any]) -> tuple[int, int]:
    return record["MsgTime"], record["send_id"]


def _roam_item(record: dict[str, Any]) -> dict[str, Any]:
    recalled = bool(record.get("recalled"))
    return {
        "From_Account": record["From_Account"],
        "To_Account": record["To_Account"],
        "MsgSeq": record["MsgSeq"],
        "MsgRandom": record["MsgRandom"],
        "MsgTimeStamp": record["MsgTime"],
        "MsgFlagBits": MSG_FLAG_RECALLED if recalled else 0,
        # C2C read receipts (not read marks) are not modelled (docs/protocol.md §12.4).
        "IsPeerRead": 0,
        "MsgKey": record["MsgKey"],
        "MsgBody": [] if recalled else record["MsgBody"],
        "CloudCustomData": "" if recalled else record["CloudCustomData"],
    }


# ---------------------------------------------------------------------- C2C recall (docs/protocol.md §12.2)


def admin_msgwithdraw(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    sender = _account(body, "From_Account", codes.C2C_FROM_INVALID)
    to = _account(body, "To_Account", codes.C2C_TO_MISSING)
    msg_key = body.get("MsgKey")
    if not isinstance(msg_key, str) or not MSG_KEY.fullmatch(msg_key):
        raise ImError(codes.C2C_MSG_KEY_INVALID, "MsgKey is required: the MsgKey sendmsg answered")
    with svc.lock:
        _known(svc, sender, codes.C2C_FROM_INVALID, "From_Account")
        _known(svc, to, codes.C2C_TO_MISSING, "To_Account")
        record = svc.c2c.get((sender, to, msg_key))
        if record is None:
            raise ImError(codes.C2C_RECALL_MISSING, "no stored message with this MsgKey between these accounts")
        if record.get("recalled"):
            raise ImError(codes.C2C_ALREADY_RECALLED, "the message has already been recalled")
        record["recalled"] = True
        record["recall"] = {"time": svc.now_s(), "Operator_Account": caller.operator}
        if record.get("unread"):
            record["unread"] = False
            svc.unread[to] = max(0, svc.unread.get(to, 0) - 1)
        unread = svc.unread.get(to, 0)
    event = {"From_Account": sender, "To_Account": to, "MsgKey": msg_key, "UnreadMsgNum": unread}
    return Reply(after=svc.event_jobs("C2C.CallbackAfterMsgWithDraw", event, caller))


# ---------------------------------------------------------------------- C2C read mark (docs/protocol.md §12.3)


def admin_set_msg_read(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    reporter = _account(body, "Report_Account", codes.C2C_FROM_INVALID)
    peer = _account(body, "Peer_Account", codes.C2C_TO_MISSING)
    read_time = body.get("MsgReadTime")
    # docs/protocol.md §12.3: the page types it String, the Java SDK sends a number: both are taken.
    if isinstance(read_time, str) and read_time.isdigit():
        read_time = int(read_time)
    if read_time is None:
        read_time = svc.now_s()
    elif not is_int(read_time) or read_time < 0:
        raise ImError(codes.C2C_JSON_INVALID, "MsgReadTime must be a time in seconds")
    with svc.lock:
        _known(svc, reporter, codes.C2C_FROM_INVALID, "Report_Account")
        _known(svc, peer, codes.C2C_TO_MISSING, "Peer_Account")
        read = 0
        for record in svc.conversations.get(conversation(reporter, peer), []):
            if (
                record["From_Account"] == peer
                and record["To_Account"] == reporter
                and record.get("unread")
                and record["MsgTime"] <= read_time
            ):
                record["unread"] = False
                record["read_time"] = read_time
                read += 1
        svc.unread[reporter] = max(0, svc.unread.get(reporter, 0) - read)
        unread = svc.unread[reporter]
    event = {"Report_Account": reporter, "Peer_Account": peer, "LastReadTime": read_time, "UnreadMsgNum": unread}
    return Reply(after=svc.event_jobs("C2C.CallbackAfterMsgReport", event, caller))


# ---------------------------------------------------------------------- helpers


def _seq_list(raw: Any, limit: int | None) -> list[int]:
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(item, dict) and is_int(item.get("MsgSeq")) and item["MsgSeq"] >= 1 for item in raw)
    ):
        raise ImError(BAD, "MsgSeqList must be a non-empty array of {MsgSeq: positive integer}")
    if limit is not None and len(raw) > limit:
        raise ImError(BAD, f"at most {limit} MsgSeq per call")
    return [item["MsgSeq"] for item in raw]


def _account(body: dict[str, Any], name: str, code: int) -> str:
    value = body.get(name)
    if not valid_user_id(value):
        raise ImError(code, f"{name} is required and must be a UserID")
    return value


def _known(svc: Service, account: str, code: int, name: str) -> None:
    if account not in svc.accounts:
        raise ImError(code, f"{name} {account} does not exist")
