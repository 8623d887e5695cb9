"""One-to-one messages (docs/protocol.md §5.3, §5.4, §5.6, §8.4): sendmsg, batchsendmsg,
modify_c2c_msg, send_c2c_stream_msg and a simulated client's C2C send, through the shared send
pipeline of :mod:`.pipeline`."""

from __future__ import annotations

import random
from typing import Any

from local.tim_emulator import codes, pipeline
from local.tim_emulator.checks import (
    C2C_CONTROLS,
    UINT32_MAX,
    check_controls,
    check_flags,
    check_push_info,
    forbidden_callbacks,
    is_int,
    is_uint32,
)
from local.tim_emulator.codes import ImError
from local.tim_emulator.core import Caller, Reply, SendResult, Service, conversation
from local.tim_emulator.elements import CLIENT_ELEMENT_TYPES, REST_ELEMENT_TYPES, check_body
from local.tim_emulator.friends import check_friendship

MAX_BATCH_RECIPIENTS = 500  # docs/protocol.md §5.4
MAX_MSG_LIFETIME = 604_800  # docs/protocol.md §5.3


def sendmsg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    sender = pipeline.sender_of(svc, body, codes.C2C_FROM_INVALID)
    to = body.get("To_Account")
    if not isinstance(to, str) or not to:
        raise ImError(codes.C2C_TO_MISSING, "To_Account is required")
    common = _c2c_common(svc, body, REST_ELEMENT_TYPES, codes.C2C_BODY_TOO_LONG)
    forbid = forbidden_callbacks(body)
    with svc.lock:
        if sender not in svc.accounts:
            raise ImError(codes.C2C_FROM_INVALID, f"From_Account {sender} does not exist")
        if to not in svc.accounts:
            raise ImError(codes.C2C_RECIPIENT_MISSING, f"To_Account {to} does not exist")
    result = send_c2c(
        svc,
        caller,
        sender,
        to,
        **common,
        forbid_before="ForbidBeforeSendMsgCallback" in forbid,
        forbid_after="ForbidAfterSendMsgCallback" in forbid,
    )
    if result.code != codes.OK:
        raise ImError(result.code, result.info)
    return Reply({"MsgTime": result.msg_time, "MsgKey": result.msg_key}, after=result.after)


def _c2c_common(svc: Service, body: dict[str, Any], allowed: frozenset[str], too_long: int) -> dict[str, Any]:
    """The fields sendmsg and batchsendmsg share."""
    seq, msg_random = _c2c_ids(body)
    stamp = body.get("MsgTimeStamp")
    if stamp is not None and not is_int(stamp):
        raise ImError(codes.C2C_TIMESTAMP_INVALID, "MsgTimeStamp must be an integer")
    lifetime = body.get("MsgLifeTime", MAX_MSG_LIFETIME)
    if not is_int(lifetime):
        raise ImError(codes.C2C_LIFETIME_NOT_INT, "MsgLifeTime must be an integer")
    if not 0 <= lifetime <= MAX_MSG_LIFETIME:
        raise ImError(codes.C2C_LIFETIME_INVALID, f"MsgLifeTime must be 0-{MAX_MSG_LIFETIME} seconds")
    msg_body = check_body(
        body.get("MsgBody"),
        allowed,
        not_array=codes.C2C_BODY_NOT_ARRAY,
        bad=codes.C2C_BODY_FORMAT,
        too_long=too_long,
    )
    ccd = body.get("CloudCustomData", "")
    if not isinstance(ccd, str):
        raise ImError(codes.C2C_BODY_FORMAT, "CloudCustomData must be a string")
    control = check_controls(body, C2C_CONTROLS, codes.C2C_BODY_FORMAT)
    # docs/protocol.md §5.10 (batchsendmsg documents no SupportMessageExtension: checked all the same).
    check_flags(body, ("IsNeedReadReceipt", "SupportMessageExtension"), codes.C2C_BODY_FORMAT)
    check_push_info(body, codes.C2C_BODY_FORMAT)
    return {
        "body": msg_body,
        "cloud_custom_data": ccd,
        "msg_seq": seq,
        "msg_random": msg_random,
        "msg_time": stamp,
        # docs/protocol.md §5.3: MsgLifeTime 0 = online only, not stored.
        "online_only": lifetime == 0,
        "no_unread": "NoUnread" in control,
    }


