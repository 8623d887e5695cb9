"""The send pipeline's steps that C2C and group messages share: the before-send callback and
its refusals (docs/protocol.md §2.5, §1.4), duplicates (docs/protocol.md §6.4), modify
(docs/protocol.md §5.6), native stream calls (docs/protocol.md §8.4) and the simulated clients'
rejections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from local.tim_emulator import codes
from local.tim_emulator.callbacks import Decision, interpret_before_send
from local.tim_emulator.checks import is_int, valid_user_id
from local.tim_emulator.codes import ImError
from local.tim_emulator.core import Caller, Reply, SendResult, Service, Stream
from local.tim_emulator.elements import REST_ELEMENT_TYPES, check_body

# docs/protocol.md §6.1, stream API: a chunk at least every 15 s, at most 5 calls per second, a message under 128 KB.
STREAM_IDLE_SECONDS = 15.0
STREAM_CALLS_PER_SECOND = 5
STREAM_MAX_BYTES = 128 * 1024


def sender_of(svc: Service, body: dict[str, Any], invalid: int) -> str:
    """A send's From_Account (the app administrator when absent), refused with ``invalid`` if it is no UserID."""
    sender = body.get("From_Account", svc.identity.admin)
    if not valid_user_id(sender):
        raise ImError(invalid, "From_Account is not a valid UserID")
    return sender


def before_send(
    svc: Service,
    kind: Literal["c2c", "group"],
    command: str,
    fields: dict[str, Any],
    caller: Caller,
    send_id: int,
    forbidden: bool,
) -> Decision:
    if forbidden or not svc.callbacks.enabled(command):
        return Decision("skipped")
    body = {**fields, "EventTime": svc.event_ms()}
    generation = svc.callbacks.generation
    delivery = svc.callbacks.call(command, body, caller.platform, caller.client_ip, send_id)
    decision = interpret_before_send(kind, delivery)
    action = "rewrite" if decision.rewritten else decision.action
    delivery.record["decision"] = {"action": action, "code": decision.code, "reason": decision.reason}
    svc.callbacks.record(delivery.record, generation)
    return decision


def refusal(
    svc: Service,
    kind: Literal["c2c", "group"],
    decision: Decision,
    send_id: int,
    caller: Caller,
    fields: dict[str, Any],
) -> SendResult | None:
    """The before-send answer's refusals (docs/protocol.md §2.5) and the failure policy
    (docs/protocol.md §1.4), or None to deliver."""
    if decision.action == "failed" and svc.settings().before_send_failure_policy == "drop":
        decision = Decision(
            "reject",
            codes.CALLBACK_FAILED_DROP,
            "before-send callback failed or timed out",
            reason=f"callback failed: {decision.reason}",
        )
    entry = {"kind": kind, "send_id": send_id, "source": caller.source, "time": svc.now(), **fields}
    if decision.action == "reject":
        with svc.lock:
            svc.rejected.append(
                {**entry, "ErrorCode": decision.code, "ErrorInfo": decision.info, "reason": decision.reason}
            )
        return SendResult(decision.code, decision.info, "rejected", send_id, reason=decision.reason)
    if decision.action == "discard":
        # docs/protocol.md §2.5: discarded silently; the sender is told success. CHOICE: a group message gets
        # MsgSeq 0, as nothing was assigned; a C2C message keeps the MsgKey it was sent with.
        with svc.lock:
            svc.dropped.append({**entry, "reason": "callback discarded"})
        return SendResult(codes.OK, "", "discarded", send_id, reason="callback", msg_seq=0, msg_time=int(svc.now()))
    return None


def duplicate(svc: Service, send_id: int, caller: Caller, original: dict[str, Any]) -> SendResult:
    with svc.lock:
        svc.dropped.append(
            {
                "kind": original["kind"],
                "send_id": send_id,
                "source": caller.source,
                "time": svc.now(),
                "reason": "duplicate",
                "original_send_id": original["send_id"],
            }
        )
    return SendResult(
        codes.OK,
        "",
        "dropped",
        send_id,
        reason="duplicate",
        message=original,
        msg_key=original.get("MsgKey"),
        msg_time=original["MsgTime"],
        msg_seq=original.get("MsgSeq"),
    )


