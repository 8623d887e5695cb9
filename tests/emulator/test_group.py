"""Groups: send_group_msg (docs/protocol.md §5.5) with its seq, size limit, Random de-duplication (§6.4) and the
per-group frequency control by priority (§6.1); group creation and the paged listings (§5.8)."""

from __future__ import annotations

from typing import Any

import pytest

from local.tim_emulator import FakeClock
from local.tim_emulator.group_messages import priority_ceilings
from tests.emulator.conftest import ADMIN, Rest, text
from tests.emulator.test_c2c import LIMIT, body_of_size


def group_msg(random: int, group: str = "@TGS#demo", **fields: Any) -> dict[str, Any]:
    return {"GroupId": group, "Random": random, "MsgBody": text(f"message {random}"), **fields}


def test_msgseq_increases_from_1_per_group(rest: Rest, tim) -> None:
    seqs = [rest.ok("group_open_http_svc/send_group_msg", group_msg(r))["MsgSeq"] for r in (1, 2, 3)]
    other = rest.ok("group_open_http_svc/send_group_msg", group_msg(4, group="@TGS#other"))["MsgSeq"]
    assert (seqs, other) == ([1, 2, 3], 1)
    answer = rest.ok("group_open_http_svc/send_group_msg", group_msg(5))
    assert answer["MsgDropReason"] == "" and answer["MsgSeq"] == 4
    assert [m["MsgSeq"] for m in tim.messages(GroupId="@TGS#demo")] == [1, 2, 3, 4]
    assert tim.messages(GroupId="@TGS#demo")[0]["From_Account"] == ADMIN


def test_group_field_errors(rest: Rest) -> None:
    body = group_msg(1)
    del body["Random"]
    assert rest("group_open_http_svc/send_group_msg", body)["ErrorCode"] == 10004
    assert rest("group_open_http_svc/send_group_msg", group_msg(1, group="@TGS#nowhere"))["ErrorCode"] == 10010
    assert rest("group_open_http_svc/send_group_msg", group_msg(1, MsgPriority="high"))["ErrorCode"] == 10004
    assert rest("group_open_http_svc/send_group_msg", group_msg(1, From_Account="ghost"))["ErrorCode"] == 10004
    at_31 = [{"GroupAtAllFlag": 0, "GroupAt_Account": "bob"}] * 31
    assert rest("group_open_http_svc/send_group_msg", group_msg(1, GroupAtInfo=at_31))["ErrorCode"] == 10053


def test_body_limit_is_80002_for_groups(rest: Rest) -> None:
    rest.ok("group_open_http_svc/send_group_msg", group_msg(1, MsgBody=body_of_size(LIMIT)))
    assert (
        rest("group_open_http_svc/send_group_msg", group_msg(2, MsgBody=body_of_size(LIMIT + 1)))["ErrorCode"] == 80002
    )


def test_a_repeated_random_within_5_minutes_is_a_duplicate(rest: Rest, clock: FakeClock, tim) -> None:
    first = rest.ok("group_open_http_svc/send_group_msg", group_msg(77, From_Account="bob"))
    clock.advance(299)
    again = rest.ok("group_open_http_svc/send_group_msg", group_msg(77, From_Account="bob"))
    # The retry is idempotent: the original MsgSeq and MsgTime, nothing stored twice.
    assert (again["MsgSeq"], again["MsgTime"]) == (first["MsgSeq"], first["MsgTime"])
    assert len(tim.messages(GroupId="@TGS#demo")) == 1
    assert [d["reason"] for d in tim.dropped()] == ["duplicate"]
    # Another sender, or another group, with the same Random is another message.
    assert rest.ok("group_open_http_svc/send_group_msg", group_msg(77, From_Account="carol"))["MsgSeq"] == 2
    assert (
        rest.ok("group_open_http_svc/send_group_msg", group_msg(77, group="@TGS#other", From_Account="bob"))["MsgSeq"]
        == 1
    )
    clock.advance(1)  # 300 s after the first: no longer a duplicate
    assert rest.ok("group_open_http_svc/send_group_msg", group_msg(77, From_Account="bob"))["MsgSeq"] == 3


