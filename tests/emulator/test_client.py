"""The REST client against the emulator: every typed method, retries under injected faults
without duplicates, caller errors not retried, sig renewal on the emulator's clock, oversize
bodies refused before any call, and no secret in captured logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from local.tim_emulator import FakeClock, TimEmulator
from local.tim_emulator.control import EmulatorControl
from tests.emulator.conftest import ADMIN, APP, KEY
from timkit.merger import GroupMembership, MembershipUnavailable
from timkit.models import messages
from timkit.models.elements import RelayMessage, TextContent, TextElem
from timkit.models.rest import BatchSendMsgRequest, ModifyC2CMsgRequest, ModifyGroupMsgRequest
from timkit.tim.errors import MessageDropped, MessageTooLarge, TimApiError
from timkit.tim.rest import RetryPolicy, TimRestClient


@pytest.fixture
def client(emulator: TimEmulator, clock: FakeClock) -> TimRestClient:
    return TimRestClient(APP, KEY, admin=ADMIN, base_url=emulator.url, clock=clock.now, sleep=lambda s: None)


def calls(tim: EmulatorControl, api: str) -> list[dict[str, Any]]:
    return tim.calls(api=api)


def test_friends_are_made_both_ways_and_repeating_changes_nothing(client, tim) -> None:
    users = ["alice", "bob", "carol"]
    assert client.ensure_friends("@RBT#assistant", users) == dict.fromkeys(users, 0)  # added now
    for user in users:
        relation = client.friend_check(user, ["@RBT#assistant"]).InfoItem[0].Relation
        assert relation == "CheckResult_Type_BothWay"
    adds = len(calls(tim, "sns/friend_add"))
    assert client.ensure_friends("@RBT#assistant", users) == dict.fromkeys(users)  # already friends
    assert len(calls(tim, "sns/friend_add")) == adds  # nothing left to add: no state-changing call


def test_friend_add_reports_per_user_results(client) -> None:
    reply = client.friend_add("alice", ["bob", "nobody-here"])
    codes = {item.To_Account: item.ResultCode for item in reply.ResultItem}
    assert codes["bob"] == 0 and codes["nobody-here"] != 0


def test_robots_create_list_delete(client) -> None:
    client.create_robot("@RBT#weather", nick="Weather")
    client.create_robot("@RBT#weather")  # re-creating is a no-op
    assert "@RBT#weather" in client.get_all_robots()
    client.delete_robot("@RBT#weather")
    assert "@RBT#weather" not in client.get_all_robots()
    with pytest.raises(ValueError, match="@RBT#"):
        client.create_robot("weather")


def test_send_c2c_and_modify(client, tim) -> None:
    request = messages.text("first").c2c_request("bob", sender="@RBT#assistant")
    reply = client.send_c2c(request)
    seq, rnd, when = reply.MsgKey.split("_")
    assert int(rnd) == request.MsgRandom and int(when) == reply.MsgTime
    client.modify_c2c(
        ModifyC2CMsgRequest(
            From_Account="@RBT#assistant",
            To_Account="bob",
            MsgKey=reply.MsgKey,
            MsgBody=[TextElem(MsgContent=TextContent(Text="second"))],
        )
    )
    stored = tim.messages(MsgKey=reply.MsgKey)
    assert stored[0]["MsgBody"] == [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "second"}}]


def test_batch_send_surfaces_partial_failures(client) -> None:
    body = messages.text("news").body
    reply = client.batch_send_c2c(
        BatchSendMsgRequest(To_Account=["alice", "bob", "ghost"], MsgRandom=messages.new_random(), MsgBody=body)
    )
    assert reply.ActionStatus == "SomeError" and reply.failed == {"ghost": 70107}
    with pytest.raises(ValueError, match="500"):
        BatchSendMsgRequest(To_Account=[f"u{i}" for i in range(501)], MsgRandom=1, MsgBody=body)


def test_every_rest_message_kind_is_accepted_and_delivered_as_built(client, tim) -> None:
    kinds = [
        messages.text("plain"),
        messages.text_at("hey @bob and all", users=["bob"], at_all=True),
        messages.image("uuid-1", "https://cdn.example/i.jpg", 1024, 640, 480, image_format=1),
        messages.sound("https://cdn.example/s.m4a", 2048, 3),
        messages.video("https://cdn.example/v.mp4", 4096, 10, "mp4", "https://cdn.example/t.jpg", 512, 320, 240),
        messages.file("https://cdn.example/f.pdf", "f.pdf", 8192),
        messages.custom('{"k":1}', desc="push text"),
        messages.face(3, "smile"),
        messages.location("Office", 22.5, 113.9),
        messages.forward(messages.text("forwarded").body + messages.custom("{}").body),
    ]
    options = messages.SendOptions(priority="High", no_last_message=True, cloud_custom_data="cc")
    for message in kinds:
        reply = client.send_group(message.group_request("@TGS#demo", sender="alice", options=options))
        stored = tim.messages(GroupId="@TGS#demo", MsgSeq=reply.MsgSeq)[0]
        assert stored["MsgBody"] == [e.model_dump(mode="json", exclude_unset=True) for e in message.body]
        assert stored["CloudCustomData"] == "cc"
    at = tim.messages(GroupId="@TGS#demo")[1]
    assert at["GroupAtInfo"] == [{"GroupAtAllFlag": 1}, {"GroupAtAllFlag": 0, "GroupAt_Account": "bob"}]


def test_merger_builds_the_wire_shape_and_rest_refuses_to_send_it(client, tim) -> None:
    forwarded = RelayMessage(
        From_Account="alice", To_Account="bob", MsgSeq=1, MsgRandom=2, MsgTimeStamp=3, MsgBody=messages.text("hi").body
    )
    merger = messages.merger("Chat of A and B", [forwarded], "upgrade to view", ["alice: hi"])
    assert merger.model_dump(mode="json", exclude_unset=True)["body"] == [
        {
            "MsgType": "TIMRelayElem",
            "MsgContent": {
                "Title": "Chat of A and B",
                "MsgNum": 1,
                "CompatibleText": "upgrade to view",
                "AbstractList": ["alice: hi"],
                "MsgList": [
                    {
                        "From_Account": "alice",
                        "To_Account": "bob",
                        "MsgSeq": 1,
                        "MsgRandom": 2,
                        "MsgTimeStamp": 3,
                        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
                    }
                ],
            },
        }
    ]
    # docs/protocol.md §3: the REST send APIs take the first eight element types only; mergers are sent by clients.
    with pytest.raises(TimApiError) as err:
        client.send_group(merger.group_request("@TGS#demo"))
    assert not err.value.retryable and len(calls(tim, "group_open_http_svc/send_group_msg")) == 1


def test_online_only_and_no_unread_options_reach_the_wire(client, tim) -> None:
    opts = messages.SendOptions(online_only=True, no_unread=True)
    client.send_c2c(messages.text("ping").c2c_request("bob", options=opts))
    client.send_group(messages.text("ping").group_request("@TGS#demo", options=opts))
    c2c_call, group_call = calls(tim, "openim/sendmsg")[-1], calls(tim, "group_open_http_svc/send_group_msg")[-1]
    assert c2c_call["request"]["MsgLifeTime"] == 0 and c2c_call["request"]["SendMsgControl"] == ["NoUnread"]
    assert group_call["request"]["OnlineOnlyFlag"] == 1 and "SendMsgControl" not in group_call["request"]


def test_group_modify(client, tim) -> None:
    reply = client.send_group(messages.text("v1").group_request("@TGS#demo"))
    client.modify_group(
        ModifyGroupMsgRequest(GroupId="@TGS#demo", MsgSeq=reply.MsgSeq, MsgBody=messages.text("v2").body)
    )
    assert (
        tim.messages(GroupId="@TGS#demo", MsgSeq=reply.MsgSeq)[0]["MsgBody"]
        == messages.text("v2").model_dump(mode="json")["body"]
    )


def test_frequency_drop_is_reported_not_delivered(client, emulator) -> None:
    emulator.configure(group_msg_per_second=3)
    high = messages.SendOptions(priority="High")
    for i in range(3):
        client.send_group(messages.text(f"m{i}").group_request("@TGS#demo", options=high))
    with pytest.raises(MessageDropped) as dropped:
        client.send_group(messages.text("one too many").group_request("@TGS#demo", options=high))
    assert dropped.value.reason == "MsgFreqCtrl"


def test_paging_through_groups_and_members(client, tim, emulator) -> None:
    for i in range(23):
        client.call(
            "group_open_http_svc",
            "create_group",
            {
                "Type": "Public",
                "Name": f"g{i}",
                "GroupId": f"page-{i}",
                "Owner_Account": "alice",
                "MemberList": [{"Member_Account": m} for m in ("bob", "carol")],
            },
        )
    ids = list(client.iter_group_ids(page_size=5))
    assert len(ids) == len(set(ids)) == 25 and {f"page-{i}" for i in range(23)} <= set(ids)
    members = [m.Member_Account for m in client.iter_group_members("@TGS#demo", page_size=2)]
    assert sorted(members) == ["alice", "bob", "carol"]


def test_roles_in_group(client) -> None:
    assert client.roles_in_group("@TGS#demo", ["alice", "bob", "dave"]) == {
        "alice": "Owner",
        "bob": "Member",
        "dave": "NotMember",
    }
    with pytest.raises(TimApiError) as missing:
        client.roles_in_group("@TGS#nowhere", ["alice"])
    assert missing.value.error_code == 10010


ROLES = "group_open_http_svc/get_role_in_group"


def test_membership_is_one_role_lookup_for_the_caller(client, tim) -> None:
    # A large group: listing its members would take pages of calls.
    members = [f"member-{i}" for i in range(300)]
    for start in range(0, len(members), 100):
        client.call("im_open_login_svc", "multiaccount_import", {"Accounts": members[start : start + 100]})
    client.call(
        "group_open_http_svc",
        "add_group_member",
        {"GroupId": "@TGS#demo", "MemberList": [{"Member_Account": m} for m in members]},
    )
    membership = GroupMembership(lambda: client)
    assert membership("@TGS#demo", "carol") and not membership("@TGS#demo", "dave")
    assert not membership("@TGS#nowhere", "carol")
    lookups = calls(tim, ROLES)
    assert [c["request"] for c in lookups] == [
        {"GroupId": "@TGS#demo", "User_Account": ["carol"]},
        {"GroupId": "@TGS#demo", "User_Account": ["dave"]},
        {"GroupId": "@TGS#nowhere", "User_Account": ["carol"]},
    ]
    assert calls(tim, "group_open_http_svc/get_group_member_info") == []
    assert membership("@TGS#demo", "carol")  # remembered
    assert len(calls(tim, ROLES)) == 3


@pytest.mark.parametrize("code", [10002, 502])
def test_membership_when_tencent_keeps_failing_is_unavailable(client, tim, code: int) -> None:
    tim.configure(faults=[{"api": ROLES, "error_share": 1.0, "codes": [code]}])
    membership = GroupMembership(lambda: client)
    with pytest.raises(MembershipUnavailable):
        membership("@TGS#demo", "carol")
    assert len(calls(tim, ROLES)) == 4  # retried as the client retries, then given up
    tim.configure(faults=[])
    assert membership("@TGS#demo", "carol")


def test_retries_under_faults_deliver_each_group_message_exactly_once(client, tim, emulator) -> None:
    client._retry = RetryPolicy(attempts=8)
    emulator.configure(
        fault_seed=11,
        faults=[
            {
                "api": "group_open_http_svc/send_group_msg",
                "error_share": 0.4,
                "codes": [10002, 502, 60018],
                "fault_after_commit": 0.5,
            }
        ],
    )
    sent = []
    for i in range(40):
        request = messages.text(f"broadcast {i}").group_request("@TGS#other")
        client.send_group(request)
        sent.append(request.Random)
        emulator.clock.advance(0.1)  # stay under 40/s
    faulted = [c for c in calls(tim, "group_open_http_svc/send_group_msg") if c["fault"]]
    assert faulted, "the faults should have fired"
    delivered = [m["Random"] for m in tim.messages(GroupId="@TGS#other")]
    assert sorted(delivered) == sorted(sent)  # every message once: committed-then-failed retries deduped


def test_caller_errors_are_not_retried(client, tim) -> None:
    with pytest.raises(TimApiError) as err:
        client.send_group(messages.text("hello").group_request("@TGS#missing"))
    assert err.value.error_code in (10010, 10015) and not err.value.retryable
    assert len(calls(tim, "group_open_http_svc/send_group_msg")) == 1


def test_sig_is_renewed_as_the_clock_moves(client, tim, clock) -> None:
    client.get_all_robots()
    clock.advance(2 * 86400)  # the first sig has long expired on the emulator's clock too
    client.get_all_robots()
    assert client.sigs_made == 2
    assert [c["ErrorCode"] for c in calls(tim, "openim_robot_http_svc/get_all_robots")] == [0, 0]


def test_expired_sig_answer_is_recovered_from_once(emulator, clock, tim) -> None:
    # The client's clock is a day behind the service's: its sig is already expired there.
    late = TimRestClient(
        APP, KEY, admin=ADMIN, base_url=emulator.url, clock=lambda: clock.now() - 90000, sleep=lambda s: None
    )
    with pytest.raises(TimApiError) as err:
        late.get_all_robots()
    assert err.value.error_code == 70001 and late.sigs_made == 2  # renewed once, then gave up


def test_oversize_is_refused_before_any_call(client, tim) -> None:
    with pytest.raises(MessageTooLarge):
        client.send_group(messages.text("x" * 12_300).group_request("@TGS#demo"))
    assert calls(tim, "group_open_http_svc/send_group_msg") == []


def test_no_secret_in_logs(emulator, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.configure(faults=[{"api": "*", "error_share": 1.0, "codes": [20004]}])
    c = TimRestClient(
        APP,
        KEY,
        admin=ADMIN,
        base_url=emulator.url,
        clock=clock.now,
        sleep=lambda s: None,
        retry=RetryPolicy(attempts=3),
    )
    with pytest.raises(TimApiError) as err:
        c.send_c2c(messages.text("x").c2c_request("bob"))
    sig = c._usersig()
    for text in (caplog.text, str(err.value), repr(err.value), repr(c)):
        assert KEY not in text and sig not in text
    assert "retrying openim/sendmsg" in caplog.text
