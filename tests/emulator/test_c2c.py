"""openim/sendmsg (docs/protocol.md §5.3) and openim/batchsendmsg (§5.4): MsgKey, required fields, the 12 KB body
limit counted as Tencent counts it (§6.2), same-second de-duplication (§6.4), batch limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.tim_emulator import FakeClock
from tests.emulator.conftest import ADMIN, Rest, text

LIMIT = 12 * 1024


def compact_size(body: list[dict[str, Any]]) -> int:
    """What Tencent counts: UTF-8 bytes of JSON.stringify(MsgBody) (docs/protocol.md §6.2)."""
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())


def body_of_size(size: int) -> list[dict[str, Any]]:
    # Multi-byte characters included: the limit is in bytes, not characters.
    head = "é" * 100
    body = text(head)
    padding = size - compact_size(body)
    body = text(head + "x" * padding)
    assert compact_size(body) == size
    return body


def sendmsg(**fields: Any) -> dict[str, Any]:
    return {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 2718281828, "MsgBody": text("hi"), **fields}


def test_msgkey_is_seq_random_time(rest: Rest, clock: FakeClock, tim) -> None:
    answer = rest.ok("openim/sendmsg", sendmsg(MsgSeq=7, SyncOtherMachine=2))
    now = int(clock.now())
    assert answer["MsgTime"] == now
    assert answer["MsgKey"] == f"7_2718281828_{now}"
    [message] = tim.messages()
    assert (message["From_Account"], message["To_Account"], message["MsgKey"]) == ("alice", "bob", answer["MsgKey"])
    assert message["MsgBody"] == text("hi") and message["stored"] is True


def test_msgseq_is_made_up_when_not_given(rest: Rest) -> None:
    seq, msg_random, msg_time = rest.ok("openim/sendmsg", sendmsg())["MsgKey"].split("_")
    assert 0 <= int(seq) <= 0xFFFFFFFF and msg_random == "2718281828" and msg_time.isdigit()


def test_sender_defaults_to_the_admin(rest: Rest, tim) -> None:
    body = sendmsg()
    del body["From_Account"]
    rest.ok("openim/sendmsg", body)
    assert tim.messages()[0]["From_Account"] == ADMIN


@pytest.mark.parametrize("value", [None, "1", -1, 2**32, 1.5, True])
def test_msgrandom_is_a_required_uint32(rest: Rest, value: object) -> None:
    body = sendmsg(MsgRandom=value)
    if value is None:
        del body["MsgRandom"]
    assert rest("openim/sendmsg", body)["ErrorCode"] == 90005


def test_field_errors(rest: Rest) -> None:
    assert rest("openim/sendmsg", sendmsg(To_Account=None))["ErrorCode"] == 90003
    assert rest("openim/sendmsg", sendmsg(To_Account="ghost"))["ErrorCode"] == 20003
    assert rest("openim/sendmsg", sendmsg(From_Account="ghost"))["ErrorCode"] == 90008
    assert rest("openim/sendmsg", sendmsg(MsgSeq=-1))["ErrorCode"] == 90004
    assert rest("openim/sendmsg", sendmsg(MsgBody={"MsgType": "TIMTextElem"}))["ErrorCode"] == 90007
    assert rest("openim/sendmsg", sendmsg(MsgBody=[]))["ErrorCode"] == 90002
    assert rest("openim/sendmsg", sendmsg(MsgLifeTime=604801))["ErrorCode"] == 90026
    assert rest("openim/sendmsg", sendmsg(MsgLifeTime="1"))["ErrorCode"] == 90044


def test_only_the_rest_element_types_can_be_sent(rest: Rest) -> None:
    # docs/protocol.md §3: REST sends take the first eight element types; a merger only appears in callbacks.
    merger = [{"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "MsgNum": 0, "CompatibleText": "c"}}]
    assert rest("openim/sendmsg", sendmsg(MsgBody=merger))["ErrorCode"] == 90002
    assert (
        rest("openim/sendmsg", sendmsg(MsgBody=[{"MsgType": "TIMMadeUpElem", "MsgContent": {}}]))["ErrorCode"] == 90002
    )
    assert rest("openim/sendmsg", sendmsg(MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {}}]))["ErrorCode"] == 90002
    custom = {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}"}}
    assert rest("openim/sendmsg", sendmsg(MsgBody=[custom, custom]))["ErrorCode"] == 90002  # one per message


def test_body_limit_is_12_kb_of_compact_utf8_json(rest: Rest) -> None:
    assert rest.ok("openim/sendmsg", sendmsg(MsgBody=body_of_size(LIMIT)))
    too_big = rest("openim/sendmsg", sendmsg(MsgBody=body_of_size(LIMIT + 1)))
    assert too_big["ErrorCode"] == 93000 and "too long" in too_big["ErrorInfo"]


def test_online_only_messages_are_delivered_but_not_stored(rest: Rest, tim) -> None:
    answer = rest.ok("openim/sendmsg", sendmsg(MsgLifeTime=0))
    [message] = tim.messages()
    assert (message["OnlineOnlyFlag"], message["stored"]) == (1, False)
    modify = {"From_Account": "alice", "To_Account": "bob", "MsgKey": answer["MsgKey"], "MsgBody": text("x")}
    assert rest("openim/modify_c2c_msg", modify)["ErrorCode"] == 20026


def test_a_repeat_in_the_same_second_is_answered_with_the_original(rest: Rest, clock: FakeClock, tim) -> None:
    first = rest.ok("openim/sendmsg", sendmsg(MsgSeq=5))
    clock.advance(0.4)
    again = rest.ok("openim/sendmsg", sendmsg(MsgSeq=5))
    assert (again["MsgKey"], again["MsgTime"]) == (first["MsgKey"], first["MsgTime"])
    assert len(tim.messages()) == 1
    assert tim.dropped()[0]["reason"] == "duplicate"
    # docs/protocol.md §6.4: only within the same second; a later retry is a new message.
    clock.advance(1)
    later = rest.ok("openim/sendmsg", sendmsg(MsgSeq=5))
    assert later["MsgKey"] != first["MsgKey"]
    assert len(tim.messages()) == 2


def test_unread_count_follows_the_recipient(rest: Rest, tim) -> None:
    rest.ok("openim/sendmsg", sendmsg(MsgRandom=1))
    rest.ok("openim/sendmsg", sendmsg(MsgRandom=2, SendMsgControl=["NoUnread"]))
    rest.ok("openim/sendmsg", sendmsg(MsgRandom=3, MsgLifeTime=0))
    assert tim.state()["unread"] == {"bob": 1}


# ---------------------------------------------------------------------- batchsendmsg


def batch(recipients: list[Any], **fields: Any) -> dict[str, Any]:
    return {"From_Account": "alice", "To_Account": recipients, "MsgRandom": 99, "MsgBody": text("all"), **fields}


def test_batch_to_500_recipients(rest: Rest, tim) -> None:
    users = [f"user{n:03d}" for n in range(500)]
    for start in range(0, 500, 100):
        rest.ok("im_open_login_svc/multiaccount_import", {"Accounts": users[start : start + 100]})
    answer = rest.ok("openim/batchsendmsg", batch(users, MsgSeq=3))
    assert answer["MsgKey"].startswith("3_99_") and "ErrorList" not in answer
    assert len(tim.messages()) == 500
    assert rest("openim/batchsendmsg", batch([*users, "alice"]))["ErrorCode"] == 90011


def test_batch_with_missing_accounts_is_some_error(rest: Rest, tim) -> None:
    answer = rest("openim/batchsendmsg", batch(["bob", "ghost", "carol"]))
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("SomeError", 0)
    assert answer["ErrorList"] == [{"To_Account": "ghost", "ErrorCode": 70107}]
    assert answer["MsgKey"]
    assert sorted(m["To_Account"] for m in tim.messages()) == ["bob", "carol"]


def test_batch_where_nobody_exists_fails(rest: Rest) -> None:
    answer = rest("openim/batchsendmsg", batch(["ghost1", "ghost2"]))
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", 90012)
    assert [e["To_Account"] for e in answer["ErrorList"]] == ["ghost1", "ghost2"]


def test_batch_shares_the_limits_of_sendmsg(rest: Rest) -> None:
    assert rest("openim/batchsendmsg", batch(["bob"], MsgRandom=None))["ErrorCode"] == 90005
    assert rest("openim/batchsendmsg", batch(["bob"], MsgBody=body_of_size(LIMIT + 1)))["ErrorCode"] == 90055
    assert rest("openim/batchsendmsg", batch([]))["ErrorCode"] == 90003