def test_40_messages_per_second_then_silent_drops(rest: Rest, clock: FakeClock, tim) -> None:
    answers = [rest.ok("group_open_http_svc/send_group_msg", group_msg(r, MsgPriority="High")) for r in range(41)]
    assert [a["MsgDropReason"] for a in answers[:40]] == [""] * 40
    dropped = answers[40]
    # docs/protocol.md §5.5/§6.1: success for the sender, but not delivered and not stored.
    assert (dropped["ErrorCode"], dropped["MsgDropReason"], dropped["MsgSeq"]) == (0, "MsgFreqCtrl", 0)
    assert len(tim.messages(GroupId="@TGS#demo")) == 40
    assert tim.dropped()[0]["reason"] == "MsgFreqCtrl" and tim.dropped()[0]["Random"] == 40
    # Each group has its own 40.
    assert rest.ok("group_open_http_svc/send_group_msg", group_msg(1, group="@TGS#other"))["MsgDropReason"] == ""
    clock.advance(1.0)
    assert rest.ok("group_open_http_svc/send_group_msg", group_msg(41))["MsgSeq"] == 41


def test_a_dropped_message_can_be_retried_with_the_same_random(rest: Rest, clock: FakeClock) -> None:
    for r in range(40):
        rest.ok("group_open_http_svc/send_group_msg", group_msg(r, MsgPriority="High"))
    assert rest.ok("group_open_http_svc/send_group_msg", group_msg(500))["MsgDropReason"] == "MsgFreqCtrl"
    clock.advance(1.0)
    retry = rest.ok("group_open_http_svc/send_group_msg", group_msg(500))
    assert (retry["MsgDropReason"], retry["MsgSeq"]) == ("", 41)


def test_lower_priorities_are_dropped_first(rest: Rest) -> None:
    assert priority_ceilings(40) == {"High": 40, "Normal": 36, "Low": 32}

    def send(r: int, priority: str) -> str:
        return rest.ok("group_open_http_svc/send_group_msg", group_msg(r, MsgPriority=priority))["MsgDropReason"]

    assert [send(r, "Low") for r in range(33)] == [""] * 32 + ["MsgFreqCtrl"]
    assert [send(100 + r, "Normal") for r in range(5)] == [""] * 4 + ["MsgFreqCtrl"]
    assert send(200, "Low") == "MsgFreqCtrl"
    assert [send(300 + r, "High") for r in range(5)] == [""] * 4 + ["MsgFreqCtrl"]


def test_the_limit_counts_every_sender_and_api(rest: Rest, emulator, tim) -> None:
    emulator.configure(group_msg_per_second=4)
    rest.ok("group_open_http_svc/send_group_msg", group_msg(1, MsgPriority="High"))
    for user in ("alice", "bob", "carol"):
        assert tim.send_group(user, "@TGS#demo", "hi", MsgPriority="High")["outcome"] == "delivered"
    answer = tim.send_group("alice", "@TGS#demo", "one too many", MsgPriority="High")
    assert (answer["ErrorCode"], answer["outcome"], answer["reason"]) == (0, "dropped", "MsgFreqCtrl")
    assert (
        rest.ok("group_open_http_svc/send_group_msg", group_msg(2, MsgPriority="High"))["MsgDropReason"]
        == "MsgFreqCtrl"
    )


# ---------------------------------------------------------------------- groups and listings


def test_create_group_and_add_members(rest: Rest, tim) -> None:
    created = rest.ok(
        "group_open_http_svc/create_group",
        {"Type": "Public", "Name": "Team", "Owner_Account": "dave", "MemberList": [{"Member_Account": "alice"}]},
    )
    group = created["GroupId"]
    assert group.startswith("@TGS#") and len(group) > 5
    added = rest.ok(
        "group_open_http_svc/add_group_member",
        {
            "GroupId": group,
            "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "alice"}, {"Member_Account": "ghost"}],
        },
    )
    assert added["MemberList"] == [
        {"Member_Account": "bob", "Result": 1},
        {"Member_Account": "alice", "Result": 2},
        {"Member_Account": "ghost", "Result": 0},
    ]
    [state] = [g for g in tim.state()["groups"] if g["GroupId"] == group]
    assert [(m["Member_Account"], m["Role"]) for m in state["members"]] == [
        ("dave", "Owner"),
        ("alice", "Member"),
        ("bob", "Member"),
    ]


