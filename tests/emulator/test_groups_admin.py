"""Groups as threads through the bundle's REST client against the emulator (docs/protocol.md §10):
create, information, profile changes, dismissal, members in and out, their limits and documented
codes, and the group callbacks of §13 they send."""

from __future__ import annotations

from typing import Any

import pytest

from local.tim_emulator import FakeClock
from local.tim_emulator.rest_api import REST_API
from tests.emulator.conftest import ADMIN, START, CallbackServer, Rest
from timkit.models import messages
from timkit.models.rest import CreateGroupRequest, InitialMember, ModifyGroupBaseInfoRequest
from timkit.tim.errors import (
    GROUP_ACCOUNT_MISSING,
    GROUP_FULL,
    GROUP_ID_USED_CODES,
    GROUP_MISSING,
    GROUP_MISSING_CODES,
    GROUP_NO_PERMISSION,
    GROUP_PARAM_INVALID,
    TimApiError,
)
from timkit.tim.rest import TimRestClient


def bodies(tim: Any, command: str, count: int = 1) -> list[dict[str, Any]]:
    """The bodies of the first ``count`` callbacks of ``command``, once sent."""
    tim.wait_idle()
    return [c["body"] for c in tim.wait_callbacks(count, command=command)]


def event(body: dict[str, Any]) -> dict[str, Any]:
    """A callback body without what changes run to run."""
    assert isinstance(body.pop("EventTime"), int)
    return body


def create(client: TimRestClient, **fields: Any) -> str:
    return client.create_group(CreateGroupRequest(Type="Public", Name="Thread", **fields)).GroupId


# ---------------------------------------------------------------------- create_group (docs/protocol.md §10.1)


def test_create_group_with_owner_members_and_profile(
    tim_client: TimRestClient, tim, callbacks: CallbackServer, clock: FakeClock
) -> None:
    request = CreateGroupRequest(
        Type="Public",
        Name="Launch",
        Owner_Account="alice",
        Introduction="About the launch",
        Notification="Be kind",
        FaceUrl="https://example.com/f.png",
        MaxMemberCount=50,
        MemberList=[InitialMember(Member_Account="bob", Role="Admin"), InitialMember(Member_Account="carol")],
    )
    group_id = tim_client.create_group(request).GroupId
    assert group_id.startswith("@TGS#")
    [info] = tim_client.get_group_info([group_id]).GroupInfo
    assert (info.ErrorCode, info.Name, info.Type, info.Owner_Account) == (0, "Launch", "Public", "alice")
    assert (info.Introduction, info.Notification, info.FaceUrl) == (
        "About the launch",
        "Be kind",
        "https://example.com/f.png",
    )
    assert (info.CreateTime, info.LastInfoTime, info.LastMsgTime) == (int(START), int(START), 0)
    assert (info.MemberNum, info.MaxMemberNum, info.NextMsgSeq) == (3, 50, 1)
    assert info.MemberList is not None
    assert [(m.Member_Account, m.Role) for m in info.MemberList] == [
        ("alice", "Owner"),
        ("bob", "Admin"),
        ("carol", "Member"),
    ]
    [created] = bodies(tim, "Group.CallbackAfterCreateGroup")
    # docs/protocol.md §13.1: the initial members other than the owner, as the sample shows.
    assert event(created) == {
        "CallbackCommand": "Group.CallbackAfterCreateGroup",
        "GroupId": group_id,
        "Operator_Account": ADMIN,
        "Owner_Account": "alice",
        "Type": "Public",
        "Name": "Launch",
        "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "carol"}],
    }


def test_a_custom_group_id_is_taken_once(tim_client: TimRestClient) -> None:
    assert create(tim_client, GroupId="thread-1") == "thread-1"
    with pytest.raises(TimApiError) as caught:
        create(tim_client, GroupId="thread-1")
    assert caught.value.error_code in GROUP_ID_USED_CODES
    # Dismissed, the ID can be used again.
    tim_client.destroy_group("thread-1")
    assert create(tim_client, GroupId="thread-1") == "thread-1"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Type": "Public", "Name": "群" * 11}, 10004),  # 33 bytes: over the 30-byte name limit
        ({"Type": "Public", "Name": "x", "Introduction": "i" * 241}, 10004),
        ({"Type": "Public", "Name": "x", "MemberList": [{"Member_Account": f"u{i}"} for i in range(101)]}, 10005),
        ({"Type": "AVChatRoom", "Name": "live", "MemberList": [{"Member_Account": "bob"}]}, 10007),
        ({"Type": "Public", "Name": "x", "MemberList": [{"Member_Account": "bob", "Role": "Owner"}]}, 10004),
        ({"Type": "Public", "Name": "x", "MemberList": [{"Member_Account": "ghost"}]}, 10004),
        ({"Type": "Public", "Name": "x", "MemberList": "bob"}, 10004),
        ({"Type": "Public", "Name": ["x"]}, 10004),
        ({"Type": "Public", "Name": "x", "ApplyJoinOption": "Anyone"}, 10004),
        ({"Type": "Community", "Name": "x", "ApplyJoinOption": "FreeAccess"}, 10004),
    ],
)
def test_create_group_limits_and_codes(rest: Rest, body: dict[str, Any], code: int) -> None:
    assert rest("group_open_http_svc/create_group", body)["ErrorCode"] == code