def batchsendmsg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    sender = pipeline.sender_of(svc, body, codes.C2C_FROM_INVALID)
    recipients = body.get("To_Account")
    if not isinstance(recipients, list) or not recipients:
        raise ImError(codes.C2C_TO_MISSING, "To_Account must be a non-empty array")
    if len(recipients) > MAX_BATCH_RECIPIENTS:
        raise ImError(codes.BATCH_TOO_MANY, f"at most {MAX_BATCH_RECIPIENTS} To_Account per call")
    common = _c2c_common(svc, body, REST_ELEMENT_TYPES, codes.BATCH_BODY_TOO_LONG)
    now = svc.now()
    msg_time = common["msg_time"] if common["msg_time"] is not None else int(now)
    with svc.lock:
        if sender not in svc.accounts:
            raise ImError(codes.C2C_FROM_INVALID, f"From_Account {sender} does not exist")
        seq = common["msg_seq"] if common["msg_seq"] is not None else svc.ids.randint(0, UINT32_MAX)
        msg_key = f"{seq}_{common['msg_random']}_{msg_time}"
        errors, delivered = [], 0
        for to in dict.fromkeys(r if isinstance(r, str) else repr(r) for r in recipients):
            if to not in svc.accounts:
                errors.append({"To_Account": to, "ErrorCode": codes.ACCOUNT_MISSING})
                continue
            # docs/protocol.md §5.4: batchsendmsg fires no callbacks at all.
            store_c2c(
                svc,
                next(svc.send_ids),
                "batch",
                sender,
                to,
                seq,
                common["msg_random"],
                msg_time,
                msg_key,
                common["body"],
                common["cloud_custom_data"],
                common["online_only"],
                common["no_unread"],
                sent=None,
            )
            delivered += 1
    if not delivered:
        return Reply({"ErrorList": errors}, "FAIL", codes.BATCH_NONE_DELIVERED, "no recipient exists")
    if errors:
        return Reply({"MsgKey": msg_key, "ErrorList": errors}, "SomeError")
    return Reply({"MsgKey": msg_key})


def send_c2c(
    svc: Service,
    caller: Caller,
    sender: str,
    to: str,
    *,
    body: list[dict[str, Any]],
    cloud_custom_data: str,
    msg_seq: int | None,
    msg_random: int,
    msg_time: int | None,
    online_only: bool,
    no_unread: bool = False,
    forbid_before: bool = False,
    forbid_after: bool = False,
) -> SendResult:
    """One C2C message through the pipeline: dedupe, before-send, store, after-send and bot."""
    now = svc.now()
    msg_time = int(now) if msg_time is None else msg_time
    with svc.lock:
        send_id = next(svc.send_ids)
        if msg_seq is None and caller.source == "client":
            # A client SDK numbers its own messages per conversation.
            msg_seq = svc.c2c_seq[(sender, to)] = svc.c2c_seq.get((sender, to), 0) + 1
        # docs/protocol.md §6.4: MsgRandom (and MsgSeq when given) de-duplicate within the same second.
        # CHOICE (docs/protocol.md §9 item 3): the duplicate is answered as a success with the original MsgKey.
        dedupe_key = (sender, to, msg_random, msg_seq, int(now))
        _prune_dedupe(svc, int(now))
        original = svc.c2c_dedupe.get(dedupe_key)
        if original is not None:
            return pipeline.duplicate(svc, send_id, caller, original)
        seq = msg_seq if msg_seq is not None else svc.ids.randint(0, UINT32_MAX)
        tinyid = svc.accounts[sender].tinyid
    msg_key = f"{seq}_{msg_random}_{msg_time}"
    fields = {
        "From_Account": sender,
        "To_Account": to,
        "MsgSeq": seq,
        "MsgRandom": msg_random,
        "MsgTime": msg_time,
        "MsgKey": msg_key,
        "MsgId": f"{tinyid}-{msg_time}-{msg_random}",
        "OnlineOnlyFlag": int(online_only),
        "MsgBody": body,
        "CloudCustomData": cloud_custom_data,
    }
    decision = pipeline.before_send(svc, "c2c", "C2C.CallbackBeforeSendMsg", fields, caller, send_id, forbid_before)
    refused = pipeline.refusal(svc, "c2c", decision, send_id, caller, fields)
    if refused is not None:
        if refused.code == codes.OK:  # discarded: the sender believes it was sent
            refused.msg_key, refused.msg_time = msg_key, msg_time
        return refused
    final_body = decision.body if decision.body is not None else body
    final_ccd = decision.cloud_custom_data if decision.cloud_custom_data is not None else cloud_custom_data
    with svc.lock:
        original = svc.c2c_dedupe.get(dedupe_key)  # a concurrent twin may have won meanwhile
        if original is not None:
            return pipeline.duplicate(svc, send_id, caller, original)
        sent = {"MsgBody": body, "CloudCustomData": cloud_custom_data} if decision.rewritten else None
        record = store_c2c(
            svc,
            send_id,
            caller.source,
            sender,
            to,
            seq,
            msg_random,
            msg_time,
            msg_key,
            final_body,
            final_ccd,
            online_only,
            no_unread,
            sent,
        )
        svc.c2c_dedupe[dedupe_key] = record
        svc.c2c_dedupe_order.append(dedupe_key)
        unread = svc.unread.get(to, 0)
        to_robot = svc.accounts[to].robot
    after = {**fields, "MsgBody": final_body, "CloudCustomData": final_ccd}
    after_send = {
        **after,
        "EventTime": svc.event_ms(),
        "SendMsgResult": 0,
        "ErrorInfo": "send msg succeed",
        "UnreadMsgNum": unread,
    }
    jobs = []
    if not forbid_after and svc.callbacks.enabled("C2C.CallbackAfterSendMsg"):
        jobs.append(svc.job("C2C.CallbackAfterSendMsg", after_send, caller, send_id))
    if to_robot and svc.callbacks.enabled("Bot.OnC2CMessage"):
        # docs/protocol.md §2.6: the after-send fields. ForbidCallbackControl names the send callbacks only, so
        # a robot still hears of a message sent to it with them switched off.
        bot = {k: v for k, v in after_send.items() if k not in ("MsgId", "EventTime")}
        jobs.append(svc.job("Bot.OnC2CMessage", bot, caller, send_id))
    return SendResult(
        codes.OK, "", record["outcome"], send_id, message=record, msg_key=msg_key, msg_time=msg_time, after=jobs
    )


