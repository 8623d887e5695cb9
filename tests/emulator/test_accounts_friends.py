"""Accounts, robots (docs/protocol.md §5.9, §8.1) and friends (§5.1, friend_check)."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import Rest


def robots(rest: Rest) -> list[str]:
    return rest.ok("openim_robot_http_svc/get_all_robots", {})["Robot_Account"]


# ---------------------------------------------------------------------- accounts


def test_account_import_creates_and_updates(rest: Rest, tim) -> None:
    rest.ok("im_open_login_svc/account_import", {"UserID": "erin", "Nick": "Erin", "FaceUrl": "https://x/e.png"})
    rest.ok("im_open_login_svc/account_import", {"UserID": "erin", "Nick": "Erin B."})
    [erin] = [a for a in tim.state()["accounts"] if a["UserID"] == "erin"]
    assert erin == {"UserID": "erin", "Nick": "Erin B.", "FaceUrl": "https://x/e.png", "robot": False}


@pytest.mark.parametrize("user", ["", "x" * 33, 42, None, "@RBT#sneaky"])
def test_account_import_refuses_invalid_ids(rest: Rest, user: object) -> None:
    # docs/protocol.md §6.2: a UserID is at most 32 bytes; robot IDs come from create_robot.
    assert rest("im_open_login_svc/account_import", {"UserID": user})["ErrorCode"] == 70402


def test_multiaccount_import_reports_the_failed_ones(rest: Rest) -> None:
    answer = rest.ok("im_open_login_svc/multiaccount_import", {"Accounts": ["u1", "u2", "y" * 33]})
    assert answer["FailAccounts"] == ["y" * 33]


# ---------------------------------------------------------------------- robots


def test_robot_ids_start_with_the_prefix_and_fit_32_bytes(rest: Rest) -> None:
    assert rest.ok("openim_robot_http_svc/create_robot", {"UserID": "@RBT#" + "b" * 27, "Nick": "Bot"})
    for bad in ["plainbot", "@RBT#", "@RBT#" + "b" * 28, "@rbt#lower"]:
        assert rest("openim_robot_http_svc/create_robot", {"UserID": bad})["ErrorCode"] == 70402, bad
    assert "@RBT#" + "b" * 27 in robots(rest)


def test_creating_an_existing_robot_again_is_a_no_op(rest: Rest, tim) -> None:
    rest.ok("openim_robot_http_svc/create_robot", {"UserID": "@RBT#again", "Nick": "first"})
    rest.ok("openim_robot_http_svc/create_robot", {"UserID": "@RBT#again", "Nick": "second"})
    assert robots(rest).count("@RBT#again") == 1
    [again] = [a for a in tim.state()["accounts"] if a["UserID"] == "@RBT#again"]
    assert again["Nick"] == "first"


def test_at_most_20_robots(rest: Rest) -> None:
    existing = len(robots(rest))
    for n in range(20 - existing):
        rest.ok("openim_robot_http_svc/create_robot", {"UserID": f"@RBT#bot{n}"})
    assert len(robots(rest)) == 20
    assert rest("openim_robot_http_svc/create_robot", {"UserID": "@RBT#one-too-many"})["ErrorCode"] == 70398
    # Re-creating one of the 20 is still a no-op, not a limit error.
    rest.ok("openim_robot_http_svc/create_robot", {"UserID": "@RBT#bot0"})


def test_delete_robot(rest: Rest) -> None:
    rest.ok("openim_robot_http_svc/delete_robot", {"UserID": "@RBT#helper"})
    assert robots(rest) == ["@RBT#assistant"]
    assert rest("openim_robot_http_svc/delete_robot", {"UserID": "@RBT#helper"})["ErrorCode"] == 70107
    assert rest("openim_robot_http_svc/delete_robot", {"UserID": "alice"})["ErrorCode"] == 70107


# ---------------------------------------------------------------------- friends


def add(rest: Rest, owner: str, *targets: str, add_type: str = "Add_Type_Both", force: int = 1) -> dict:
    return rest.ok(
        "sns/friend_add",
        {
            "From_Account": owner,
            "AddFriendItem": [{"To_Account": t, "AddSource": "AddSource_Type_Server"} for t in targets],
            "AddType": add_type,
            "ForceAddFlags": force,
        },
    )


def check(rest: Rest, owner: str, *targets: str, both: bool = True) -> dict[str, str]:
    answer = rest.ok(
        "sns/friend_check",
        {
            "From_Account": owner,
            "To_Account": list(targets),
            "CheckType": "CheckResult_Type_Both" if both else "CheckResult_Type_Single",
        },
    )
    return {item["To_Account"]: item["Relation"] for item in answer["InfoItem"]}


def test_forced_add_both_makes_friends_both_ways(rest: Rest) -> None:
    answer = add(rest, "alice", "@RBT#assistant")
    assert answer["ResultItem"] == [{"To_Account": "@RBT#assistant", "ResultCode": 0, "ResultInfo": ""}]
    assert "Fail_Account" not in answer
    assert check(rest, "alice", "@RBT#assistant") == {"@RBT#assistant": "CheckResult_Type_BothWay"}
    assert check(rest, "@RBT#assistant", "alice") == {"alice": "CheckResult_Type_BothWay"}


def test_forced_add_single_is_one_direction(rest: Rest) -> None:
    add(rest, "alice", "bob", add_type="Add_Type_Single")
    assert check(rest, "alice", "bob") == {"bob": "CheckResult_Type_AWithB"}
    assert check(rest, "bob", "alice") == {"alice": "CheckResult_Type_BWithA"}
    assert check(rest, "alice", "bob", both=False) == {"bob": "CheckResult_Type_AWithB"}
    assert check(rest, "bob", "alice", both=False) == {"alice": "CheckResult_Type_NoRelation"}


def test_add_without_force_waits_for_confirmation(rest: Rest) -> None:
    # 30539 is "pending approval", not a failure (docs/protocol.md §5.1): no Fail_Account, and no friendship yet.
    answer = add(rest, "alice", "bob", force=0)
    assert answer["ResultItem"][0]["ResultCode"] == 30539
    assert "Fail_Account" not in answer
    assert check(rest, "alice", "bob") == {"bob": "CheckResult_Type_NoRelation"}


def test_already_friends_is_reported_per_item(rest: Rest) -> None:
    add(rest, "alice", "bob")
    answer = add(rest, "alice", "bob", "carol")
    assert answer["ErrorCode"] == 0
    assert answer["ResultItem"] == [
        {"To_Account": "bob", "ResultCode": 30001, "ResultInfo": "Err_SNS_FriendAdd_Friend_Exist"},
        {"To_Account": "carol", "ResultCode": 0, "ResultInfo": ""},
    ]
    assert answer["Fail_Account"] == ["bob"]


def test_add_both_completes_a_one_way_friendship(rest: Rest) -> None:
    add(rest, "bob", "alice", add_type="Add_Type_Single")
    assert add(rest, "alice", "bob")["ResultItem"][0]["ResultCode"] == 0
    assert check(rest, "alice", "bob") == {"bob": "CheckResult_Type_BothWay"}


def test_friend_add_item_errors(rest: Rest) -> None:
    answer = add(rest, "alice", "nobody", "alice")
    assert [(i["To_Account"], i["ResultCode"]) for i in answer["ResultItem"]] == [("nobody", 30003), ("alice", 30001)]
    assert answer["Fail_Account"] == ["nobody", "alice"]
    bad_source = rest.ok(
        "sns/friend_add", {"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "Server"}]}
    )
    assert bad_source["ResultItem"][0]["ResultCode"] == 30001


def test_friend_add_request_errors(rest: Rest) -> None:
    assert (
        rest("sns/friend_add", {"From_Account": "ghost", "AddFriendItem": [{"To_Account": "bob"}]})["ErrorCode"]
        == 30003
    )
    # An object instead of an array (a mistake seen in the wild) is a request error.
    assert (
        rest("sns/friend_add", {"From_Account": "alice", "AddFriendItem": {"To_Account": "bob"}})["ErrorCode"] == 30001
    )
    assert (
        rest("sns/friend_add", {"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob"}], "AddType": "Both"})[
            "ErrorCode"
        ]
        == 30001
    )


def test_friend_check_needs_a_check_type(rest: Rest) -> None:
    assert rest("sns/friend_check", {"From_Account": "alice", "To_Account": ["bob"]})["ErrorCode"] == 30001
    assert (
        rest(
            "sns/friend_check",
            {"From_Account": "alice", "To_Account": ["bob"] * 1001, "CheckType": "CheckResult_Type_Both"},
        )["ErrorCode"]
        == 30001
    )
