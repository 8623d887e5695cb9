"""The emulator toward the app's callback URL (docs/protocol.md §1, §2): the request it makes, the order of the
callbacks, how the before-send answer is applied (§2.5), the failure policy (§1.4),
ForbidCallbackControl and batchsendmsg (§5.3, §5.4), and the bot callbacks (§2.6)."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest

from local.tim_emulator import FakeClock
from local.tim_emulator.control import EmulatorControl
from tests.emulator.conftest import ACK, ADMIN, APP, TOKEN, CallbackServer, Rest, text

C2C_BEFORE = {
    "CallbackCommand",
    "From_Account",
    "To_Account",
    "MsgSeq",
    "MsgRandom",
    "MsgTime",
    "MsgKey",
    "MsgId",
    "OnlineOnlyFlag",
    "MsgBody",
    "CloudCustomData",
    "EventTime",
}
C2C_AFTER = C2C_BEFORE | {"SendMsgResult", "ErrorInfo", "UnreadMsgNum"}
GROUP_BEFORE = {
    "CallbackCommand",
    "GroupId",
    "Type",
    "From_Account",
    "Operator_Account",
    "Random",
    "OnlineOnlyFlag",
    "MsgBody",
    "CloudCustomData",
    "EventTime",
}
GROUP_AFTER = GROUP_BEFORE | {"MsgSeq", "MsgTime"}

pytestmark = pytest.mark.usefixtures("callbacks")


def answer_with(callbacks: CallbackServer, before: Any) -> None:
    callbacks.answer = lambda command, body: before if command.endswith("BeforeSendMsg") else ACK


# ---------------------------------------------------------------------- the request


def test_c2c_from_a_client_calls_before_then_after(tim, callbacks: CallbackServer, clock: FakeClock) -> None:
    answer = tim.send_c2c("alice", "bob", "hello", CloudCustomData="cc")
    assert (answer["ErrorCode"], answer["outcome"]) == (0, "delivered")
    tim.wait_idle()
    before, after = callbacks.received
    assert (before["command"], after["command"]) == ("C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterSendMsg")
    now = int(clock.now())
    assert before["query"] == {
        "SdkAppid": str(APP),
        "CallbackCommand": "C2C.CallbackBeforeSendMsg",
        "contenttype": "json",
        "ClientIP": "127.0.0.1",
        "OptPlatform": "Web",
        "RequestTime": str(now),
        # docs/protocol.md §1.2: lowercase hex SHA-256 of the token followed by RequestTime.
        "Sign": hashlib.sha256(f"{TOKEN}{now}".encode()).hexdigest(),
    }
    body = before["body"]
    assert set(body) == C2C_BEFORE
    assert (body["From_Account"], body["To_Account"], body["MsgBody"], body["CloudCustomData"]) == (
        "alice",
        "bob",
        text("hello"),
        "cc",
    )
    assert body["MsgKey"] == f"{body['MsgSeq']}_{body['MsgRandom']}_{body['MsgTime']}" == answer["MsgKey"]
    assert (body["MsgTime"], body["EventTime"], body["OnlineOnlyFlag"]) == (now, now * 1000, 0)
    assert body["MsgId"].endswith(f"-{now}-{body['MsgRandom']}")
    assert set(after["body"]) == C2C_AFTER
    assert (after["body"]["SendMsgResult"], after["body"]["ErrorInfo"], after["body"]["UnreadMsgNum"]) == (
        0,
        "send msg succeed",
        1,
    )


def test_group_from_a_client_calls_before_then_after(tim, callbacks: CallbackServer) -> None:
    answer = tim.send_group("bob", "@TGS#demo", "hi all", Random=4242)
    tim.wait_idle()
    before, after = callbacks.received
    assert set(before["body"]) == GROUP_BEFORE
    assert (before["body"]["Random"], before["body"]["Type"], before["body"]["Operator_Account"]) == (
        4242,
        "Public",
        "bob",
    )
    assert set(after["body"]) == GROUP_AFTER
    assert (after["body"]["MsgSeq"], after["body"]["MsgTime"]) == (answer["MsgSeq"], answer["MsgTime"])


def test_no_token_means_no_sign(tim, emulator, callbacks: CallbackServer) -> None:
    emulator.configure(callback_token=None)
    tim.send_c2c("alice", "bob", "hello")
    tim.wait_idle()
    assert all("Sign" not in r["query"] and "RequestTime" not in r["query"] for r in callbacks.received)


def test_rest_sends_call_back_as_restapi(rest: Rest, tim, callbacks: CallbackServer) -> None:
    rest.ok("openim/sendmsg", {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("x")})
    tim.wait_idle()  # one message's after-send and the next one's before-send may cross
    rest.ok("group_open_http_svc/send_group_msg", {"GroupId": "@TGS#demo", "Random": 2, "MsgBody": text("y")})
    tim.wait_idle()
    assert callbacks.commands() == [
        "C2C.CallbackBeforeSendMsg",
        "C2C.CallbackAfterSendMsg",
        "Group.CallbackBeforeSendMsg",
        "Group.CallbackAfterSendMsg",
    ]
    assert {r["query"]["OptPlatform"] for r in callbacks.received} == {"RESTAPI"}
    group = callbacks.received[2]["body"]
    # The admin sends when no From_Account is given, and is always the operator of a REST send.
    assert (group["From_Account"], group["Operator_Account"]) == (ADMIN, ADMIN)


def test_after_send_waits_for_the_senders_answer(rest: Rest, tim, callbacks: CallbackServer) -> None:
    gate = callbacks.hold("C2C.CallbackAfterSendMsg")
    # The REST answer comes while the after-send callback is still unanswered.
    answer = rest.ok(
        "openim/sendmsg", {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("x")}
    )
    assert answer["MsgKey"]
    assert not gate.is_set()
    gate.set()
    [after] = tim.wait_callbacks(1, command="C2C.CallbackAfterSendMsg")
    assert after["status"] == 200


# ---------------------------------------------------------------------- the before-send answer


def test_rewrite_replaces_body_and_custom_data_everywhere(tim, callbacks: CallbackServer) -> None:
    answer_with(callbacks, {**ACK, "MsgBody": text("well **** it"), "CloudCustomData": '{"audited":1}'})
    answer = tim.send_c2c("alice", "bob", "well darn it")
    assert (answer["ErrorCode"], answer["outcome"]) == (0, "rewritten")
    message = answer["message"]
    assert (message["MsgBody"], message["CloudCustomData"]) == (text("well **** it"), '{"audited":1}')
    assert message["sent"] == {"MsgBody": text("well darn it"), "CloudCustomData": ""}
    tim.wait_idle()
    after = callbacks.received[1]["body"]
    assert (after["MsgBody"], after["CloudCustomData"]) == (text("well **** it"), '{"audited":1}')
    assert tim.messages()[0]["MsgBody"] == text("well **** it")


def test_custom_data_alone_can_be_rewritten(tim, callbacks: CallbackServer) -> None:
    answer_with(callbacks, {**ACK, "CloudCustomData": "tag"})
    message = tim.send_group("alice", "@TGS#demo", "hi")["message"]
    assert (message["MsgBody"], message["CloudCustomData"]) == (text("hi"), "tag")


@pytest.mark.parametrize(("kind", "code"), [("c2c", 20006), ("group", 10016)])
def test_reject(tim, callbacks: CallbackServer, kind: str, code: int) -> None:
    answer_with(callbacks, {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 1})
    answer = tim.send_c2c("alice", "bob", "x") if kind == "c2c" else tim.send_group("alice", "@TGS#demo", "x")
    assert (answer["ErrorCode"], answer["outcome"]) == (code, "rejected")
    tim.wait_idle()
    assert len(callbacks.received) == 1  # docs/protocol.md §2.2: no after-send for a rejected message
    assert tim.messages() == [] and tim.rejected()[0]["ErrorCode"] == code


@pytest.mark.parametrize(("kind", "code"), [("c2c", 120042), ("c2c", 130000), ("group", 10100), ("group", 10200)])
def test_custom_codes_reach_the_sender(tim, callbacks: CallbackServer, kind: str, code: int) -> None:
    answer_with(callbacks, {"ActionStatus": "OK", "ErrorInfo": "blocked by policy", "ErrorCode": code})
    answer = tim.send_c2c("alice", "bob", "x") if kind == "c2c" else tim.send_group("alice", "@TGS#demo", "x")
    assert (answer["ErrorCode"], answer["ErrorInfo"], answer["outcome"]) == (code, "blocked by policy", "rejected")


def test_a_code_outside_the_ranges_is_a_failed_callback(tim, emulator, callbacks: CallbackServer) -> None:
    answer_with(callbacks, {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 10100})  # a group code, on C2C
    assert tim.send_c2c("alice", "bob", "x")["outcome"] == "delivered"
    emulator.configure(before_send_failure_policy="drop")
    assert tim.send_c2c("alice", "bob", "x")["ErrorCode"] == 80003


@pytest.mark.parametrize("kind", ["c2c", "group"])
def test_discard_tells_the_sender_success_and_stores_nothing(tim, callbacks: CallbackServer, kind: str) -> None:
    answer_with(callbacks, {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 2})
    answer = tim.send_c2c("alice", "bob", "x") if kind == "c2c" else tim.send_group("alice", "@TGS#demo", "x")
    assert (answer["ErrorCode"], answer["outcome"]) == (0, "discarded")
    tim.wait_idle()
    assert len(callbacks.received) == 1
    assert tim.messages() == [] and tim.dropped()[0]["reason"] == "callback discarded"


@pytest.mark.parametrize(
    "failure",
    [
        (500, b'{"ActionStatus":"OK","ErrorCode":1}'),
        (200, b"<html>oops</html>"),
        (200, b"[]"),
        (200, b'{"ActionStatus":"OK","ErrorCode":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{}}]}'),
    ],
)
def test_failure_policy_for_broken_answers(tim, emulator, callbacks: CallbackServer, failure: Any) -> None:
    answer_with(callbacks, failure)
    answer = tim.send_c2c("alice", "bob", "as sent")
    # docs/protocol.md §1.4: Tencent's default is to deliver as if allowed, unmodified.
    assert (answer["ErrorCode"], answer["outcome"], answer["message"]["MsgBody"]) == (0, "delivered", text("as sent"))
    emulator.configure(before_send_failure_policy="drop")
    dropped = tim.send_group("alice", "@TGS#demo", "as sent")
    assert (dropped["ErrorCode"], dropped["outcome"]) == (80003, "rejected")
    tim.wait_idle()
    before = tim.callbacks(command="C2C.CallbackBeforeSendMsg")[0]
    assert before["decision"]["action"] == "failed" and before["decision"]["reason"]


def test_failure_policy_on_timeout(tim, emulator, callbacks: CallbackServer) -> None:
    callbacks.hold("C2C.CallbackBeforeSendMsg")  # never answered in time
    emulator.configure(callback_timeout_s=0.2)
    answer = tim.send_c2c("alice", "bob", "x")
    assert (answer["ErrorCode"], answer["outcome"]) == (0, "delivered")
    [record] = tim.callbacks(command="C2C.CallbackBeforeSendMsg")
    assert "timed out" in record["error"] and record["status"] is None
    emulator.configure(before_send_failure_policy="drop")
    assert tim.send_c2c("alice", "bob", "y")["ErrorCode"] == 80003


# ---------------------------------------------------------------------- which callbacks fire


def test_forbid_callback_control(rest: Rest, tim, callbacks: CallbackServer) -> None:
    def send(random: int, forbid: list[str]) -> None:
        rest.ok(
            "openim/sendmsg",
            {
                "From_Account": "alice",
                "To_Account": "bob",
                "MsgRandom": random,
                "MsgBody": text("x"),
                "ForbidCallbackControl": forbid,
            },
        )
        tim.wait_idle()

    send(1, ["ForbidBeforeSendMsgCallback"])
    assert callbacks.commands() == ["C2C.CallbackAfterSendMsg"]
    send(2, ["ForbidAfterSendMsgCallback"])
    assert callbacks.commands()[1:] == ["C2C.CallbackBeforeSendMsg"]
    send(3, ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"])
    assert len(callbacks.received) == 2
    rest.ok(
        "group_open_http_svc/send_group_msg",
        {
            "GroupId": "@TGS#demo",
            "Random": 1,
            "MsgBody": text("y"),
            "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback"],
        },
    )
    tim.wait_idle()
    assert callbacks.commands()[2:] == ["Group.CallbackAfterSendMsg"]


def test_batchsendmsg_fires_no_callbacks(rest: Rest, tim, callbacks: CallbackServer) -> None:
    rest.ok(
        "openim/batchsendmsg",
        {"From_Account": "alice", "To_Account": ["bob", "@RBT#assistant"], "MsgRandom": 1, "MsgBody": text("x")},
    )
    tim.wait_idle()
    assert callbacks.received == [] and len(tim.messages()) == 2


def test_commands_can_be_switched_off(tim, emulator, callbacks: CallbackServer) -> None:
    emulator.configure(callback_commands=["C2C.CallbackAfterSendMsg"])
    tim.send_c2c("alice", "bob", "x")
    tim.wait_idle()
    assert callbacks.commands() == ["C2C.CallbackAfterSendMsg"]


def test_bot_c2c_after_the_after_send(tim, callbacks: CallbackServer) -> None:
    answer_with(callbacks, {**ACK, "MsgBody": text("hello bot (checked)")})
    tim.send_c2c("alice", "@RBT#assistant", "hello bot")
    tim.wait_idle()
    assert callbacks.commands() == ["C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterSendMsg", "Bot.OnC2CMessage"]
    bot = callbacks.received[2]["body"]
    assert set(bot) == C2C_AFTER - {"MsgId", "EventTime"}
    assert (bot["To_Account"], bot["MsgBody"]) == ("@RBT#assistant", text("hello bot (checked)"))


def test_bot_group_only_for_robots_mentioned(tim, callbacks: CallbackServer) -> None:
    at = [
        {"GroupAtAllFlag": 0, "GroupAt_Account": "@RBT#assistant"},
        {"GroupAtAllFlag": 0, "GroupAt_Account": "bob"},
        {"GroupAtAllFlag": 0, "GroupAt_Account": "@RBT#helper"},
    ]
    tim.send_group("alice", "@TGS#demo", "@assistant @bob @helper", GroupAtInfo=at)
    tim.wait_idle()
    assert callbacks.commands() == ["Group.CallbackBeforeSendMsg", "Group.CallbackAfterSendMsg", "Bot.OnGroupMessage"]
    bot = callbacks.received[2]["body"]
    assert set(bot) == GROUP_AFTER | {"GroupAtInfo", "AtRobots_Account"}
    assert bot["AtRobots_Account"] == ["@RBT#assistant", "@RBT#helper"]
    assert callbacks.received[1]["body"]["GroupAtInfo"] == at
    # @all does not trigger the bot callback (docs/protocol.md §2.6), nor does a plain message.
    tim.send_group("alice", "@TGS#demo", "@all", GroupAtInfo=[{"GroupAtAllFlag": 1}])
    tim.send_group("alice", "@TGS#demo", "no mention")
    tim.wait_idle()
    assert callbacks.commands().count("Bot.OnGroupMessage") == 1


def test_frequency_drops_run_the_before_send_but_not_the_after(tim, emulator, callbacks: CallbackServer) -> None:
    emulator.configure(group_msg_per_second=1)
    first = tim.send_group("alice", "@TGS#demo", "first")
    second = tim.send_group("bob", "@TGS#demo", "second")
    assert second["reason"] == "MsgFreqCtrl"
    tim.wait_idle()
    assert [r["command"] for r in tim.callbacks(send_id=first["send_id"])] == [
        "Group.CallbackBeforeSendMsg",
        "Group.CallbackAfterSendMsg",
    ]
    assert [r["command"] for r in tim.callbacks(send_id=second["send_id"])] == ["Group.CallbackBeforeSendMsg"]


def test_duplicates_fire_nothing(tim, callbacks: CallbackServer) -> None:
    first = tim.send_group("alice", "@TGS#demo", "x", Random=8)
    again = tim.send_group("alice", "@TGS#demo", "x", Random=8)
    assert (again["outcome"], again["reason"], again["MsgSeq"]) == ("dropped", "duplicate", first["MsgSeq"])
    tim.wait_idle()
    assert len(callbacks.received) == 2


def test_after_send_callbacks_keep_their_order(rest: Rest, tim, callbacks: CallbackServer) -> None:
    for n in range(20):
        rest.ok(
            "group_open_http_svc/send_group_msg",
            {
                "GroupId": "@TGS#demo",
                "Random": n,
                "MsgBody": text(str(n)),
                "ForbidCallbackControl": ["ForbidBeforeSendMsgCallback"],
            },
        )
    tim.wait_idle()
    assert [r["body"]["MsgSeq"] for r in callbacks.received] == list(range(1, 21))


# ---------------------------------------------------------------------- simulated clients' own checks


def test_client_send_checks(tim, emulator) -> None:
    assert tim.send_c2c("alice", "ghost", "x")["ErrorCode"] == 20003
    assert tim.send_c2c("ghost", "bob", "x")["ErrorCode"] == 70107
    assert tim.send_group("dave", "@TGS#demo", "x")["ErrorCode"] == 10007  # not a member
    assert tim.send_group("alice", "@TGS#none", "x")["ErrorCode"] == 10010
    assert tim.send_c2c("alice", "bob", text("x" * 12300))["ErrorCode"] == 93000
    assert tim.send_group("alice", "@TGS#demo", text("x" * 12300))["ErrorCode"] == 80002
    assert [r["reason"] for r in tim.rejected()] == ["validation"] * 6


def test_c2c_friend_check_when_switched_on(tim, emulator, rest: Rest) -> None:
    emulator.configure(c2c_friend_check=True)
    assert tim.send_c2c("alice", "bob", "x")["ErrorCode"] == 20009
    rest.ok(
        "sns/friend_add",
        {
            "From_Account": "alice",
            "AddFriendItem": [{"To_Account": "bob"}],
            "AddType": "Add_Type_Single",
            "ForceAddFlags": 1,
        },
    )
    assert tim.send_c2c("alice", "bob", "x")["ErrorCode"] == 20010  # bob's list lacks alice
    assert tim.send_c2c("bob", "alice", "x")["ErrorCode"] == 20011  # bob's list lacks alice
    # Robots' own messages skip the check (docs/protocol.md §8.1), and REST sends never check (§5.3).
    assert tim.send_c2c("@RBT#assistant", "carol", "x")["ErrorCode"] == 0
    assert (
        rest("openim/sendmsg", {"From_Account": "carol", "To_Account": "dave", "MsgRandom": 1, "MsgBody": text("x")})[
            "ErrorCode"
        ]
        == 0
    )


def test_reset_forgets_callbacks_and_messages(tim, callbacks: CallbackServer) -> None:
    tim.send_c2c("alice", "bob", "x")
    tim.wait_idle()
    assert tim.callbacks()
    tim.reset()
    assert (tim.callbacks(), tim.messages(), tim.calls()) == ([], [], [])
    assert tim.config()["callback_url"] == callbacks.url  # settings are kept


def test_a_before_send_answered_after_a_reset_is_not_recorded(tim, emulator, callbacks: CallbackServer) -> None:
    gate = callbacks.hold("C2C.CallbackBeforeSendMsg")
    answer_with(callbacks, {"ActionStatus": "OK", "ErrorCode": 2, "ErrorInfo": ""})  # discard: no after-send
    sender = EmulatorControl(emulator.url)
    sending = threading.Thread(target=sender.send_c2c, args=("alice", "bob", "x"))
    sending.start()
    try:
        tim.wait_until(lambda: "C2C.CallbackBeforeSendMsg" in callbacks.commands(), what="the before-send")
        tim.reset()
    finally:
        gate.set()
        sending.join()
        sender.close()
    tim.wait_idle()
    assert tim.callbacks() == []  # the callback belonged to the state before the reset


def test_concurrent_sends_to_one_group_get_distinct_seqs(rest: Rest, tim, callbacks: CallbackServer) -> None:
    def send(offset: int) -> None:
        for n in range(10):
            rest(
                "group_open_http_svc/send_group_msg",
                {"GroupId": "@TGS#demo", "Random": offset + n, "MsgBody": text("x"), "MsgPriority": "High"},
            )

    threads = [threading.Thread(target=send, args=(1000 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(m["MsgSeq"] for m in tim.messages()) == list(range(1, 41))