def store_c2c(
    svc: Service,
    send_id: int,
    source: str,
    sender: str,
    to: str,
    seq: int,
    msg_random: int,
    msg_time: int,
    msg_key: str,
    body: list[dict[str, Any]],
    ccd: str,
    online_only: bool,
    no_unread: bool,
    sent: dict[str, Any] | None,
) -> dict[str, Any]:
    record = {
        "kind": "c2c",
        "send_id": send_id,
        "source": source,
        "From_Account": sender,
        "To_Account": to,
        "MsgSeq": seq,
        "MsgRandom": msg_random,
        "MsgTime": msg_time,
        "MsgKey": msg_key,
        "MsgBody": body,
        "CloudCustomData": ccd,
        "OnlineOnlyFlag": int(online_only),
        # Online-only messages are delivered but not stored, so they cannot be modified (docs/protocol.md §5.6).
        "stored": not online_only,
        # Counted in the recipient's unread total until read (admin_set_msg_read) or recalled.
        "unread": not online_only and not no_unread,
        "outcome": "rewritten" if sent is not None else "delivered",
        "history": [],
    }
    if sent is not None:
        record["sent"] = sent
    svc.messages.append(record)
    if not online_only:
        svc.c2c[(sender, to, msg_key)] = record
        svc.conversations.setdefault(conversation(sender, to), []).append(record)
        if not no_unread:
            svc.unread[to] = svc.unread.get(to, 0) + 1
    return record


def _prune_dedupe(svc: Service, second: int) -> None:
    order = svc.c2c_dedupe_order
    while order and order[0][-1] < second - 1:
        svc.c2c_dedupe.pop(order.popleft(), None)


def send_c2c_stream_msg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    """The first call (no ``StreamMsgID``) stores a new C2C message and answers its
    ``StreamMsgID`` with ``MsgKey`` and ``MsgTime`` (CHOICE: the protocol document gives only the
    ``StreamMsgID``; the message's identity is answered as ``sendmsg`` does); every call appends
    its chunks. CHOICE: stream messages fire no callbacks (the protocol document names none)."""
    sender = pipeline.sender_of(svc, body, codes.C2C_FROM_INVALID)
    to = body.get("To_Account")
    if not isinstance(to, str) or not to:
        raise ImError(codes.C2C_TO_MISSING, "To_Account is required")
    seq, msg_random = _c2c_ids(body)
    content = pipeline.stream_content(
        body.get("MsgBody"), codes.C2C_BODY_NOT_ARRAY, codes.C2C_BODY_FORMAT, codes.C2C_BODY_TOO_LONG
    )
    now = svc.now()
    with svc.lock:
        for account, name in ((sender, "From_Account"), (to, "To_Account")):
            if account not in svc.accounts:
                code = codes.C2C_FROM_INVALID if name == "From_Account" else codes.C2C_RECIPIENT_MISSING
                raise ImError(code, f"{name} {account} does not exist")
        scope = ("c2c", sender, to)

        def start() -> dict[str, Any]:
            msg_seq = seq if seq is not None else svc.ids.randint(0, UINT32_MAX)
            msg_time = int(now)
            return store_c2c(
                svc,
                next(svc.send_ids),
                caller.source,
                sender,
                to,
                msg_seq,
                msg_random,
                msg_time,
                f"{msg_seq}_{msg_random}_{msg_time}",
                [],
                "",
                online_only=False,
                no_unread=False,
                sent=None,
            )

        stream = pipeline.stream_call(svc, scope, content, msg_random, now, start, codes.C2C_BODY_TOO_LONG)
        record = stream.record
        return Reply({"MsgTime": record["MsgTime"], "MsgKey": record["MsgKey"], "StreamMsgID": stream.stream_id})