def stream_call(
    svc: Service,
    scope: tuple[Any, ...],
    content: dict[str, Any],
    msg_random: int,
    now: float,
    start: Callable[[], dict[str, Any]],
    too_long: int,
) -> Stream:
    """One call of a stream (under the lock): start it or continue it, then append its chunks.

    CHOICE (docs/protocol.md §6.4 by analogy): a call repeating an earlier call's random (a client's retry) is
    answered as that call was and changes nothing."""
    stream_id = content.get("StreamMsgID")
    if not stream_id:
        stream = svc.stream_starts.get((scope, msg_random))
        if stream is not None:
            return stream
        stream = Stream(f"{svc.ids.getrandbits(64):016x}", scope, start(), now)
        svc.streams[stream.stream_id] = stream
        svc.stream_starts[(scope, msg_random)] = stream
    else:
        found = svc.streams.get(stream_id)
        if found is None or found.scope != scope:
            raise ImError(codes.MSG_NOT_FOUND, "no stream message with this StreamMsgID from this sender")
        stream = found
        if msg_random in stream.randoms:
            return stream
        if stream.ended:
            raise ImError(codes.STREAM_ENDED, "the stream message has ended")
        if now - stream.last_time > STREAM_IDLE_SECONDS:
            stream.ended = True
            raise ImError(codes.STREAM_ENDED, f"more than {STREAM_IDLE_SECONDS:g} s since the last chunk: ended")
        while stream.calls and stream.calls[0] <= now - 1.0:
            stream.calls.popleft()
        if len(stream.calls) >= STREAM_CALLS_PER_SECOND:
            raise ImError(codes.RATE_LIMITED, f"at most {STREAM_CALLS_PER_SECOND} stream calls per second")
    chunks = content["Chunks"]
    expected = list(range(stream.last_index + 1, stream.last_index + 1 + len(chunks)))
    if [c["Index"] for c in chunks] != expected:
        raise ImError(codes.STREAM_INDEX_INVALID, f"chunk Index must continue the stream: expected {expected}")
    size = stream.size + sum(len(c["Markdown"].encode()) for c in chunks)
    if size >= STREAM_MAX_BYTES:
        raise ImError(too_long, f"the stream message would be {size} bytes, over {STREAM_MAX_BYTES}")
    stream.size = size
    stream.last_index = expected[-1]
    stream.last_time = now
    stream.calls.append(now)
    stream.randoms.add(msg_random)
    stream.ended = any(c["IsLast"] for c in chunks)
    record = stream.record
    previous = record["MsgBody"][0]["MsgContent"]["Chunks"] if record["MsgBody"] else []
    compatible = content.get("CompatibleText", "")
    record["MsgBody"] = [
        {
            "MsgType": "TIMStreamElem",
            "MsgContent": {
                "Chunks": [*previous, *chunks],
                "CompatibleText": compatible,
                "StreamMsgID": stream.stream_id,
            },
        }
    ]
    record["StreamMsgID"] = stream.stream_id
    record["stream_ended"] = stream.ended
    record["history"].append({"time": now, "Chunks": chunks, "CompatibleText": compatible})
    return stream


def modify_fields(
    svc: Service, body: dict[str, Any], bad: int, too_long: int, nothing: int
) -> tuple[list[dict[str, Any]] | None, str | None]:
    new_body = None
    if "MsgBody" in body:
        new_body = check_body(body["MsgBody"], REST_ELEMENT_TYPES, not_array=bad, bad=bad, too_long=too_long)
    new_ccd = body.get("CloudCustomData")
    if new_ccd is not None and not isinstance(new_ccd, str):
        raise ImError(bad, "CloudCustomData must be a string")
    if new_body is None and new_ccd is None:
        # CHOICE: a modify that changes nothing is a caller error, not a silent success.
        raise ImError(nothing, "give MsgBody and/or CloudCustomData to modify")
    return new_body, new_ccd


