"""Recall, history, read receipts and read marks through the bundle's REST client against the
emulator (docs/protocol.md §11, §12): group_msg_recall, group_msg_get_simple, the group read
receipt APIs, admin_getroammsg, admin_msgwithdraw and admin_set_msg_read, over the messages the
emulator stores (edits show, recalls mark), with their limits, codes and callbacks (§13)."""

from __future__ import annotations

from typing import Any

import pytest

from local.tim_emulator import FakeClock
from tests.emulator.conftest import ADMIN, START, CallbackServer, Rest
from timkit.models import messages
from timkit.models.elements import TextContent, TextElem
from timkit.models.messages import SendOptions
from timkit.models.rest import (
    PLACE_MSG_GONE,
    PLACE_MSG_RECALLED,
    AdminGetRoamMsgRequest,
    CreateGroupRequest,
    InitialMember,
    ModifyC2CMsgRequest,
    ModifyGroupMsgRequest,
)
from timkit.tim.errors import (
    C2C_ACCOUNT_INVALID,
    C2C_ALREADY_RECALLED,
    C2C_MSG_KEY_INVALID,
    C2C_PEER_INVALID,
    C2C_RECALL_MSG_MISSING,
    GROUP_MISSING,
    GROUP_NO_PERMISSION,
    GROUP_RECALL_MSG_MISSING,
    GROUP_RECALL_REFUSED,
    GROUP_RECEIPT_MISSING,
    TimApiError,
)
from timkit.tim.rest import TimRestClient

NOW = int(START)


def code_of(call: Any) -> int | None:
    with pytest.raises(TimApiError) as caught:
        call()
    return caught.value.error_code


def texts(items: list[Any]) -> list[str]:
    return [item.MsgBody[0].MsgContent.Text if item.MsgBody else "" for item in items]


def send_group(client: TimRestClient, text: str, sender: str = "bob", group: str = "@TGS#demo", **options: Any) -> int:
    request = messages.text(text).group_request(group, sender=sender, options=SendOptions(**options))
    return client.send_group(request).MsgSeq


def send_c2c(client: TimRestClient, text: str, sender: str, to: str, **options: Any) -> str:
    request = messages.text(text).c2c_request(to, sender=sender, options=SendOptions(**options))
    return client.send_c2c(request).MsgKey


def callback_bodies(tim: Any, command: str) -> list[dict[str, Any]]:
    tim.wait_idle()
    return [c["body"] for c in tim.callbacks(command=command)]


# ---------------------------------------------------------------------- group history (docs/protocol.md §11.2)


def test_group_history_pages_newest_first(tim_client: TimRestClient, clock: FakeClock) -> None:
    for n in range(25):
        clock.advance(1)
        send_group(tim_client, f"m{n + 1}")
    first = tim_client.group_msg_get_simple("@TGS#demo")
    assert (first.GroupId, first.IsFinished) == ("@TGS#demo", 1)
    assert [m.MsgSeq for m in first.RspMsgList] == list(range(25, 5, -1))
    newest = first.RspMsgList[0]
    assert (newest.From_Account, newest.MsgTimeStamp, newest.IsPlaceMsg, newest.MsgPriority) == ("bob", NOW + 25, 0, 2)
    following = tim_client.group_msg_get_simple("@TGS#demo", req_msg_seq=first.RspMsgList[-1].MsgSeq - 1)
    assert texts(following.RspMsgList) == ["m5", "m4", "m3", "m2", "m1"]
    assert [m.MsgSeq for m in tim_client.group_msg_get_simple("@TGS#demo", number=2).RspMsgList] == [25, 24]
    # A ReqMsgSeq past the newest answers from the newest.
    assert tim_client.group_msg_get_simple("@TGS#demo", req_msg_seq=1000, number=1).RspMsgList[0].MsgSeq == 25