# ---------------------------------------------------------------------- get_group_info (docs/protocol.md §10.2)


def test_group_info_answers_each_group_on_its_own(tim_client: TimRestClient, rest: Rest) -> None:
    reply = tim_client.get_group_info(["@TGS#demo", "@TGS#gone"])
    demo, gone = reply.GroupInfo
    assert (demo.GroupId, demo.ErrorCode, demo.MemberNum) == ("@TGS#demo", 0, 3)
    assert (gone.GroupId, gone.ErrorCode, gone.Name) == ("@TGS#gone", GROUP_MISSING, None)
    assert gone.ErrorCode in GROUP_MISSING_CODES
    only = {"GroupBaseInfoFilter": ["Name"], "MemberInfoFilter": ["Role"]}
    filtered = rest.ok("group_open_http_svc/get_group_info", {"GroupIdList": ["@TGS#demo"], "ResponseFilter": only})
    [item] = filtered["GroupInfo"]
    assert set(item) == {"GroupId", "ErrorCode", "ErrorInfo", "Name", "MemberList"}
    assert item["MemberList"][0] == {"Member_Account": "alice", "Role": "Owner"}
    assert (
        rest("group_open_http_svc/get_group_info", {"GroupIdList": [f"g{i}" for i in range(51)]})["ErrorCode"] == 10004
    )
    assert rest("group_open_http_svc/get_group_info", {"GroupIdList": "@TGS#demo"})["ErrorCode"] == 10004


def test_last_message_time_and_next_seq_follow_the_messages(tim_client: TimRestClient, tim, clock: FakeClock) -> None:
    clock.advance(30)
    tim.send_group("bob", "@TGS#demo", "hello")
    [info] = tim_client.get_group_info(["@TGS#demo"]).GroupInfo
    assert (info.LastMsgTime, info.NextMsgSeq) == (int(START) + 30, 2)


# ---------------------------------------------------------------------- modify_group_base_info (docs/protocol.md §10.3)


def test_modify_changes_the_profile_and_calls_back_for_the_four_fields(
    tim_client: TimRestClient, tim, callbacks: CallbackServer, clock: FakeClock
) -> None:
    clock.advance(60)
    tim_client.modify_group_base_info(
        ModifyGroupBaseInfoRequest(GroupId="@TGS#demo", Name="Renamed", Notification="New rules", MuteAllMember="On")
    )
    [info] = tim_client.get_group_info(["@TGS#demo"]).GroupInfo
    assert (info.Name, info.Notification, info.MuteAllMember, info.LastInfoTime) == (
        "Renamed",
        "New rules",
        "On",
        int(START) + 60,
    )
    [changed] = bodies(tim, "Group.CallbackAfterGroupInfoChanged")
    assert event(changed) == {
        "CallbackCommand": "Group.CallbackAfterGroupInfoChanged",
        "GroupId": "@TGS#demo",
        "Type": "Public",
        "Operator_Account": ADMIN,
        "Name": "Renamed",
        "Notification": "New rules",
    }
    # docs/protocol.md §13.4: other fields do not fire it.
    tim_client.modify_group_base_info(ModifyGroupBaseInfoRequest(GroupId="@TGS#demo", MuteAllMember="Off"))
    tim.wait_idle()
    assert callbacks.commands().count("Group.CallbackAfterGroupInfoChanged") == 1


