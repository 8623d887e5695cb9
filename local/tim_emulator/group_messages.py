"""Group messages (docs/protocol.md §5.5, §5.6, §6.1, §8.4): send_group_msg, modify_group_msg,
send_group_stream_msg and a simulated client's group send, with the per-group frequency control,
through the shared send pipeline of :mod:`.pipeline`."""

from __future__ import annotations

import math
import random
from typing import Any

from local.tim_emulator import codes, pipeline
from local.tim_emulator.checks import (
    GROUP_CONTROLS,
    UINT32_MAX,
    check_controls,
    check_flags,
    check_push_info,
    check_receivers,
    checked_group_id,
    forbidden_callbacks,
    is_int,
    is_uint32,
    valid_user_id,
)
from local.tim_emulator.codes import ImError
from local.tim_emulator.config import Settings
from local.tim_emulator.core import Caller, Group, Reply, SendResult, Service
from local.tim_emulator.elements import CLIENT_ELEMENT_TYPES, REST_ELEMENT_TYPES, check_body

MAX_GROUP_AT = 30  # docs/protocol.md §5.5
PRIORITIES = ("High", "Normal", "Low")


def send_group_msg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.GROUP_PARAM_INVALID
    group_id, msg_random, sender = _addressing(svc, body)
    common = _group_common(svc, body, REST_ELEMENT_TYPES)
    forbid = forbidden_callbacks(body)
    with svc.lock:
        svc.group(group_id)
        # docs/protocol.md §5.5: From_Account must exist. Membership is not required of a REST sender
        # (docs/protocol.md §9 item 11).
        if sender not in svc.accounts:
            raise ImError(bad, f"From_Account {sender} does not exist")
    result = send_group(
        svc,
        caller,
        sender,
        group_id,
        msg_random=msg_random,
        **common,
        forbid_before="ForbidBeforeSendMsgCallback" in forbid,
        forbid_after="ForbidAfterSendMsgCallback" in forbid,
    )
    if result.code != codes.OK:
        raise ImError(result.code, result.info)
    return Reply(
        {"MsgTime": result.msg_time, "MsgSeq": result.msg_seq, "MsgDropReason": result.drop_reason},
        after=result.after,
    )


def _addressing(svc: Service, body: dict[str, Any]) -> tuple[str, int, str]:
    """(GroupId, Random, From_Account) of a REST group send or stream call."""
    group_id = checked_group_id(body.get("GroupId"))
    msg_random = body.get("Random")
    if not is_uint32(msg_random):
        raise ImError(codes.GROUP_PARAM_INVALID, "Random is required and must be a uint32")
    return group_id, msg_random, pipeline.sender_of(svc, body, codes.GROUP_PARAM_INVALID)