def test_group_history_shows_edits_and_marks_recalls(tim_client: TimRestClient) -> None:
    seqs = [send_group(tim_client, t) for t in ("one", "two", "three")]
    tim_client.modify_group(
        ModifyGroupMsgRequest(
            GroupId="@TGS#demo", MsgSeq=seqs[0], MsgBody=[TextElem(MsgContent=TextContent(Text="one, edited"))]
        )
    )
    tim_client.group_msg_recall("@TGS#demo", [seqs[1]])
    shown = tim_client.group_msg_get_simple("@TGS#demo")
    assert [(m.MsgSeq, m.IsPlaceMsg) for m in shown.RspMsgList] == [(3, 0), (2, PLACE_MSG_RECALLED), (1, 0)]
    assert texts(shown.RspMsgList) == ["three", "", "one, edited"]
    assert shown.RspMsgList[1].recalled
    hidden = tim_client.group_msg_get_simple("@TGS#demo", with_recalled=False)
    assert [m.MsgSeq for m in hidden.RspMsgList] == [3, 1]
    # A recalled message cannot be edited any more.
    with pytest.raises(TimApiError):
        tim_client.modify_group(ModifyGroupMsgRequest(GroupId="@TGS#demo", MsgSeq=seqs[1], CloudCustomData="x"))


def test_an_online_only_message_is_a_place_message(tim_client: TimRestClient) -> None:
    send_group(tim_client, "stored")
    send_group(tim_client, "typing", online_only=True)
    shown = tim_client.group_msg_get_simple("@TGS#demo").RspMsgList
    assert [(m.MsgSeq, m.IsPlaceMsg, m.MsgBody) for m in shown][0] == (2, PLACE_MSG_GONE, [])
    assert texts(shown) == ["", "stored"]


def test_group_history_codes(tim_client: TimRestClient, rest: Rest) -> None:
    assert code_of(lambda: tim_client.group_msg_get_simple("@TGS#nowhere")) == GROUP_MISSING
    tim_client.create_group(CreateGroupRequest(Type="AVChatRoom", Name="live", GroupId="live-1"))
    assert code_of(lambda: tim_client.group_msg_get_simple("live-1")) == GROUP_NO_PERMISSION
    for body in (
        {"GroupId": "@TGS#demo", "ReqMsgNumber": 21},
        {"GroupId": "@TGS#demo"},
        {"GroupId": "@TGS#demo", "ReqMsgNumber": "5"},
        {"GroupId": "@TGS#demo", "ReqMsgNumber": 5, "WithRecalledMsg": True},
        {"GroupId": "@TGS#demo", "ReqMsgNumber": 5, "ReqMsgSeq": 0},
    ):
        assert rest("group_open_http_svc/group_msg_get_simple", body)["ErrorCode"] == 10004, body


# ---------------------------------------------------------------------- group recall (docs/protocol.md §11.1)


def test_group_recall_answers_per_seq_and_calls_back(tim_client: TimRestClient, tim, callbacks: CallbackServer) -> None:
    seq = send_group(tim_client, "oops")
    reply = tim_client.group_msg_recall("@TGS#demo", [seq, 99], reason="posted by mistake")
    assert [(r.MsgSeq, r.RetCode) for r in reply.RecallRetList] == [(seq, 0), (99, GROUP_RECALL_MSG_MISSING)]
    assert reply.failed == {99: GROUP_RECALL_MSG_MISSING}
    again = tim_client.group_msg_recall("@TGS#demo", [seq])
    assert again.failed == {seq: GROUP_RECALL_REFUSED}
    [recalled] = callback_bodies(tim, "Group.CallbackAfterRecallMsg")
    assert isinstance(recalled.pop("EventTime"), int)
    assert recalled == {
        "CallbackCommand": "Group.CallbackAfterRecallMsg",
        "Operator_Account": ADMIN,
        "Type": "Public",
        "GroupId": "@TGS#demo",
        "MsgSeqList": [{"MsgSeq": seq}],
    }


def test_group_recall_codes(tim_client: TimRestClient, rest: Rest) -> None:
    assert code_of(lambda: tim_client.group_msg_recall("@TGS#nowhere", [1])) == GROUP_MISSING
    # docs/protocol.md §11.1: the current page recalls AVChatRoom messages too.
    tim_client.create_group(CreateGroupRequest(Type="AVChatRoom", Name="live", GroupId="live-1"))
    seq = send_group(tim_client, "live", sender=ADMIN, group="live-1")
    assert tim_client.group_msg_recall("live-1", [seq]).failed == {}
    too_many = {"GroupId": "@TGS#demo", "MsgSeqList": [{"MsgSeq": n} for n in range(1, 12)]}
    assert rest("group_open_http_svc/group_msg_recall", too_many)["ErrorCode"] == 10004
    for body in (
        {"GroupId": "@TGS#demo", "MsgSeqList": [1]},
        {"GroupId": "@TGS#demo", "MsgSeqList": []},
        {"GroupId": "@TGS#demo", "MsgSeqList": [{"MsgSeq": 1}], "Reason": "r" * 101},
    ):
        assert rest("group_open_http_svc/group_msg_recall", body)["ErrorCode"] == 10004, body


