"""The REST models of the thread APIs (docs/protocol.md §10-§12) against the documentation's example
bodies, and hostile input refused before any HTTP call: wrong types and structure, too many items,
limits counted in UTF-8 bytes, rules between fields."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from timkit.models.rest import (
    AddGroupMemberReply,
    AddGroupMemberRequest,
    AdminGetRoamMsgReply,
    AdminGetRoamMsgRequest,
    AdminMsgWithdrawRequest,
    AdminSetMsgReadRequest,
    CreateGroupReply,
    CreateGroupRequest,
    DeleteGroupMemberRequest,
    DestroyGroupRequest,
    GetGroupInfoReply,
    GetGroupInfoRequest,
    GetGroupMsgReceiptDetailReply,
    GetGroupMsgReceiptDetailRequest,
    GetGroupMsgReceiptReply,
    GetGroupMsgReceiptRequest,
    GroupMsgGetSimpleReply,
    GroupMsgGetSimpleRequest,
    GroupMsgRecallReply,
    GroupMsgRecallRequest,
    GroupMsgReceiptRequest,
    ModifyGroupBaseInfoRequest,
)
from timkit.tim.rest import TimRestClient


def wire(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------------- the documentation's examples


@pytest.mark.parametrize(
    ("model", "example"),
    [
        # docs/protocol.md §10.1, the "ALL IN ONE" example (one member's custom data kept, binary value included).
        (
            CreateGroupRequest,
            {
                "Owner_Account": "leckie",
                "Type": "Public",
                "GroupId": "MyFirstGroup",
                "Name": "TestGroup",
                "Introduction": "This is group Introduction",
                "Notification": "This is group Notification",
                "FaceUrl": "http://this.is.face.url",
                "MaxMemberCount": 500,
                "ApplyJoinOption": "FreeAccess",
                "AppDefinedData": [
                    {"Key": "GroupTestData1", "Value": "xxxxx"},
                    {"Key": "GroupTestData2", "Value": "abc\u0000\u0001"},
                ],
                "MemberList": [
                    {
                        "Member_Account": "bob",
                        "Role": "Admin",
                        "AppMemberDefinedData": [{"Key": "MemberDefined1", "Value": "MemberData1"}],
                    },
                    {"Member_Account": "peter"},
                ],
            },
        ),
        (CreateGroupRequest, {"Type": "Community", "Name": "TestCommunityGroup", "SupportTopic": 1}),
        (
            GetGroupInfoRequest,
            {
                "GroupIdList": ["@TGS#1NVTZEAE4", "@TGS#1CXTZEAET"],
                "ResponseFilter": {
                    "GroupBaseInfoFilter": ["Type", "Name", "Introduction", "Notification"],
                    "MemberInfoFilter": ["Account", "Role"],
                    "AppDefinedDataFilter_Group": ["GroupTestData1", "GroupTestData2"],
                    "AppDefinedDataFilter_GroupMember": ["MemberDefined2", "MemberDefined1"],
                },
            },
        ),
        (
            ModifyGroupBaseInfoRequest,
            {
                "GroupId": "@TGS#2J4SZEAEL",
                "Name": "NewName",
                "Introduction": "NewIntroduction",
                "Notification": "NewNotification",
                "FaceUrl": "http://this.is.new.face.url",
                "MaxMemberNum": 500,
                "ApplyJoinOption": "NeedPermission",
                "MuteAllMember": "On",
                "AppDefinedData": [
                    {"Key": "GroupTestData1", "Value": "NewData"},
                    {"Key": "GroupTestData2", "Value": ""},
                ],
            },
        ),
        (DestroyGroupRequest, {"GroupId": "@TGS#2J4SZEAEL"}),
        (
            AddGroupMemberRequest,
            {
                "GroupId": "@TGS#2J4SZEAEL",
                "Silence": 1,
                "MemberList": [{"Member_Account": "tommy"}, {"Member_Account": "jared"}],
            },
        ),
        (
            DeleteGroupMemberRequest,
            {"GroupId": "@TGS#2J4SZEAEL", "Reason": "kick reason", "MemberToDel_Account": ["tommy", "jared"]},
        ),
        (GroupMsgRecallRequest, {"GroupId": "@TGS#2J4SZEAEL", "MsgSeqList": [{"MsgSeq": 100}, {"MsgSeq": 101}]}),
        (GroupMsgGetSimpleRequest, {"GroupId": "@TGS#15ERQPAER", "ReqMsgSeq": 7803321, "ReqMsgNumber": 2}),
        (GroupMsgReceiptRequest, {"GroupId": "public123", "From_Account": "user2", "MsgSeqList": [{"MsgSeq": 1}]}),
        (GetGroupMsgReceiptRequest, {"GroupId": "@TGS#2TTV7VSII", "MsgSeqList": [{"MsgSeq": 1}, {"MsgSeq": 2}]}),
        (
            GetGroupMsgReceiptDetailRequest,
            {"GroupId": "@TGS#2TTV7VSII", "MsgSeq": 1, "Filter": 1, "Cursor": "", "Count": 5},
        ),
        (
            AdminGetRoamMsgRequest,
            {
                "Operator_Account": "user2",
                "Peer_Account": "user1",
                "MaxCnt": 100,
                "MinTime": 1584669600,
                "MaxTime": 1584669680,
                "LastMsgKey": "549396494_2578554_1584669680",
            },
        ),
        (
            AdminMsgWithdrawRequest,
            {"From_Account": "vinson", "To_Account": "dramon", "MsgKey": "31906_833502_1572869830"},
        ),
        (AdminSetMsgReadRequest, {"Report_Account": "dramon1", "Peer_Account": "dramon2"}),
    ],
)
def test_documented_requests_go_out_as_documented(model: Any, example: dict[str, Any]) -> None:
    assert wire(model.model_validate(example)) == example


def test_create_group_reply_examples() -> None:
    basic = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0, "GroupId": "@TGS#2J4SZEAEL"}
    assert CreateGroupReply.model_validate(basic).GroupId == "@TGS#2J4SZEAEL"
    community = CreateGroupReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorInfo": "",
            "ErrorCode": 0,
            "GroupId": "@TGS#_@TGS#cRDH3HIM62CP",
            "HugeGroupFlag": 0,
            "Type": "Community",
        }
    )
    assert community.GroupId == "@TGS#_@TGS#cRDH3HIM62CP"


def test_get_group_info_reply_example() -> None:
    reply = GetGroupInfoReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorInfo": "",
            "ErrorCode": 0,
            "GroupInfo": [
                {
                    "GroupId": "@TGS#2J4SZEAEL",
                    "ErrorCode": 0,
                    "ErrorInfo": "",
                    "Type": "Public",
                    "Name": "MyFirstGroup",
                    "Appid": 1400001001,
                    "Introduction": "TestGroup",
                    "Notification": "TestGroup",
                    "FaceUrl": "http://this.is.face.url",
                    "Owner_Account": "leckie",
                    "CreateTime": 1426976500,
                    "LastInfoTime": 1426976500,
                    "LastMsgTime": 1426976600,
                    "NextMsgSeq": 1234,
                    "MemberNum": 2,
                    "MaxMemberNum": 50,
                    "ApplyJoinOption": "FreeAccess",
                    "MuteAllMember": "On",
                    "AppDefinedData": [{"Key": "GroupTestData1", "Value": "xxxx"}],
                    "MemberList": [
                        {
                            "Member_Account": "leckie",
                            "Role": "Owner",
                            "JoinTime": 1425976500,
                            "MsgSeq": 1233,
                            "MsgFlag": "AcceptAndNotify",
                            "LastSendMsgTime": 1425976500,
                            "MuteUntil": 1431069882,
                            "AppMemberDefinedData": [{"Key": "MemberDefined1", "Value": "ModifyDefined1"}],
                        }
                    ],
                }
            ],
        }
    )
    [info] = reply.GroupInfo
    assert (info.Name, info.Owner_Account, info.NextMsgSeq, info.MemberNum) == ("MyFirstGroup", "leckie", 1234, 2)
    assert info.MemberList is not None and info.MemberList[0].Role == "Owner"


def test_add_group_member_reply_lists_the_failures() -> None:
    reply = AddGroupMemberReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorInfo": "",
            "ErrorCode": 0,
            "MemberList": [
                {"Member_Account": "tommy", "Result": 1},
                {"Member_Account": "jared", "Result": 0},
                {"Member_Account": "amy", "Result": 2},
                {"Member_Account": "zed", "Result": 3},
            ],
        }
    )
    assert reply.failed == ["jared"]


def test_group_msg_recall_reply_example() -> None:
    reply = GroupMsgRecallReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorInfo": "",
            "ErrorCode": 0,
            "RecallRetList": [{"MsgSeq": 100, "RetCode": 10030}, {"MsgSeq": 101, "RetCode": 0}],
        }
    )
    assert reply.failed == {100: 10030}


def test_group_history_reply_example() -> None:
    reply = GroupMsgGetSimpleReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorInfo": "",
            "ErrorCode": 0,
            "GroupId": "@TGS#15ERQPAER",
            "IsFinished": 1,
            "RspMsgList": [
                {
                    "From_Account": "144115197276518801",
                    "IsPlaceMsg": 0,
                    "MsgBody": [
                        {
                            "MsgContent": {
                                "Data": "\b\u0001\u0010\u0006\u001a\u0006 MaoTong",
                                "Desc": "MIF",
                                "Ext": "",
                            },
                            "MsgType": "TIMCustomElem",
                        },
                        {"MsgContent": {"Data": "", "Index": 15}, "MsgType": "TIMFaceElem"},
                    ],
                    "MsgPriority": 1,
                    "MsgRandom": 51083293,
                    "MsgSeq": 7803321,
                    "MsgTimeStamp": 1458721802,
                },
                {
                    "From_Account": "144115198339527735",
                    "IsPlaceMsg": 2,
                    "MsgBody": [],
                    "MsgPriority": 1,
                    "MsgRandom": 235168582,
                    "MsgSeq": 7803320,
                    "MsgTimeStamp": 1458721797,
                },
            ],
        }
    )
    first, recalled = reply.RspMsgList
    assert (first.MsgSeq, first.MsgBody[1].MsgType, first.recalled) == (7803321, "TIMFaceElem", False)
    assert recalled.recalled and reply.IsFinished == 1


def test_receipt_replies() -> None:
    counts = GetGroupMsgReceiptReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorCode": 0,
            "ErrorInfo": "",
            "GroupMsgReceiptList": [
                {"Code": 0, "MsgSeq": 1, "ReadNum": 1, "UnreadNum": 6},
                {"Code": 10062, "MsgSeq": 2},
            ],
        }
    )
    assert [(r.MsgSeq, r.Code, r.ReadNum, r.UnreadNum) for r in counts.GroupMsgReceiptList] == [
        (1, 0, 1, 6),
        (2, 10062, 0, 0),
    ]
    # docs/protocol.md §11.3: the examples spell it IsFinish, the table IsFinished.
    read = GetGroupMsgReceiptDetailReply.model_validate(
        {
            "ActionStatus": "OK",
            "Cursor": "0",
            "ErrorCode": 0,
            "ErrorInfo": "",
            "IsFinish": 1,
            "MsgSeq": 1,
            "ReadList": [{"Read_Account": "test1"}],
        }
    )
    assert (read.IsFinished, [r.Read_Account for r in read.ReadList]) == (1, ["test1"])
    unread = GetGroupMsgReceiptDetailReply.model_validate(
        {"Cursor": "144115213529088617", "IsFinished": 0, "MsgSeq": 1, "UnreadList": [{"Unread_Account": "test"}]}
    )
    assert (unread.IsFinished, unread.Cursor, unread.UnreadList[0].Unread_Account) == (0, "144115213529088617", "test")


def test_roam_reply_example() -> None:
    reply = AdminGetRoamMsgReply.model_validate(
        {
            "ActionStatus": "OK",
            "ErrorInfo": "",
            "ErrorCode": 0,
            "Complete": 0,
            "MsgCnt": 2,
            "LastMsgTime": 1584669680,
            "LastMsgKey": "549396494_2578554_1584669680",
            "MsgList": [
                {
                    "From_Account": "user1",
                    "To_Account": "user2",
                    "MsgSeq": 549396494,
                    "MsgRandom": 2578554,
                    "MsgTimeStamp": 1584669680,
                    "MsgFlagBits": 0,
                    "IsPeerRead": 0,
                    "MsgKey": "549396494_2578554_1584669680",
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "msg 1"}}],
                    "CloudCustomData": "your cloud custom data",
                },
                {
                    "From_Account": "user2",
                    "To_Account": "user1",
                    "MsgSeq": 1054803289,
                    "MsgRandom": 7201,
                    "MsgTimeStamp": 1584669689,
                    "MsgFlagBits": 8,
                    "IsPeerRead": 0,
                    "MsgKey": "1054803289_7201_1584669689",
                    "MsgBody": [],
                    "CloudCustomData": "",
                },
            ],
        }
    )
    assert (reply.Complete, reply.LastMsgKey) == (0, "549396494_2578554_1584669680")
    assert [m.recalled for m in reply.MsgList] == [False, True]
    assert reply.MsgList[0].CloudCustomData == "your cloud custom data"


# ---------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (CreateGroupRequest, {"Type": "Club", "Name": "x"}, "Type"),
        (CreateGroupRequest, {"Type": "Public", "Name": ""}, "Name"),
        # 11 Chinese characters are 33 bytes: over the 30-byte name limit though only 11 characters.
        (CreateGroupRequest, {"Type": "Public", "Name": "群" * 11}, "Name"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "Introduction": "é" * 121}, "Introduction"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "Notification": "n" * 301}, "Notification"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "FaceUrl": "u" * 101}, "FaceUrl"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "GroupId": "g" * 49}, "GroupId"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "Owner_Account": "o" * 33}, "Owner_Account"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "Owner_Account": ["leckie"]}, "Owner_Account"),
        (
            CreateGroupRequest,
            {"Type": "Public", "Name": "x", "MemberList": [{"Member_Account": f"u{i}"} for i in range(101)]},
            "MemberList",
        ),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "MemberList": "bob"}, "MemberList"),
        (
            CreateGroupRequest,
            {"Type": "Public", "Name": "x", "MemberList": [{"Member_Account": "bob", "Role": "Owner"}]},
            "Role",
        ),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "ApplyJoinOption": "freeaccess"}, "ApplyJoinOption"),
        (CreateGroupRequest, {"Type": "Public", "Name": "x", "MaxMemberCount": 0}, "MaxMemberCount"),
        (GetGroupInfoRequest, {"GroupIdList": []}, "GroupIdList"),
        (GetGroupInfoRequest, {"GroupIdList": [f"g{i}" for i in range(51)]}, "GroupIdList"),
        (GetGroupInfoRequest, {"GroupIdList": "g1"}, "GroupIdList"),
        (GetGroupInfoRequest, {"GroupIdList": [{"GroupId": "g1"}]}, "GroupIdList"),
        (ModifyGroupBaseInfoRequest, {"GroupId": "g", "MuteAllMember": True}, "MuteAllMember"),
        (ModifyGroupBaseInfoRequest, {"GroupId": "g", "Name": "群" * 11}, "Name"),
        (DestroyGroupRequest, {"GroupId": ""}, "GroupId"),
        (DestroyGroupRequest, {"GroupId": 42}, "GroupId"),
        (AddGroupMemberRequest, {"GroupId": "g", "MemberList": []}, "MemberList"),
        (AddGroupMemberRequest, {"GroupId": "g", "MemberList": [f"u{i}" for i in range(301)]}, "MemberList"),
        (AddGroupMemberRequest, {"GroupId": "g", "MemberList": "bob"}, "MemberList"),
        (AddGroupMemberRequest, {"GroupId": "g", "MemberList": [{"Member_Account": 7}]}, "Member_Account"),
        (AddGroupMemberRequest, {"GroupId": "g", "MemberList": [["bob"]]}, "MemberList"),
        (AddGroupMemberRequest, {"GroupId": "g", "MemberList": ["bob"], "Silence": 2}, "Silence"),
        (
            DeleteGroupMemberRequest,
            {"GroupId": "g", "MemberToDel_Account": [f"u{i}" for i in range(101)]},
            "MemberToDel_Account",
        ),
        (DeleteGroupMemberRequest, {"GroupId": "g", "MemberToDel_Account": "bob"}, "MemberToDel_Account"),
        (GroupMsgRecallRequest, {"GroupId": "g", "MsgSeqList": list(range(1, 12))}, "MsgSeqList"),
        (GroupMsgRecallRequest, {"GroupId": "g", "MsgSeqList": [0]}, "MsgSeq"),
        (GroupMsgRecallRequest, {"GroupId": "g", "MsgSeqList": [{"MsgSeq": "one"}]}, "MsgSeq"),
        (GroupMsgRecallRequest, {"GroupId": "g", "MsgSeqList": {"MsgSeq": 1}}, "MsgSeqList"),
        (GroupMsgRecallRequest, {"GroupId": "g", "MsgSeqList": [1], "Reason": "理" * 34}, "Reason"),
        (GroupMsgGetSimpleRequest, {"GroupId": "g", "ReqMsgNumber": 21}, "ReqMsgNumber"),
        (GroupMsgGetSimpleRequest, {"GroupId": "g", "ReqMsgNumber": 0}, "ReqMsgNumber"),
        (GroupMsgGetSimpleRequest, {"GroupId": "g", "ReqMsgNumber": 5, "WithRecalledMsg": 2}, "WithRecalledMsg"),
        (
            GroupMsgReceiptRequest,
            {"GroupId": "g", "From_Account": "bob", "MsgSeqList": list(range(1, 52))},
            "MsgSeqList",
        ),
        (GroupMsgReceiptRequest, {"GroupId": "g", "MsgSeqList": [1]}, "From_Account"),
        (GetGroupMsgReceiptDetailRequest, {"GroupId": "g", "MsgSeq": 1, "Filter": 2}, "Filter"),
        (GetGroupMsgReceiptDetailRequest, {"GroupId": "g", "MsgSeq": 1, "Filter": 0, "Count": 201}, "Count"),
        (
            AdminGetRoamMsgRequest,
            {"Operator_Account": "a", "Peer_Account": "b", "MaxCnt": 0, "MinTime": 0, "MaxTime": 1},
            "MaxCnt",
        ),
        (
            AdminGetRoamMsgRequest,
            {"Operator_Account": "a", "Peer_Account": "b", "MaxCnt": 5, "MinTime": "yesterday", "MaxTime": 1},
            "MinTime",
        ),
        (
            AdminGetRoamMsgRequest,
            {"Operator_Account": "a", "Peer_Account": "b", "MaxCnt": 5, "MinTime": 0, "MaxTime": 1, "LastMsgKey": ""},
            "LastMsgKey",
        ),
        (AdminMsgWithdrawRequest, {"From_Account": "a", "To_Account": "b", "MsgKey": ""}, "MsgKey"),
        (AdminMsgWithdrawRequest, {"From_Account": "a", "To_Account": None, "MsgKey": "1_2_3"}, "To_Account"),
        (AdminSetMsgReadRequest, {"Report_Account": "a", "Peer_Account": "b", "MsgReadTime": -1}, "MsgReadTime"),
    ],
)
def test_hostile_fields_are_refused_naming_the_field(model: Any, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"Type": "Public", "Name": "x", "GroupId": "@TGS#mine"}, "may not start with @TGS#"),
        # A Community's own prefix is taken only for a Community.
        ({"Type": "Public", "Name": "x", "GroupId": "@TGS#_mine"}, "may not start with @TGS#"),
        ({"Type": "AVChatRoom", "Name": "live", "MemberList": [{"Member_Account": "bob"}]}, "AVChatRoom"),
        ({"Type": "Public", "Name": "x", "SupportTopic": 1}, "Community"),
    ],
)
def test_create_group_rules_between_fields(body: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        CreateGroupRequest.model_validate(body)
    assert CreateGroupRequest(Type="Community", Name="c", GroupId="@TGS#_mine").GroupId == "@TGS#_mine"


def test_a_modify_that_changes_nothing_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        ModifyGroupBaseInfoRequest(GroupId="g")
    with pytest.raises(ValidationError, match="at least one field"):
        ModifyGroupBaseInfoRequest.model_validate({"GroupId": "g", "Name": None})


def test_roam_range_must_be_in_order() -> None:
    with pytest.raises(ValidationError, match="MinTime is after MaxTime"):
        AdminGetRoamMsgRequest(Operator_Account="a", Peer_Account="b", MaxCnt=5, MinTime=10, MaxTime=9)


def test_bare_ids_and_seqs_are_wrapped() -> None:
    request = AddGroupMemberRequest.model_validate({"GroupId": "g", "MemberList": ["bob", {"Member_Account": "amy"}]})
    assert wire(request)["MemberList"] == [{"Member_Account": "bob"}, {"Member_Account": "amy"}]
    recall = GroupMsgRecallRequest.model_validate({"GroupId": "g", "MsgSeqList": [3, 4]})
    assert wire(recall)["MsgSeqList"] == [{"MsgSeq": 3}, {"MsgSeq": 4}]


# ---------------------------------------------------------------------- the client refuses before any call


class NoHttp:
    """A session that fails the test if anything is sent."""

    def post(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an invalid request reached HTTP")


@pytest.fixture
def offline() -> TimRestClient:
    return TimRestClient(1400000001, "k" * 32, session=NoHttp())  # a stub session


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_group_info([f"g{i}" for i in range(51)]),
        lambda c: c.get_group_info("@TGS#one"),
        lambda c: c.destroy_group(""),
        lambda c: c.add_group_member("g", [f"u{i}" for i in range(301)]),
        lambda c: c.add_group_member("g", "bob"),
        lambda c: c.add_group_member("g", [None]),
        lambda c: c.delete_group_member("g", [f"u{i}" for i in range(101)]),
        lambda c: c.delete_group_member("g", ["bob"], reason=7),
        lambda c: c.group_msg_recall("g", list(range(1, 12))),
        lambda c: c.group_msg_recall("g", [1], reason="x" * 101),
        lambda c: c.group_msg_recall("g", "12"),
        lambda c: c.group_msg_get_simple("g", number=21),
        lambda c: c.group_msg_get_simple("g", req_msg_seq=0),
        lambda c: c.group_msg_receipt("g", "bob", list(range(1, 52))),
        lambda c: c.get_group_msg_receipt("g", []),
        lambda c: c.get_group_msg_receipt_detail("g", 1, count=201),
        lambda c: c.admin_msgwithdraw("a", "b", ""),
        lambda c: c.admin_set_msg_read("a" * 33, "b"),
        lambda c: c.admin_set_msg_read("a", "b", msg_read_time="now"),
    ],
)
def test_the_client_refuses_bad_input_before_any_call(offline: TimRestClient, call: Any) -> None:
    with pytest.raises(ValidationError):
        call(offline)


@pytest.mark.parametrize("seqs", [[True], ["3"], [[3]], [{"MsgSeq": {}}], [3.5], "3", [{"MsgSeq": False}]])
def test_a_sequence_of_another_type_is_refused_not_coerced(seqs: object) -> None:
    # A true became seq 1 (and "3" seq 3): a recall of a message nobody named.
    with pytest.raises(ValidationError):
        GroupMsgRecallRequest(GroupId="g", MsgSeqList=seqs)