def _group_common(svc: Service, body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    bad = codes.GROUP_PARAM_INVALID
    priority = body.get("MsgPriority", "Normal")
    if priority not in PRIORITIES:
        raise ImError(bad, "MsgPriority must be High, Normal or Low (case-sensitive)")
    online_only = body.get("OnlineOnlyFlag", 0)
    if online_only not in (0, 1) or isinstance(online_only, bool):
        raise ImError(bad, "OnlineOnlyFlag must be 0 or 1")
    msg_body = check_body(body.get("MsgBody"), allowed, not_array=bad, bad=bad, too_long=codes.GROUP_BODY_TOO_LONG)
    ccd = body.get("CloudCustomData", "")
    if not isinstance(ccd, str):
        raise ImError(bad, "CloudCustomData must be a string")
    at_info = body.get("GroupAtInfo")
    if at_info is not None:
        if not isinstance(at_info, list) or not all(isinstance(a, dict) for a in at_info):
            raise ImError(bad, "GroupAtInfo must be an array of objects")
        if len(at_info) > MAX_GROUP_AT:
            raise ImError(codes.GROUP_TOO_MANY_AT, f"at most {MAX_GROUP_AT} GroupAtInfo items")
        for item in at_info:
            if item.get("GroupAtAllFlag", 0) not in (0, 1):
                raise ImError(bad, "GroupAtAllFlag must be 0 or 1")
            if item.get("GroupAtAllFlag", 0) == 0 and not valid_user_id(item.get("GroupAt_Account")):
                raise ImError(bad, "GroupAt_Account is required when GroupAtAllFlag is 0")
    topic = body.get("TopicId")
    if topic is not None and not isinstance(topic, str):
        raise ImError(bad, "TopicId must be a string")
    # docs/protocol.md §5.10: targeted delivery, read receipts, extensions and offline push, checked; the
    # call log keeps them as sent (who receives a targeted message is not emulated).
    check_receivers(body, bad)
    # docs/protocol.md §5.5: no SendMsgControl at all with OnlineOnlyFlag 1.
    if check_controls(body, GROUP_CONTROLS, bad) and online_only:
        raise ImError(bad, "SendMsgControl cannot be used with OnlineOnlyFlag 1")
    check_flags(body, ("NeedReadReceipt", "SupportMessageExtension"), bad)
    check_push_info(body, bad)
    return {
        "body": msg_body,
        "cloud_custom_data": ccd,
        "priority": priority,
        "online_only": bool(online_only),
        "at_info": at_info,
        "topic_id": topic,
    }


def send_group(
    svc: Service,
    caller: Caller,
    sender: str,
    group_id: str,
    *,
    msg_random: int,
    body: list[dict[str, Any]],
    cloud_custom_data: str,
    priority: str,
    online_only: bool,
    at_info: list[dict[str, Any]] | None,
    topic_id: str | None,
    forbid_before: bool = False,
    forbid_after: bool = False,
) -> SendResult:
    """One group message: dedupe, before-send, frequency control, store, after-send and bot."""
    settings = svc.settings()
    dedupe_key = (group_id, sender, msg_random)
    with svc.lock:
        send_id = next(svc.send_ids)
        group = svc.group(group_id)
        group_type = group.type
        original = _group_duplicate(svc, dedupe_key, settings)
        if original is not None:
            return pipeline.duplicate(svc, send_id, caller, original)
    fields: dict[str, Any] = {
        "GroupId": group_id,
        "Type": group_type,
        "From_Account": sender,
        "Operator_Account": caller.operator,
        "Random": msg_random,
        "OnlineOnlyFlag": 0 if group_type == "AVChatRoom" else int(online_only),  # docs/protocol.md §2.3
        "MsgBody": body,
        "CloudCustomData": cloud_custom_data,
    }
    if topic_id is not None:
        fields["TopicId"] = topic_id
    decision = pipeline.before_send(svc, "group", "Group.CallbackBeforeSendMsg", fields, caller, send_id, forbid_before)
    refused = pipeline.refusal(svc, "group", decision, send_id, caller, fields)
    if refused is not None:
        return refused
    final_body = decision.body if decision.body is not None else body
    final_ccd = decision.cloud_custom_data if decision.cloud_custom_data is not None else cloud_custom_data
    now = svc.now()
    with svc.lock:
        original = _group_duplicate(svc, dedupe_key, settings)
        if original is not None:
            return pipeline.duplicate(svc, send_id, caller, original)
        group = svc.group(group_id)
        if not admit_group_message(svc, group, priority, now, settings.group_msg_per_second):
            # docs/protocol.md §6.1: not delivered, not stored, no after-send; the sender is told success.
            # CHOICE: MsgSeq 0 in the answer, since no seq was assigned.
            entry = {
                "kind": "group",
                "send_id": send_id,
                "reason": "MsgFreqCtrl",
                "time": now,
                **fields,
                "MsgBody": final_body,
                "CloudCustomData": final_ccd,
                "MsgPriority": priority,
            }
            svc.dropped.append(entry)
            return SendResult(
                codes.OK,
                "",
                "dropped",
                send_id,
                reason="MsgFreqCtrl",
                msg_seq=0,
                msg_time=int(now),
                drop_reason="MsgFreqCtrl",
            )
        seq = group.next_seq
        group.next_seq += 1
        group.last_msg_time = int(now)
        if sender in group.members:
            group.members[sender].last_send = int(now)
        record = {
            "kind": "group",
            "send_id": send_id,
            "source": caller.source,
            **fields,
            "MsgBody": final_body,
            "CloudCustomData": final_ccd,
            "MsgSeq": seq,
            "MsgTime": int(now),
            "MsgPriority": priority,
            "stored": not online_only,
            "outcome": "rewritten" if decision.rewritten else "delivered",
            "history": [],
        }
        if at_info is not None:
            record["GroupAtInfo"] = at_info
        if decision.rewritten:
            record["sent"] = {"MsgBody": body, "CloudCustomData": cloud_custom_data}
        svc.messages.append(record)
        if not online_only:
            svc.group_msgs[(group_id, seq)] = record
        svc.group_dedupe[dedupe_key] = (now, record)
        svc.group_dedupe_order.append((now, dedupe_key))
        robots = [
            a["GroupAt_Account"]
            for a in at_info or []
            if a.get("GroupAtAllFlag", 0) == 0
            and a.get("GroupAt_Account") in svc.accounts
            and svc.accounts[a["GroupAt_Account"]].robot
        ]
    after_send = {
        **fields,
        "MsgBody": final_body,
        "CloudCustomData": final_ccd,
        "MsgSeq": seq,
        "MsgTime": int(now),
        "EventTime": svc.event_ms(),
    }
    if at_info is not None:
        after_send["GroupAtInfo"] = at_info
    jobs = []
    if not forbid_after and svc.callbacks.enabled("Group.CallbackAfterSendMsg"):
        jobs.append(svc.job("Group.CallbackAfterSendMsg", after_send, caller, send_id))
    if robots and svc.callbacks.enabled("Bot.OnGroupMessage"):
        # docs/protocol.md §2.6: only explicit @-mentions of robots, never @all; one callback naming them all.
        bot = {**after_send, "AtRobots_Account": list(dict.fromkeys(robots))}
        jobs.append(svc.job("Bot.OnGroupMessage", bot, caller, send_id))
    return SendResult(
        codes.OK, "", record["outcome"], send_id, message=record, msg_seq=seq, msg_time=int(now), after=jobs
    )


def _group_duplicate(svc: Service, key: tuple[str, str, int], settings: Settings) -> dict[str, Any] | None:
    """docs/protocol.md §6.4: the same sender's same Random in the same group within 5 minutes is a duplicate.

    CHOICE (docs/protocol.md §9 item 3): it is answered as a success carrying the ORIGINAL MsgSeq and MsgTime,
    so that a client's retry is idempotent. Only messages actually delivered are remembered:
    a message dropped by frequency control, rejected or discarded can be retried."""
    now = svc.now()
    window = settings.group_dedupe_seconds
    order = svc.group_dedupe_order
    while order and now - order[0][0] >= window:
        stored_at, stale = order.popleft()
        if svc.group_dedupe.get(stale, (None,))[0] == stored_at:
            del svc.group_dedupe[stale]
    found = svc.group_dedupe.get(key)
    if found is None or now - found[0] >= window:
        return None
    return found[1]


def admit_group_message(svc: Service, group: Group, priority: str, now: float, limit: int) -> bool:
    while group.window and group.window[0][0] <= now - 1.0:
        group.window.popleft()
    if len(group.window) >= priority_ceilings(limit)[priority]:
        return False
    group.window.append((now, priority))
    return True


def send_group_stream_msg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    """As the C2C one, into a group: the first call is a group message (a ``MsgSeq``, the
    group's frequency limit, answered with ``MsgDropReason`` as ``send_group_msg`` is)."""
    bad = codes.GROUP_PARAM_INVALID
    group_id, msg_random, sender = _addressing(svc, body)
    content = pipeline.stream_content(body.get("MsgBody"), bad, bad, codes.GROUP_BODY_TOO_LONG)
    settings = svc.settings()
    now = svc.now()
    with svc.lock:
        group = svc.group(group_id)
        if sender not in svc.accounts:
            raise ImError(bad, f"From_Account {sender} does not exist")
        scope = ("group", group_id, sender)
        starting = not content.get("StreamMsgID") and (scope, msg_random) not in svc.stream_starts
        if starting and not admit_group_message(svc, group, "Normal", now, settings.group_msg_per_second):
            svc.dropped.append(
                {
                    "kind": "group",
                    "send_id": next(svc.send_ids),
                    "reason": "MsgFreqCtrl",
                    "time": now,
                    "GroupId": group_id,
                    "From_Account": sender,
                    "Random": msg_random,
                    "MsgBody": body["MsgBody"],
                }
            )
            return Reply({"MsgTime": int(now), "MsgSeq": 0, "MsgDropReason": "MsgFreqCtrl"})

        def start() -> dict[str, Any]:
            msg_seq = group.next_seq
            group.next_seq += 1
            group.last_msg_time = int(now)
            record = {
                "kind": "group",
                "send_id": next(svc.send_ids),
                "source": caller.source,
                "GroupId": group_id,
                "Type": group.type,
                "From_Account": sender,
                "Operator_Account": caller.operator,
                "Random": msg_random,
                "OnlineOnlyFlag": 0,
                "MsgBody": [],
                "CloudCustomData": "",
                "MsgSeq": msg_seq,
                "MsgTime": int(now),
                "MsgPriority": "Normal",
                "stored": True,
                "outcome": "delivered",
                "history": [],
            }
            svc.messages.append(record)
            svc.group_msgs[(group_id, msg_seq)] = record
            return record

        stream = pipeline.stream_call(svc, scope, content, msg_random, now, start, codes.GROUP_BODY_TOO_LONG)
        record = stream.record
        return Reply(
            {
                "MsgTime": record["MsgTime"],
                "MsgSeq": record["MsgSeq"],
                "MsgDropReason": "",
                "StreamMsgID": stream.stream_id,
            }
        )


def modify_group_msg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.GROUP_PARAM_INVALID
    group_id = checked_group_id(body.get("GroupId"))
    seq = body.get("MsgSeq")
    if not is_int(seq) or seq < 1:
        raise ImError(bad, "MsgSeq is required and must be a positive integer")
    new_body, new_ccd = pipeline.modify_fields(svc, body, bad, codes.GROUP_BODY_TOO_LONG, bad)
    with svc.lock:
        group = svc.group(group_id)
        if group.type == "AVChatRoom":
            raise ImError(bad, "AVChatRoom messages cannot be modified")
        record = svc.group_msgs.get((group_id, seq))
        if record is None or record.get("recalled"):
            raise ImError(codes.MSG_NOT_FOUND, f"no stored message {seq} in group {group_id}")
    record = pipeline.modify(svc, ("group", group_id, seq), record, new_body, new_ccd, caller)
    callback = {
        "Operator_Account": caller.operator,
        "GroupId": group_id,
        "MsgSeq": seq,
        "MsgBody": record["MsgBody"],
        "EventTime": svc.event_ms(),
    }
    if "TopicId" in record:
        callback["TopicId"] = record["TopicId"]
    return pipeline.modified(svc, "Group.CallbackAfterModifyMsg", callback, caller)


def client_send_group(svc: Service, user: str, request: dict[str, Any]) -> SendResult | ImError:
    caller = pipeline.client_caller(user, request)
    try:
        group_id = checked_group_id(request.get("GroupId"))
        msg_random = request.get("Random")
        if msg_random is None:
            msg_random = random.randint(0, UINT32_MAX)
        elif not is_uint32(msg_random):
            raise ImError(codes.GROUP_PARAM_INVALID, "Random must be a uint32")
        common = _group_common(svc, request, CLIENT_ELEMENT_TYPES)
        with svc.lock:
            pipeline.client_account(svc, user)
            group = svc.group(group_id)
            if user not in group.members:
                raise ImError(codes.GROUP_NO_PERMISSION, f"{user} is not a member of {group_id}")
    except ImError as exc:
        return pipeline.client_rejected(svc, "group", user, request, exc)
    return send_group(svc, caller, user, group_id, msg_random=msg_random, **common)


def priority_ceilings(limit: int) -> dict[str, int]:
    """How full a group's one-second window may be for a message of each priority to get in.

    CHOICE (docs/protocol.md §6.1 says only "higher MsgPriority wins"): messages are answered one by one, so a
    later High message cannot displace an earlier Low one already delivered. Instead each lower
    priority keeps 10% of the window free for those above it: with 40/s, High is admitted while
    fewer than 40 messages were admitted in the last second, Normal below 36, Low below 32. In a
    burst, Low is dropped first, then Normal; High gets the last slots; the total never exceeds
    the limit. Within one priority it is first come, first served (Tencent: random).
    """
    reserve = math.ceil(limit * 0.1)
    return {
        "High": limit,
        "Normal": max(1, limit - reserve),
        "Low": max(1, limit - 2 * reserve),
    }