# ---------------------------------------------------------------------- group read receipts (docs/protocol.md §11.3)


def test_read_receipts_counts_details_and_callback(tim_client: TimRestClient, tim, callbacks: CallbackServer) -> None:
    seq = send_group(tim_client, "please read", sender="alice")
    tim_client.add_group_member("@TGS#demo", ["dave"])
    tim_client.group_msg_receipt("@TGS#demo", "bob", [seq, 77])
    [counts, missing] = tim_client.get_group_msg_receipt("@TGS#demo", [seq, 77]).GroupMsgReceiptList
    assert (counts.Code, counts.ReadNum, counts.UnreadNum) == (0, 1, 2)  # carol and dave; the sender not counted
    assert (missing.MsgSeq, missing.Code) == (77, GROUP_RECEIPT_MISSING)
    read = tim_client.get_group_msg_receipt_detail("@TGS#demo", seq)
    assert ([r.Read_Account for r in read.ReadList], read.IsFinished, read.Cursor) == (["bob"], 1, "")
    first = tim_client.get_group_msg_receipt_detail("@TGS#demo", seq, unread=True, count=1)
    assert ([u.Unread_Account for u in first.UnreadList], first.IsFinished) == (["carol"], 0)
    rest_of = tim_client.get_group_msg_receipt_detail("@TGS#demo", seq, unread=True, cursor=first.Cursor, count=1)
    assert ([u.Unread_Account for u in rest_of.UnreadList], rest_of.IsFinished) == (["dave"], 1)
    [receipt] = callback_bodies(tim, "Group.CallbackAfterReadReceipt")
    assert isinstance(receipt.pop("EventTime"), int)
    assert receipt == {
        "CallbackCommand": "Group.CallbackAfterReadReceipt",
        "GroupId": "@TGS#demo",
        "Type": "Public",
        "GroupMsgReceiptList": [
            {"MsgSeq": seq, "ReadNum": 1, "UnreadNum": 2, "ReadReceiptMembers": [{"Member_Account": "bob"}]}
        ],
    }
    # The same receipt again changes no count.
    tim_client.group_msg_receipt("@TGS#demo", "bob", [seq])
    assert tim_client.get_group_msg_receipt("@TGS#demo", [seq]).GroupMsgReceiptList[0].ReadNum == 1


def test_read_receipt_codes(tim_client: TimRestClient, rest: Rest) -> None:
    seq = send_group(tim_client, "x")
    assert code_of(lambda: tim_client.group_msg_receipt("@TGS#demo", "dave", [seq])) == GROUP_NO_PERMISSION
    assert code_of(lambda: tim_client.get_group_msg_receipt_detail("@TGS#demo", 99)) == GROUP_RECEIPT_MISSING
    assert code_of(lambda: tim_client.get_group_msg_receipt("@TGS#nowhere", [1])) == GROUP_MISSING
    tim_client.create_group(
        CreateGroupRequest(
            Type="Community",
            Name="c",
            GroupId="@TGS#_c",
            Owner_Account="alice",
            MemberList=[InitialMember(Member_Account="bob")],
        )
    )
    assert code_of(lambda: tim_client.get_group_msg_receipt("@TGS#_c", [1])) == GROUP_NO_PERMISSION
    too_many = {"GroupId": "@TGS#demo", "From_Account": "bob", "MsgSeqList": [{"MsgSeq": n} for n in range(1, 52)]}
    assert rest("group_open_http_svc/group_msg_receipt", too_many)["ErrorCode"] == 10004
    detail = {"GroupId": "@TGS#demo", "MsgSeq": seq, "Filter": 0, "Cursor": "", "Count": 201}
    assert rest("group_open_http_svc/get_group_msg_receipt_detail", detail)["ErrorCode"] == 10004
    assert (
        rest("group_open_http_svc/get_group_msg_receipt_detail", {**detail, "Count": 5, "Cursor": "zz"})["ErrorCode"]
        == 10004
    )


# ---------------------------------------------------------------------- C2C history (docs/protocol.md §12.1)