def test_create_group_with_a_custom_id(rest: Rest) -> None:
    assert (
        rest.ok("group_open_http_svc/create_group", {"Type": "Work", "Name": "n", "GroupId": "team-1"})["GroupId"]
        == "team-1"
    )
    assert (
        rest("group_open_http_svc/create_group", {"Type": "Work", "Name": "n", "GroupId": "team-1"})["ErrorCode"]
        == 10021
    )
    # docs/protocol.md §6.2: custom IDs may not take Tencent's own prefix, and are at most 48 bytes.
    for bad in ("@TGS#mine", "g" * 49):
        assert (
            rest("group_open_http_svc/create_group", {"Type": "Work", "Name": "n", "GroupId": bad})["ErrorCode"]
            == 10004
        )
    assert rest("group_open_http_svc/create_group", {"Type": "Club", "Name": "n"})["ErrorCode"] == 10004


def test_group_list_pages_with_an_integer_cursor(rest: Rest) -> None:
    for n in range(5):
        rest.ok("group_open_http_svc/create_group", {"Type": "Public", "Name": f"g{n}", "GroupId": f"g{n}"})
    seen, cursor, pages = [], 0, 0
    while True:
        page = rest.ok("group_open_http_svc/get_appid_group_list", {"Limit": 3, "Next": cursor})
        assert page["TotalCount"] == 7
        seen += [g["GroupId"] for g in page["GroupIdList"]]
        pages += 1
        cursor = page["Next"]
        if cursor == 0:
            break
    assert pages == 3
    assert seen == ["@TGS#demo", "@TGS#other", "g0", "g1", "g2", "g3", "g4"]
    work = rest.ok("group_open_http_svc/get_appid_group_list", {"GroupType": "Work"})
    assert (work["TotalCount"], work["GroupIdList"], work["Next"]) == (1, [{"GroupId": "@TGS#other"}], 0)
    assert rest("group_open_http_svc/get_appid_group_list", {"Limit": 10001})["ErrorCode"] == 10004


def test_member_info_pages_by_offset(rest: Rest) -> None:
    members = [f"m{n:02d}" for n in range(12)]
    rest.ok("im_open_login_svc/multiaccount_import", {"Accounts": members})
    rest.ok(
        "group_open_http_svc/add_group_member",
        {"GroupId": "@TGS#demo", "MemberList": [{"Member_Account": m} for m in members]},
    )
    pages = [
        rest.ok("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#demo", "Limit": 5, "Offset": o})
        for o in (0, 5, 10)
    ]
    assert {p["MemberNum"] for p in pages} == {15}
    listed = [m["Member_Account"] for p in pages for m in p["MemberList"]]
    assert listed == ["alice", "bob", "carol", *members]
    first = pages[0]["MemberList"][0]
    assert set(first) == {
        "Member_Account",
        "Role",
        "JoinTime",
        "MsgSeq",
        "MsgFlag",
        "LastSendMsgTime",
        "MuteUntil",
        "NameCard",
    }
    assert first["Role"] == "Owner"
    everyone = rest.ok("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#demo"})
    assert len(everyone["MemberList"]) == 15


def test_member_info_filters_and_limits(rest: Rest) -> None:
    owners = rest.ok(
        "group_open_http_svc/get_group_member_info",
        {"GroupId": "@TGS#demo", "MemberRoleFilter": ["Owner"], "MemberInfoFilter": ["Role"]},
    )
    assert owners["MemberList"] == [{"Member_Account": "alice", "Role": "Owner"}]
    assert (
        rest("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#demo", "Limit": 201})["ErrorCode"] == 10004
    )
    assert rest("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#nope"})["ErrorCode"] == 10010


def test_community_members_page_with_a_next_cursor(rest: Rest) -> None:
    rest.ok(
        "group_open_http_svc/create_group",
        {
            "Type": "Community",
            "Name": "c",
            "GroupId": "@TGS#_c1",
            "MemberList": [{"Member_Account": u} for u in ("alice", "bob", "carol", "dave")],
        },
    )
    seen, cursor = [], ""
    while True:
        page = rest.ok("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#_c1", "Limit": 3, "Next": cursor})
        seen += [m["Member_Account"] for m in page["MemberList"]]
        cursor = page["Next"]
        if cursor == "":
            break
    assert seen == ["alice", "bob", "carol", "dave"]
    assert (
        rest("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#_c1", "Limit": 101, "Next": ""})[
            "ErrorCode"
        ]
        == 10004
    )


