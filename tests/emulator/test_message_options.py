"""The message options of the REST sends as the emulator checks them (docs/protocol.md §5.10): targeted
group delivery (To_Account), read receipts, extensions, SendMsgControl's values and OfflinePushInfo's
documented fields; accepted ones are kept in the call log as sent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import Rest, text

C2C_FORMAT = 90002  # docs/protocol.md §5.3
GROUP_INVALID = 10004  # docs/protocol.md §5.5


def sendmsg(**fields: Any) -> dict[str, Any]:
    return {"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": text("hi"), **fields}


def batch(**fields: Any) -> dict[str, Any]:
    return {"To_Account": ["bob", "carol"], "MsgRandom": 2, "MsgBody": text("hi"), **fields}


def group(**fields: Any) -> dict[str, Any]:
    return {"GroupId": "@TGS#demo", "Random": 3, "MsgBody": text("hi"), **fields}


PUSH = {
    "PushFlag": 1,
    "Title": "t",
    "Desc": "d",
    "Ext": "{}",
    "AndroidInfo": {"OPPOChannelID": "o", "VIVOClassification": 0, "HuaWeiImportance": "LOW"},
    "ApnsInfo": {"BadgeMode": 1, "MutableContent": 0, "Image": "https://x/i.png"},
}
SENDS = [("openim/sendmsg", sendmsg), ("openim/batchsendmsg", batch), ("group_open_http_svc/send_group_msg", group)]


@pytest.mark.parametrize(("api", "request_"), SENDS)
def test_documented_options_are_accepted_and_logged_as_sent(rest: Rest, tim, api: str, request_: Any) -> None:
    receipt = "NeedReadReceipt" if api.startswith("group") else "IsNeedReadReceipt"
    body = request_(**{receipt: 1, "OfflinePushInfo": PUSH, "SendMsgControl": ["NoLastMsg", "NoMsgCheck"]})
    rest.ok(api, body)
    assert tim.calls(api=api)[-1]["request"] == body


def test_a_targeted_group_message_names_at_most_50_members(rest: Rest, tim) -> None:
    rest.ok("group_open_http_svc/send_group_msg", group(To_Account=["bob", "carol"]))
    assert tim.calls(api="group_open_http_svc/send_group_msg")[-1]["request"]["To_Account"] == ["bob", "carol"]
    for bad in ([], "bob", [7], [f"u{i}" for i in range(51)]):
        answer = rest("group_open_http_svc/send_group_msg", group(To_Account=bad))
        assert answer["ErrorCode"] == GROUP_INVALID and "To_Account" in answer["ErrorInfo"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"IsNeedReadReceipt": True}, "IsNeedReadReceipt"),
        ({"SupportMessageExtension": 2}, "SupportMessageExtension"),
        ({"SendMsgControl": ["NoSuchThing"]}, "SendMsgControl"),
        ({"SendMsgControl": "NoUnread"}, "SendMsgControl"),
        ({"OfflinePushInfo": []}, "OfflinePushInfo"),
        ({"OfflinePushInfo": {"Badge": 1}}, "OfflinePushInfo.Badge"),
        ({"OfflinePushInfo": {"PushFlag": "0"}}, "OfflinePushInfo.PushFlag"),
        ({"OfflinePushInfo": {"PushFlag": 2}}, "PushFlag"),
        ({"OfflinePushInfo": {"ApnsInfo": {"BadgeMode": True}}}, "ApnsInfo.BadgeMode"),
        ({"OfflinePushInfo": {"AndroidInfo": {"HuaWeiImportance": "HIGH"}}}, "HuaWeiImportance"),
        ({"OfflinePushInfo": {"AndroidInfo": "OPPOChannelID"}}, "AndroidInfo"),
    ],
)
def test_a_malformed_option_is_refused_naming_it(rest: Rest, fields: dict[str, Any], named: str) -> None:
    answer = rest("openim/sendmsg", sendmsg(**fields))
    assert answer["ErrorCode"] == C2C_FORMAT and named in answer["ErrorInfo"], answer


def test_a_group_message_online_only_takes_no_send_msg_control(rest: Rest) -> None:
    answer = rest("group_open_http_svc/send_group_msg", group(OnlineOnlyFlag=1, SendMsgControl=["NoMsgCheck"]))
    assert answer["ErrorCode"] == GROUP_INVALID and "OnlineOnlyFlag" in answer["ErrorInfo"]
    answer = rest("group_open_http_svc/send_group_msg", group(SendMsgControl=["WithMuteNotifications"]))
    assert answer["ErrorCode"] == GROUP_INVALID  # a one-to-one value