def roam(
    client: TimRestClient,
    operator: str,
    peer: str,
    max_cnt: int = 100,
    last: str | None = None,
    low: int = NOW,
    high: int = NOW + 1000,
) -> Any:
    return client.admin_getroammsg(
        AdminGetRoamMsgRequest(
            Operator_Account=operator, Peer_Account=peer, MaxCnt=max_cnt, MinTime=low, MaxTime=high, LastMsgKey=last
        )
    )


def test_c2c_history_pages_backwards_and_is_the_same_from_both_sides(
    tim_client: TimRestClient, clock: FakeClock
) -> None:
    keys = []
    for n in range(5):
        clock.advance(10)
        sender, to = ("alice", "bob") if n % 2 == 0 else ("bob", "alice")
        keys.append(send_c2c(tim_client, f"c{n + 1}", sender, to, cloud_custom_data=f"meta{n + 1}"))
    send_c2c(tim_client, "elsewhere", "alice", "carol")
    first = roam(tim_client, "alice", "bob", max_cnt=2)
    assert (first.Complete, first.MsgCnt) == (0, 2)
    assert texts(first.MsgList) == ["c4", "c5"]  # the newest two, oldest first
    assert (first.LastMsgKey, first.LastMsgTime) == (keys[3], NOW + 40)
    assert [m.CloudCustomData for m in first.MsgList] == ["meta4", "meta5"]
    assert (first.MsgList[0].From_Account, first.MsgList[0].To_Account) == ("bob", "alice")
    following = roam(tim_client, "alice", "bob", max_cnt=2, last=first.LastMsgKey, high=first.LastMsgTime)
    assert (texts(following.MsgList), following.Complete) == (["c2", "c3"], 0)
    last = roam(tim_client, "alice", "bob", max_cnt=2, last=following.LastMsgKey, high=following.LastMsgTime)
    assert (texts(last.MsgList), last.Complete) == (["c1"], 1)
    everything = roam(tim_client, "bob", "alice")
    assert (texts(everything.MsgList), everything.Complete) == (["c1", "c2", "c3", "c4", "c5"], 1)
    assert [m.MsgKey for m in everything.MsgList] == keys
    window = roam(tim_client, "alice", "bob", low=NOW + 20, high=NOW + 30)
    assert texts(window.MsgList) == ["c2", "c3"]


def test_c2c_history_shows_edits_and_recalls(tim_client: TimRestClient) -> None:
    key = send_c2c(tim_client, "draft", "alice", "bob")
    gone = send_c2c(tim_client, "regret", "alice", "bob")
    tim_client.modify_c2c(
        ModifyC2CMsgRequest(
            From_Account="alice", To_Account="bob", MsgKey=key, MsgBody=[TextElem(MsgContent=TextContent(Text="final"))]
        )
    )
    tim_client.admin_msgwithdraw("alice", "bob", gone)
    shown = roam(tim_client, "bob", "alice").MsgList
    assert texts(shown) == ["final", ""]
    assert [m.recalled for m in shown] == [False, True] and shown[1].MsgFlagBits == 8


def test_c2c_history_pages_are_cut_near_13_kb(tim_client: TimRestClient) -> None:
    for n in range(4):
        send_c2c(tim_client, f"{n}" + "x" * 5000, "alice", "bob")
    page = roam(tim_client, "alice", "bob")
    assert (page.MsgCnt, page.Complete) == (2, 0)
    rest_of = roam(tim_client, "alice", "bob", last=page.LastMsgKey, high=page.LastMsgTime)
    assert (rest_of.MsgCnt, rest_of.Complete) == (2, 1)


def test_online_only_messages_are_not_in_c2c_history(tim_client: TimRestClient) -> None:
    send_c2c(tim_client, "typing", "alice", "bob", online_only=True)
    assert roam(tim_client, "alice", "bob").MsgList == []


def test_c2c_history_codes(tim_client: TimRestClient, rest: Rest) -> None:
    assert code_of(lambda: roam(tim_client, "ghost", "bob")) == C2C_ACCOUNT_INVALID
    assert code_of(lambda: roam(tim_client, "alice", "ghost")) == C2C_PEER_INVALID
    assert code_of(lambda: roam(tim_client, "alice", "bob", last="1_2_3")) == C2C_MSG_KEY_INVALID
    body = {"Operator_Account": "alice", "Peer_Account": "bob", "MaxCnt": 5, "MinTime": 10, "MaxTime": 9}
    assert rest("openim/admin_getroammsg", body)["ErrorCode"] == 90001
    assert rest("openim/admin_getroammsg", {**body, "MinTime": 0, "MaxCnt": "5"})["ErrorCode"] == 90001