@pytest.mark.parametrize("cursor", ["bogus", 3])
def test_member_cursor_must_come_from_the_server(rest: Rest, cursor: object) -> None:
    rest.ok("group_open_http_svc/create_group", {"Type": "Community", "Name": "c", "GroupId": "@TGS#_c2"})
    assert (
        rest("group_open_http_svc/get_group_member_info", {"GroupId": "@TGS#_c2", "Limit": 3, "Next": cursor})[
            "ErrorCode"
        ]
        == 10004
    )


ROLES = "group_open_http_svc/get_role_in_group"


def test_role_in_group_answers_each_account_in_order(rest: Rest) -> None:
    rest.ok(
        "group_open_http_svc/create_group",
        {
            "Type": "Public",
            "Name": "roles",
            "GroupId": "roles-1",
            "Owner_Account": "alice",
            "MemberList": [{"Member_Account": "bob"}],
        },
    )
    answer = rest.ok(ROLES, {"GroupId": "roles-1", "User_Account": ["bob", "dave", "alice", "nobody-at-all"]})
    assert answer["UserIdList"] == [
        {"Member_Account": "bob", "Role": "Member"},
        {"Member_Account": "dave", "Role": "NotMember"},
        {"Member_Account": "alice", "Role": "Owner"},
        {"Member_Account": "nobody-at-all", "Role": "NotMember"},
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"GroupId": "@TGS#nowhere", "User_Account": ["bob"]}, 10010),
        ({"User_Account": ["bob"]}, 10004),
        ({"GroupId": "@TGS#demo"}, 10004),
        ({"GroupId": "@TGS#demo", "User_Account": []}, 10004),
        ({"GroupId": "@TGS#demo", "User_Account": "bob"}, 10004),
        ({"GroupId": "@TGS#demo", "User_Account": [{"Member_Account": "bob"}]}, 10004),
        ({"GroupId": "@TGS#demo", "User_Account": ["u" * 33]}, 10004),
        ({"GroupId": "@TGS#demo", "User_Account": [f"u{i}" for i in range(501)]}, 10004),
        ({"GroupId": "@TGS#demo", "User_Account": ["bob"], "TopicId": "@TGS#demo@TOPIC#1"}, 10004),
        ({"GroupId": ["@TGS#demo"], "User_Account": ["bob"]}, 10004),
    ],
    ids=[
        "missing-group",
        "no-group-id",
        "no-accounts",
        "empty-accounts",
        "accounts-not-array",
        "accounts-not-ids",
        "id-over-32-bytes",
        "501-accounts",
        "topic-not-community",
        "group-id-not-string",
    ],
)
def test_role_in_group_refusals(rest: Rest, body: dict[str, Any], code: int) -> None:
    answer = rest(ROLES, body)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", code), answer
    assert "UserIdList" not in answer


def test_role_in_group_takes_500_accounts(rest: Rest) -> None:
    accounts = ["bob", *(f"u{i}" for i in range(499))]
    answer = rest.ok(ROLES, {"GroupId": "@TGS#demo", "User_Account": accounts})
    assert [item["Member_Account"] for item in answer["UserIdList"]] == accounts
    assert answer["UserIdList"][0]["Role"] == "Member"


def test_role_in_group_is_not_served_for_avchatroom_groups(rest: Rest) -> None:
    rest.ok(
        "group_open_http_svc/create_group",
        {"Type": "AVChatRoom", "Name": "live", "GroupId": "live-1", "Owner_Account": "alice"},
    )
    assert rest(ROLES, {"GroupId": "live-1", "User_Account": ["alice"]})["ErrorCode"] == 10007


def test_role_in_group_topic_of_a_community(rest: Rest) -> None:
    rest.ok(
        "group_open_http_svc/create_group",
        {
            "Type": "Community",
            "Name": "c",
            "GroupId": "@TGS#_roles",
            "Owner_Account": "alice",
            "MemberList": [{"Member_Account": "bob"}],
        },
    )
    answer = rest.ok(
        ROLES, {"GroupId": "@TGS#_roles", "User_Account": ["bob", "carol"], "TopicId": "@TGS#_roles@TOPIC#_t1"}
    )
    assert [item["Role"] for item in answer["UserIdList"]] == ["Member", "NotMember"]
    assert rest(ROLES, {"GroupId": "@TGS#_roles", "User_Account": ["bob"], "TopicId": 7})["ErrorCode"] == 10004