def modify(
    svc: Service,
    key: tuple[Any, ...],
    record: dict[str, Any],
    new_body: list[dict[str, Any]] | None,
    new_ccd: str | None,
    caller: Caller,
) -> dict[str, Any]:
    """docs/protocol.md §5.6: a modify arriving while another of the same message is in progress gets 20028.
    The in-progress window lasts ``modify_latency_ms``, so a test can meet it."""
    with svc.lock:
        if key in svc.modifying:
            raise ImError(codes.MODIFY_CONFLICT, "the message is being modified by another request")
        svc.modifying.add(key)
    try:
        latency = svc.settings().modify_latency_ms
        if latency:
            svc.stopping.wait(latency / 1000)
        with svc.lock:
            if new_body is not None:
                record["MsgBody"] = new_body
            if new_ccd is not None:
                record["CloudCustomData"] = new_ccd
            record["history"].append(
                {
                    "time": svc.now(),
                    "Operator_Account": caller.operator,
                    "MsgBody": record["MsgBody"],
                    "CloudCustomData": record["CloudCustomData"],
                }
            )
            return record
    finally:
        with svc.lock:
            svc.modifying.discard(key)


def modified(svc: Service, command: str, callback: dict[str, Any], caller: Caller) -> Reply:
    jobs = [svc.job(command, callback, caller, None)] if svc.callbacks.enabled(command) else []
    return Reply(info="succeed", after=jobs)  # docs/protocol.md §5.6 answers ErrorInfo "succeed"


def client_account(svc: Service, user: str) -> None:
    if user not in svc.accounts:
        raise ImError(codes.ACCOUNT_MISSING, f"{user} does not exist (import the account first)")


def client_rejected(svc: Service, kind: str, user: str, request: dict[str, Any], exc: ImError) -> ImError:
    with svc.lock:
        svc.rejected.append(
            {
                "kind": kind,
                "send_id": next(svc.send_ids),
                "source": "client",
                "time": svc.now(),
                "From_Account": user,
                **request,
                "ErrorCode": exc.code,
                "ErrorInfo": exc.info,
                "reason": "validation",
            }
        )
    return exc


def stream_content(raw: Any, not_array: int, bad: int, too_long: int) -> dict[str, Any]:
    """A stream call's MsgBody: one ``TIMStreamElem`` whose ``Chunks`` are ``{EventType, Index,
    Markdown, IsLast}`` (docs/protocol.md §8.4), within the 12 KB body limit. Returns its ``MsgContent``."""
    body = check_body(raw, frozenset({"TIMStreamElem"}), not_array=not_array, bad=bad, too_long=too_long)
    if len(body) != 1:
        raise ImError(bad, "a stream call's MsgBody is one TIMStreamElem")
    content = body[0].get("MsgContent")
    if not isinstance(content, dict):
        raise ImError(bad, "MsgContent must be an object")
    chunks = content.get("Chunks")
    if not isinstance(chunks, list) or not chunks:
        raise ImError(bad, "Chunks must be a non-empty array")
    for chunk in chunks:
        if not (
            isinstance(chunk, dict)
            and isinstance(chunk.get("EventType"), str)
            and is_int(chunk.get("Index"))
            and isinstance(chunk.get("Markdown"), str)
            and isinstance(chunk.get("IsLast"), bool)
        ):
            raise ImError(bad, "each chunk is {EventType: string, Index: integer, Markdown: string, IsLast: bool}")
    if any(chunk["IsLast"] for chunk in chunks[:-1]):
        raise ImError(bad, "only the last chunk may have IsLast")
    for name in ("CompatibleText", "StreamMsgID"):
        if name in content and not isinstance(content[name], str):
            raise ImError(bad, f"{name} must be a string")
    return content


def client_caller(user: str, request: dict[str, Any]) -> Caller:
    platform = request.get("OptPlatform", "Web")
    client_ip = request.get("ClientIP", "127.0.0.1")
    return Caller("client", str(platform), str(client_ip), user)