# ---------------------------------------------------------------------- C2C recall (docs/protocol.md §12.2)


def test_c2c_recall_calls_back_and_is_done_once(tim_client: TimRestClient, tim, callbacks: CallbackServer) -> None:
    send_c2c(tim_client, "keep", "alice", "bob")
    key = send_c2c(tim_client, "take back", "alice", "bob")
    tim_client.admin_msgwithdraw("alice", "bob", key)
    assert code_of(lambda: tim_client.admin_msgwithdraw("alice", "bob", key)) == C2C_ALREADY_RECALLED
    [withdrawn] = callback_bodies(tim, "C2C.CallbackAfterMsgWithDraw")
    # docs/protocol.md §13.7: bob's unread count no longer holds the recalled message.
    assert withdrawn == {
        "CallbackCommand": "C2C.CallbackAfterMsgWithDraw",
        "From_Account": "alice",
        "To_Account": "bob",
        "MsgKey": key,
        "UnreadMsgNum": 1,
    }
    assert tim.state()["unread"]["bob"] == 1


def test_c2c_recall_codes(tim_client: TimRestClient, rest: Rest) -> None:
    key = send_c2c(tim_client, "x", "alice", "bob")
    assert code_of(lambda: tim_client.admin_msgwithdraw("bob", "alice", key)) == C2C_RECALL_MSG_MISSING
    assert code_of(lambda: tim_client.admin_msgwithdraw("alice", "bob", "1_2_3")) == C2C_RECALL_MSG_MISSING
    assert code_of(lambda: tim_client.admin_msgwithdraw("alice", "bob", "not-a-key")) == C2C_MSG_KEY_INVALID
    assert code_of(lambda: tim_client.admin_msgwithdraw("ghost", "bob", key)) == C2C_ACCOUNT_INVALID
    assert code_of(lambda: tim_client.admin_msgwithdraw("alice", "ghost", key)) == C2C_PEER_INVALID
    assert (
        rest("openim/admin_msgwithdraw", {"From_Account": "alice", "To_Account": "bob", "MsgKey": 7})["ErrorCode"]
        == 90054
    )


# ---------------------------------------------------------------------- C2C read mark (docs/protocol.md §12.3)


def test_set_msg_read_marks_up_to_a_time_and_calls_back(
    tim_client: TimRestClient, tim, callbacks: CallbackServer, clock: FakeClock
) -> None:
    for n in range(3):
        clock.advance(10)
        send_c2c(tim_client, f"u{n}", "alice", "bob")
    send_c2c(tim_client, "from carol", "carol", "bob")
    send_c2c(tim_client, "quiet", "alice", "bob", no_unread=True)
    assert tim.state()["unread"]["bob"] == 4
    tim_client.admin_set_msg_read("bob", "alice", msg_read_time=NOW + 20)
    assert tim.state()["unread"]["bob"] == 2  # alice's third message and carol's
    tim_client.admin_set_msg_read("bob", "alice")  # now: the rest of alice's
    assert tim.state()["unread"]["bob"] == 1
    first, second = callback_bodies(tim, "C2C.CallbackAfterMsgReport")
    assert first == {
        "CallbackCommand": "C2C.CallbackAfterMsgReport",
        "Report_Account": "bob",
        "Peer_Account": "alice",
        "LastReadTime": NOW + 20,
        "UnreadMsgNum": 2,
    }
    assert (second["LastReadTime"], second["UnreadMsgNum"]) == (NOW + 30, 1)


def test_set_msg_read_codes(tim_client: TimRestClient, rest: Rest) -> None:
    assert code_of(lambda: tim_client.admin_set_msg_read("ghost", "alice")) == C2C_ACCOUNT_INVALID
    assert code_of(lambda: tim_client.admin_set_msg_read("bob", "ghost")) == C2C_PEER_INVALID
    # docs/protocol.md §12.3: MsgReadTime is typed String on the page; digits in a string are taken.
    rest.ok("openim/admin_set_msg_read", {"Report_Account": "bob", "Peer_Account": "alice", "MsgReadTime": "12"})
    assert (
        rest("openim/admin_set_msg_read", {"Report_Account": "bob", "Peer_Account": "alice", "MsgReadTime": "soon"})[
            "ErrorCode"
        ]
        == 90001
    )