def modify_c2c_msg(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.MODIFY_INVALID
    sender = body.get("From_Account")
    to = body.get("To_Account")
    msg_key = body.get("MsgKey")
    if not all(isinstance(v, str) and v for v in (sender, to, msg_key)):
        raise ImError(bad, "From_Account, To_Account and MsgKey are required")
    new_body, new_ccd = pipeline.modify_fields(svc, body, codes.C2C_BODY_FORMAT, codes.C2C_BODY_TOO_LONG, bad)
    key = ("c2c", sender, to, msg_key)
    with svc.lock:
        record = svc.c2c.get((sender, to, msg_key))
        # A recalled message is gone: there is nothing left to modify.
        if record is None or record.get("recalled"):
            raise ImError(codes.MSG_NOT_FOUND, "no stored message with this MsgKey between these accounts")
    record = pipeline.modify(svc, key, record, new_body, new_ccd, caller)
    callback = {
        "Operator_Account": caller.operator,
        **{
            k: record[k]
            for k in (
                "From_Account",
                "To_Account",
                "MsgSeq",
                "MsgRandom",
                "MsgTime",
                "MsgKey",
                "MsgBody",
                "CloudCustomData",
            )
        },
        "EventTime": svc.event_ms(),
    }
    return pipeline.modified(svc, "C2C.CallbackAfterModifyMsg", callback, caller)


def client_send_c2c(svc: Service, user: str, request: dict[str, Any]) -> SendResult | ImError:
    """A user sending from a client SDK (not REST): the callbacks say OptPlatform e.g. Web."""
    caller = pipeline.client_caller(user, request)
    to = request.get("To_Account")
    try:
        if not isinstance(to, str) or not to:
            raise ImError(codes.C2C_TO_MISSING, "To_Account is required")
        online_only = request.get("OnlineOnlyFlag", 0) == 1
        msg_body = check_body(
            request.get("MsgBody"),
            CLIENT_ELEMENT_TYPES,
            not_array=codes.C2C_BODY_NOT_ARRAY,
            bad=codes.C2C_BODY_FORMAT,
            too_long=codes.C2C_BODY_TOO_LONG,
        )
        ccd = request.get("CloudCustomData", "")
        if not isinstance(ccd, str):
            raise ImError(codes.C2C_BODY_FORMAT, "CloudCustomData must be a string")
        msg_random = request.get("MsgRandom")
        if msg_random is None:
            msg_random = random.randint(0, UINT32_MAX)
        elif not is_uint32(msg_random):
            raise ImError(codes.C2C_RANDOM_INVALID, "MsgRandom must be a uint32")
        with svc.lock:
            pipeline.client_account(svc, user)
            if to not in svc.accounts:
                raise ImError(codes.C2C_RECIPIENT_MISSING, f"To_Account {to} does not exist")
            check_friendship(svc, user, to)
    except ImError as exc:
        return pipeline.client_rejected(svc, "c2c", user, request, exc)
    return send_c2c(
        svc,
        caller,
        user,
        to,
        body=msg_body,
        cloud_custom_data=ccd,
        msg_seq=request.get("MsgSeq"),
        msg_random=msg_random,
        msg_time=None,
        online_only=online_only,
    )


def _c2c_ids(body: dict[str, Any]) -> tuple[Any, Any]:
    """(MsgSeq, MsgRandom) of a C2C send (sendmsg, batchsendmsg, send_c2c_stream_msg), checked with
    its SyncOtherMachine, as docs/protocol.md §5.3 has them: MsgSeq optional, MsgRandom required, both uint32."""
    seq = body.get("MsgSeq")
    if seq is not None and not is_uint32(seq):
        raise ImError(codes.C2C_SEQ_INVALID, "MsgSeq must be a uint32")
    msg_random = body.get("MsgRandom")
    if not is_uint32(msg_random):
        raise ImError(codes.C2C_RANDOM_INVALID, "MsgRandom is required and must be a uint32")
    sync = body.get("SyncOtherMachine")
    if sync is not None and not is_int(sync):
        raise ImError(codes.C2C_SYNC_INVALID, "SyncOtherMachine must be an integer")
    return seq, msg_random
