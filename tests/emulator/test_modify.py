"""modify_c2c_msg / modify_group_msg (docs/protocol.md §5.6): the stored message changes, its history is kept, a
missing message is 20026, and a modify meeting another one of the same message gets 20028."""

from __future__ import annotations

import threading
from typing import Any

from tests.emulator.conftest import ADMIN, CallbackServer, Rest, text


def sent_c2c(rest: Rest) -> str:
    return rest.ok(
        "openim/sendmsg",
        {"From_Account": "@RBT#assistant", "To_Account": "alice", "MsgRandom": 11, "MsgBody": text("Hel")},
    )["MsgKey"]


def c2c_modify(msg_key: str, **fields: Any) -> dict[str, Any]:
    return {"From_Account": "@RBT#assistant", "To_Account": "alice", "MsgKey": msg_key, **fields}


def test_modify_c2c_replaces_body_and_keeps_history(rest: Rest, tim) -> None:
    msg_key = sent_c2c(rest)
    answer = rest.ok("openim/modify_c2c_msg", c2c_modify(msg_key, MsgBody=text("Hello")))
    assert answer["ErrorInfo"] == "succeed"
    rest.ok("openim/modify_c2c_msg", c2c_modify(msg_key, CloudCustomData='{"done":1}'))
    [message] = tim.messages(MsgKey=msg_key)
    assert (message["MsgBody"], message["CloudCustomData"]) == (text("Hello"), '{"done":1}')
    assert [(h["MsgBody"], h["CloudCustomData"], h["Operator_Account"]) for h in message["history"]] == [
        (text("Hello"), "", ADMIN),
        (text("Hello"), '{"done":1}', ADMIN),
    ]


def test_modify_c2c_errors(rest: Rest) -> None:
    msg_key = sent_c2c(rest)
    assert rest("openim/modify_c2c_msg", c2c_modify("1_2_3", MsgBody=text("x")))["ErrorCode"] == 20026
    # The key identifies the message together with the two accounts.
    wrong_peer = {**c2c_modify(msg_key, MsgBody=text("x")), "To_Account": "bob"}
    assert rest("openim/modify_c2c_msg", wrong_peer)["ErrorCode"] == 20026
    assert rest("openim/modify_c2c_msg", c2c_modify(msg_key))["ErrorCode"] == 20001
    assert rest("openim/modify_c2c_msg", {"MsgKey": msg_key, "MsgBody": text("x")})["ErrorCode"] == 20001
    too_big = text("x" * 12300)
    assert rest("openim/modify_c2c_msg", c2c_modify(msg_key, MsgBody=too_big))["ErrorCode"] == 93000


def test_modify_group_message(rest: Rest, tim) -> None:
    seq = rest.ok("group_open_http_svc/send_group_msg", {"GroupId": "@TGS#demo", "Random": 3, "MsgBody": text("v1")})[
        "MsgSeq"
    ]
    rest.ok("openim/modify_group_msg", {"GroupId": "@TGS#demo", "MsgSeq": seq, "MsgBody": text("v2")})
    assert tim.messages(GroupId="@TGS#demo")[0]["MsgBody"] == text("v2")
    assert (
        rest("openim/modify_group_msg", {"GroupId": "@TGS#demo", "MsgSeq": seq + 1, "MsgBody": text("x")})["ErrorCode"]
        == 20026
    )
    assert (
        rest("openim/modify_group_msg", {"GroupId": "@TGS#none", "MsgSeq": seq, "MsgBody": text("x")})["ErrorCode"]
        == 10010
    )


def test_online_only_group_messages_cannot_be_modified(rest: Rest) -> None:
    seq = rest.ok(
        "group_open_http_svc/send_group_msg",
        {"GroupId": "@TGS#demo", "Random": 4, "OnlineOnlyFlag": 1, "MsgBody": text("now")},
    )["MsgSeq"]
    assert (
        rest("openim/modify_group_msg", {"GroupId": "@TGS#demo", "MsgSeq": seq, "MsgBody": text("x")})["ErrorCode"]
        == 20026
    )


def test_a_modify_meeting_another_in_progress_gets_20028(rest: Rest, emulator, tim) -> None:
    msg_key = sent_c2c(rest)
    emulator.configure(modify_latency_ms=5000)  # ended at teardown by the emulator's stop
    results: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: results.update(first=rest("openim/modify_c2c_msg", c2c_modify(msg_key, MsgBody=text("A"))))
    )
    first.start()
    try:
        tim.wait_until(lambda: tim.state()["modifies_in_progress"], what="the first modify to be in progress")
        conflict = rest("openim/modify_c2c_msg", c2c_modify(msg_key, MsgBody=text("B")))
        assert conflict["ErrorCode"] == 20028
        # Another message is not blocked by it.
        other = rest.ok(
            "openim/sendmsg", {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("x")}
        )["MsgKey"]
        emulator.configure(modify_latency_ms=0)
        rest.ok(
            "openim/modify_c2c_msg",
            {"From_Account": "alice", "To_Account": "bob", "MsgKey": other, "MsgBody": text("y")},
        )
    finally:
        emulator.stopping.set()  # lets the first modify finish now
        first.join()
    assert results["first"]["ErrorCode"] == 0
    assert tim.messages(MsgKey=msg_key)[0]["MsgBody"] == text("A")


def test_modify_fires_the_after_modify_callbacks(rest: Rest, tim, callbacks: CallbackServer) -> None:
    msg_key = rest.ok(
        "openim/sendmsg",
        {
            "From_Account": "@RBT#assistant",
            "To_Account": "alice",
            "MsgRandom": 5,
            "MsgBody": text("Hel"),
            "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"],
        },
    )["MsgKey"]
    rest.ok("openim/modify_c2c_msg", c2c_modify(msg_key, MsgBody=text("Hello")))
    seq = rest.ok(
        "group_open_http_svc/send_group_msg",
        {
            "GroupId": "@TGS#demo",
            "Random": 6,
            "MsgBody": text("g"),
            "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"],
        },
    )["MsgSeq"]
    rest.ok("openim/modify_group_msg", {"GroupId": "@TGS#demo", "MsgSeq": seq, "MsgBody": text("g2")})
    tim.wait_idle()
    c2c, group = callbacks.received
    assert c2c["command"] == "C2C.CallbackAfterModifyMsg"
    assert set(c2c["body"]) == {
        "CallbackCommand",
        "Operator_Account",
        "From_Account",
        "To_Account",
        "MsgSeq",
        "MsgRandom",
        "MsgTime",
        "MsgKey",
        "MsgBody",
        "CloudCustomData",
        "EventTime",
    }
    assert (c2c["body"]["MsgKey"], c2c["body"]["MsgBody"], c2c["body"]["Operator_Account"]) == (
        msg_key,
        text("Hello"),
        ADMIN,
    )
    assert group["command"] == "Group.CallbackAfterModifyMsg"
    assert set(group["body"]) == {"CallbackCommand", "Operator_Account", "GroupId", "MsgSeq", "MsgBody", "EventTime"}
    assert (group["body"]["MsgSeq"], group["body"]["MsgBody"]) == (seq, text("g2"))