def test_modify_codes(tim_client: TimRestClient, rest: Rest) -> None:
    with pytest.raises(TimApiError) as caught:
        tim_client.modify_group_base_info(ModifyGroupBaseInfoRequest(GroupId="@TGS#gone", Name="x"))
    assert caught.value.error_code == GROUP_MISSING
    for body in (
        {"GroupId": "@TGS#demo", "Name": ""},
        {"GroupId": "@TGS#demo", "MuteAllMember": "on"},
        {"GroupId": "@TGS#demo", "MaxMemberNum": 2},
        {"GroupId": "@TGS#demo", "FaceUrl": "u" * 101},
    ):
        assert rest("group_open_http_svc/modify_group_base_info", body)["ErrorCode"] == 10004, body


# ---------------------------------------------------------------------- destroy_group (docs/protocol.md §10.4)


def test_destroy_calls_back_with_the_members_and_the_group_is_gone(
    tim_client: TimRestClient, tim, callbacks: CallbackServer
) -> None:
    tim.send_group("bob", "@TGS#demo", "last words")
    tim_client.destroy_group("@TGS#demo")
    [destroyed] = bodies(tim, "Group.CallbackAfterGroupDestroyed")
    assert event(destroyed) == {
        "CallbackCommand": "Group.CallbackAfterGroupDestroyed",
        "GroupId": "@TGS#demo",
        "Type": "Public",
        "Owner_Account": "alice",
        "Name": "Demo",
        "MemberList": [{"Member_Account": "alice"}, {"Member_Account": "bob"}, {"Member_Account": "carol"}],
    }
    assert tim_client.get_group_info(["@TGS#demo"]).GroupInfo[0].ErrorCode == GROUP_MISSING
    for gone in (
        lambda: tim_client.destroy_group("@TGS#demo"),
        lambda: tim_client.group_msg_get_simple("@TGS#demo"),
        lambda: tim_client.add_group_member("@TGS#demo", ["dave"]),
    ):
        with pytest.raises(TimApiError) as caught:
            gone()
        assert caught.value.error_code == GROUP_MISSING


def test_a_community_destroyed_calls_back_without_members(
    tim_client: TimRestClient, tim, callbacks: CallbackServer
) -> None:
    tim_client.create_group(CreateGroupRequest(Type="Community", Name="c", GroupId="@TGS#_c"))
    tim_client.destroy_group("@TGS#_c")
    [destroyed] = bodies(tim, "Group.CallbackAfterGroupDestroyed")
    assert "MemberList" not in destroyed and destroyed["Type"] == "Community"


# ---------------------------------------------------------------------- add_group_member (docs/protocol.md §10.5)


def test_add_members_per_member_results_and_callback(tim_client: TimRestClient, tim, callbacks: CallbackServer) -> None:
    reply = tim_client.add_group_member("@TGS#demo", ["dave", "bob", "ghost"])
    assert [(m.Member_Account, m.Result) for m in reply.MemberList] == [("dave", 1), ("bob", 2), ("ghost", 0)]
    assert reply.failed == ["ghost"]
    [joined] = bodies(tim, "Group.CallbackAfterNewMemberJoin")
    assert event(joined) == {
        "CallbackCommand": "Group.CallbackAfterNewMemberJoin",
        "GroupId": "@TGS#demo",
        "Type": "Public",
        "JoinType": "Invited",
        "Operator_Account": ADMIN,
        "NewMemberList": [{"Member_Account": "dave"}],
    }
    # Nobody new: no callback.
    tim_client.add_group_member("@TGS#demo", ["dave"], silence=True)
    tim.wait_idle()
    assert callbacks.commands().count("Group.CallbackAfterNewMemberJoin") == 1


def test_add_member_codes(tim_client: TimRestClient, rest: Rest) -> None:
    def code_of(call: Any) -> int | None:
        with pytest.raises(TimApiError) as caught:
            call()
        return caught.value.error_code

    assert code_of(lambda: tim_client.add_group_member("@TGS#demo", ["ghost", "phantom"])) == GROUP_ACCOUNT_MISSING
    assert code_of(lambda: tim_client.add_group_member("@TGS#nowhere", ["dave"])) == GROUP_MISSING
    tim_client.create_group(CreateGroupRequest(Type="AVChatRoom", Name="live", GroupId="live-1"))
    assert code_of(lambda: tim_client.add_group_member("live-1", ["dave"])) == GROUP_NO_PERMISSION
    small = create(tim_client, Owner_Account="alice", MaxMemberCount=2)
    tim_client.add_group_member(small, ["bob"])
    assert code_of(lambda: tim_client.add_group_member(small, ["carol"])) == GROUP_FULL
    many = {"GroupId": "@TGS#demo", "MemberList": [{"Member_Account": f"u{i}"} for i in range(301)]}
    assert rest("group_open_http_svc/add_group_member", many)["ErrorCode"] == 10005
    for bad in (
        {"GroupId": "@TGS#demo", "MemberList": []},
        {"GroupId": "@TGS#demo", "MemberList": ["dave"]},
        {"GroupId": "@TGS#demo", "MemberList": [{"Member_Account": "dave"}], "Silence": True},
    ):
        assert rest("group_open_http_svc/add_group_member", bad)["ErrorCode"] == 10004, bad


# ---------------------------------------------------------------------- delete_group_member (docs/protocol.md §10.6)


def test_delete_members_calls_back_for_those_who_were_members(
    tim_client: TimRestClient, tim, callbacks: CallbackServer
) -> None:
    tim_client.delete_group_member("@TGS#demo", ["bob", "dave"], reason="spam")
    [info] = tim_client.get_group_info(["@TGS#demo"]).GroupInfo
    assert info.MemberList is not None and [m.Member_Account for m in info.MemberList] == ["alice", "carol"]
    [left] = bodies(tim, "Group.CallbackAfterMemberExit")
    assert event(left) == {
        "CallbackCommand": "Group.CallbackAfterMemberExit",
        "GroupId": "@TGS#demo",
        "Type": "Public",
        "ExitType": "Kicked",
        "Operator_Account": ADMIN,
        "ExitMemberList": [{"Member_Account": "bob"}],
    }
    # docs/protocol.md §10.6: removing someone who is not a member succeeds; nobody left, so no callback.
    tim_client.delete_group_member("@TGS#demo", ["dave"], silence=True)
    tim.wait_idle()
    assert callbacks.commands().count("Group.CallbackAfterMemberExit") == 1


def test_delete_member_codes(tim_client: TimRestClient, rest: Rest) -> None:
    with pytest.raises(TimApiError) as caught:
        tim_client.delete_group_member("@TGS#demo", ["alice"])
    assert caught.value.error_code == GROUP_PARAM_INVALID  # the owner stays
    with pytest.raises(TimApiError) as caught:
        tim_client.delete_group_member("@TGS#nowhere", ["bob"])
    assert caught.value.error_code == GROUP_MISSING
    many = {"GroupId": "@TGS#demo", "MemberToDel_Account": [f"u{i}" for i in range(101)]}
    assert rest("group_open_http_svc/delete_group_member", many)["ErrorCode"] == 10004
    assert (
        rest("group_open_http_svc/delete_group_member", {"GroupId": "@TGS#demo", "MemberToDel_Account": "bob"})[
            "ErrorCode"
        ]
        == 10004
    )


# ---------------------------------------------------------------------- callback configuration


def test_group_callbacks_follow_the_configured_commands(
    tim_client: TimRestClient, tim, emulator, callbacks: CallbackServer
) -> None:
    emulator.configure(callback_commands=["Group.CallbackAfterMemberExit"])
    group_id = create(tim_client, Owner_Account="alice", MemberList=[InitialMember(Member_Account="bob")])
    tim_client.add_group_member(group_id, ["carol"])
    tim_client.delete_group_member(group_id, ["carol"])
    tim_client.destroy_group(group_id)
    tim.wait_idle()
    assert callbacks.commands() == ["Group.CallbackAfterMemberExit"]


def test_no_callback_url_means_no_group_callbacks(tim_client: TimRestClient, tim) -> None:
    create(tim_client, Owner_Account="alice")
    tim.wait_idle()
    assert tim.callbacks() == []


def test_every_served_api_has_a_handler() -> None:
    for api, handler in REST_API.items():
        service, command = api.removeprefix("v4/").split("/")
        assert service and handler.__name__ == command, api


def test_a_group_made_again_with_the_same_id_starts_afresh(tim_client: TimRestClient) -> None:
    create(tim_client, GroupId="again", Owner_Account="alice")
    first = messages.text("hi").group_request("again", sender="alice", random=5)
    assert tim_client.send_group(first).MsgSeq == 1
    tim_client.destroy_group("again")
    create(tim_client, GroupId="again", Owner_Account="alice")
    assert tim_client.group_msg_get_simple("again").RspMsgList == []
    # The same Random within 5 minutes is a new message in the new group, not a duplicate.
    assert tim_client.send_group(first).MsgSeq == 1
    assert [m.MsgSeq for m in tim_client.group_msg_get_simple("again").RspMsgList] == [1]
