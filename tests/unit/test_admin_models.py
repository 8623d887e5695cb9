"""The admin API's models: every limit and rule is a ValidationError that names the field (or, for
the rules between fields, names the fields in its message), and the shapes the API accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.unit.conftest import text_body
from timkit.models.admin import (
    MAX_BOT_FRIENDS_PER_REQUEST,
    MAX_BROADCAST_GROUPS,
    MAX_MESSAGE_RECIPIENTS,
    BotFriendsRequest,
    BroadcastRequest,
    MessageRequest,
    Outgoing,
    RobotCreateRequest,
    Schedule,
)
from timkit.models.elements import MAX_BODY_BYTES, body_size, parse_body

RELAY = {
    "MsgType": "TIMRelayElem",
    "MsgContent": {
        "Title": "history",
        "MsgNum": 1,
        "CompatibleText": "upgrade",
        "AbstractList": ["a: hi"],
        "JsonMsgKey": "k0001",
    },
}


def errors(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value.errors()


def only_error(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    found = errors(model, data)
    assert len(found) == 1, found
    return found[0]


def message(**fields: Any) -> dict[str, Any]:
    return {"msgBody": text_body("hi"), "toUser": "alice", **fields}


def broadcast(**fields: Any) -> dict[str, Any]:
    return {"msgBody": text_body("hi"), "groupIds": ["g1", "g2"], **fields}


def text_of_size(size: int) -> list[dict[str, Any]]:
    """A text body whose counted size (docs/protocol.md §6.2) is exactly ``size`` bytes."""
    overhead = body_size(parse_body(text_body("")))
    return text_body("x" * (size - overhead))


# ----------------------------------------------------------------------------- message bodies


def test_an_empty_body_names_msg_body() -> None:
    error = only_error(MessageRequest, message(msgBody=[]))
    assert error["loc"] == ("msgBody",)
    assert error["type"] == "too_short"


def test_a_missing_body_names_msg_body() -> None:
    data = message()
    del data["msgBody"]
    assert only_error(MessageRequest, data)["loc"] == ("msgBody",)


def test_a_body_of_exactly_12_kb_is_accepted() -> None:
    request = MessageRequest.model_validate(message(msgBody=text_of_size(MAX_BODY_BYTES)))
    assert body_size(request.msg_body) == MAX_BODY_BYTES


@pytest.mark.parametrize("model,data", [(MessageRequest, message()), (BroadcastRequest, broadcast())])
def test_a_13_kb_body_says_its_size_and_the_12_kb_limit(model: type[BaseModel], data: dict[str, Any]) -> None:
    error = only_error(model, {**data, "msgBody": text_of_size(13 * 1024)})
    assert error["loc"] == ("msgBody",)
    assert f"{13 * 1024} bytes" in error["msg"]
    assert str(MAX_BODY_BYTES) in error["msg"] and "12 KB" in error["msg"]


def test_one_byte_over_12_kb_is_refused() -> None:
    error = only_error(MessageRequest, message(msgBody=text_of_size(MAX_BODY_BYTES + 1)))
    assert f"{MAX_BODY_BYTES + 1} bytes" in error["msg"]


def test_a_merger_element_is_refused_naming_the_element() -> None:
    error = only_error(MessageRequest, message(msgBody=[*text_body("hi"), RELAY]))
    assert error["loc"] == ("msgBody", 1)
    assert "TIMRelayElem" in error["msg"] and "TIMTextElem" in error["msg"]


def test_the_published_body_lists_the_rest_element_types_only() -> None:
    # The OpenAPI document is generated from this schema: a client following it sends no element
    # the API refuses.
    items = MessageRequest.model_json_schema()["properties"]["msgBody"]["items"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in items["oneOf"]} == {
        "TextElem",
        "LocationElem",
        "FaceElem",
        "CustomElem",
        "SoundElem",
        "ImageElem",
        "FileElem",
        "VideoFileElem",
    }


def test_the_published_ids_carry_their_limits() -> None:
    robot = RobotCreateRequest.model_json_schema()["properties"]["robotId"]
    assert (robot["pattern"], robot["maxLength"]) == ("^@RBT#.", 32)
    user = BotFriendsRequest.model_json_schema()["properties"]["userIds"]["items"]
    assert (user["minLength"], user["maxLength"]) == (1, 32)


def test_an_unknown_element_type_names_msg_body() -> None:
    found = errors(MessageRequest, message(msgBody=[{"MsgType": "TIMNopeElem", "MsgContent": {}}]))
    assert all(e["loc"][0] == "msgBody" for e in found)


def test_every_rest_element_type_is_accepted() -> None:
    body = [
        *text_body("hi"),
        {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "here", "Latitude": 1.5, "Longitude": 2.5}},
        {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "x"}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}"}},
    ]
    assert len(MessageRequest.model_validate(message(msgBody=body)).msg_body) == 4


# ----------------------------------------------------------------------------- accounts


@pytest.mark.parametrize("robot", ["assistant", "@RBT#", "@RBT#" + "x" * 28, "", "@rbt#lower"])
def test_a_bad_robot_id_names_robot_id(robot: str) -> None:
    assert only_error(RobotCreateRequest, {"robotId": robot})["loc"] == ("robotId",)


def test_a_robot_with_a_long_nick_or_a_bad_face_url_names_them() -> None:
    assert only_error(RobotCreateRequest, {"robotId": "@RBT#a", "nick": "n" * 65})["loc"] == ("nick",)
    assert only_error(RobotCreateRequest, {"robotId": "@RBT#a", "faceUrl": "not a url"})["loc"] == ("faceUrl",)


def test_a_robot_request_in_full() -> None:
    robot = RobotCreateRequest.model_validate(
        {"robotId": "@RBT#helper", "nick": "Helper", "faceUrl": "https://example.com/f.png"}
    )
    assert (robot.robot_id, robot.nick, str(robot.face_url)) == ("@RBT#helper", "Helper", "https://example.com/f.png")


def test_a_bad_sender_names_from() -> None:
    assert only_error(MessageRequest, message(**{"from": "u" * 33}))["loc"] == ("from",)


def test_bot_friends_limits_name_user_ids() -> None:
    assert only_error(BotFriendsRequest, {"userIds": []})["loc"] == ("userIds",)
    too_many = [f"u{i}" for i in range(MAX_BOT_FRIENDS_PER_REQUEST + 1)]
    assert only_error(BotFriendsRequest, {"userIds": too_many})["loc"] == ("userIds",)
    twice = only_error(BotFriendsRequest, {"userIds": ["a", "b", "a"]})
    assert twice["loc"] == ("userIds",) and "twice" in twice["msg"]
    assert only_error(BotFriendsRequest, {"userIds": ["a", "é" * 17]})["loc"] == ("userIds", 1)
    assert len(BotFriendsRequest.model_validate({"userIds": too_many[:-1]}).user_ids) == MAX_BOT_FRIENDS_PER_REQUEST


# ----------------------------------------------------------------------------- recipients


def test_too_many_recipients_names_to_users() -> None:
    users = [f"u{i}" for i in range(MAX_MESSAGE_RECIPIENTS + 1)]
    data = {"msgBody": text_body("hi"), "toUsers": users}
    assert only_error(MessageRequest, data)["loc"] == ("toUsers",)
    assert len(MessageRequest.model_validate({**data, "toUsers": users[:-1]}).to_users or []) == MAX_MESSAGE_RECIPIENTS


def test_a_recipient_named_twice_names_to_users() -> None:
    error = only_error(MessageRequest, {"msgBody": text_body("hi"), "toUsers": ["a", "b", "a"]})
    assert error["loc"] == ("toUsers",) and "twice" in error["msg"]


def test_an_empty_recipient_list_names_to_users() -> None:
    assert only_error(MessageRequest, {"msgBody": text_body("hi"), "toUsers": []})["loc"] == ("toUsers",)


@pytest.mark.parametrize(
    "destinations",
    [{}, {"toUser": "a", "toUsers": ["b"]}, {"toUser": "a", "toGroup": "g"}, {"toUsers": ["a"], "toGroup": "g"}],
)
def test_exactly_one_destination(destinations: dict[str, Any]) -> None:
    error = only_error(MessageRequest, {"msgBody": text_body("hi"), **destinations})
    assert all(name in error["msg"] for name in ("toUser", "toUsers", "toGroup"))


@pytest.mark.parametrize("group", ["", "g" * 49, "bad\nid", "群" * 17])
def test_a_bad_group_id_names_to_group(group: str) -> None:
    assert only_error(MessageRequest, {"msgBody": text_body("hi"), "toGroup": group})["loc"] == ("toGroup",)


def test_a_group_id_of_48_bytes_is_accepted() -> None:
    assert MessageRequest.model_validate({"msgBody": text_body("hi"), "toGroup": "群" * 16}).to_group == "群" * 16


def test_group_at_info_is_for_group_messages_only() -> None:
    at = [{"GroupAtAllFlag": 1}]
    for destination in ({"toUser": "a"}, {"toUsers": ["a", "b"]}):
        error = only_error(MessageRequest, {"msgBody": text_body("hi"), "groupAtInfo": at, **destination})
        assert "groupAtInfo" in error["msg"] and "toGroup" in error["msg"]
    request = MessageRequest.model_validate({"msgBody": text_body("hi"), "groupAtInfo": at, "toGroup": "g"})
    assert request.message().at_info is not None


def test_at_most_30_mentions() -> None:
    at = [{"GroupAtAllFlag": 0, "GroupAt_Account": f"u{i}"} for i in range(31)]
    assert only_error(MessageRequest, {"msgBody": text_body("hi"), "groupAtInfo": at, "toGroup": "g"})["loc"] == (
        "groupAtInfo",
    )


@pytest.mark.parametrize(
    "item,says", [({"GroupAtAllFlag": 0}, "GroupAt_Account"), ({"GroupAtAllFlag": 2}, "GroupAtAllFlag")]
)
def test_a_mention_tencent_would_refuse_names_group_at_info(item: dict[str, Any], says: str) -> None:
    at = [{"GroupAtAllFlag": 1}, item]
    error = only_error(BroadcastRequest, broadcast(groupAtInfo=at))
    assert error["loc"] == ("groupAtInfo",)
    assert "item 1" in error["msg"] and says in error["msg"]


def test_unknown_fields_and_options_are_refused_by_name() -> None:
    assert only_error(MessageRequest, message(toAccount="x"))["loc"] == ("toAccount",)
    assert only_error(MessageRequest, message(options={"priority": "Urgent"}))["loc"] == ("options", "priority")
    assert only_error(MessageRequest, message(options={"silent": True}))["loc"] == ("options", "silent")


# ----------------------------------------------------------------------------- broadcasts


def test_too_many_groups_names_group_ids() -> None:
    groups = [f"g{i}" for i in range(MAX_BROADCAST_GROUPS + 1)]
    assert only_error(BroadcastRequest, broadcast(groupIds=groups))["loc"] == ("groupIds",)
    assert len(BroadcastRequest.model_validate(broadcast(groupIds=groups[:-1])).group_ids or []) == MAX_BROADCAST_GROUPS


def test_a_group_named_twice_names_group_ids() -> None:
    error = only_error(BroadcastRequest, broadcast(groupIds=["g1", "g2", "g1"]))
    assert error["loc"] == ("groupIds",) and "twice" in error["msg"]


@pytest.mark.parametrize(
    "targets", [{"groupIds": ["g"], "allGroups": True}, {}, {"allGroups": False}, {"groupIds": []}]
)
def test_exactly_one_of_group_ids_and_all_groups(targets: dict[str, Any]) -> None:
    data = {"msgBody": text_body("hi"), **targets}
    found = errors(BroadcastRequest, data)
    if targets.get("groupIds") == []:
        assert found[0]["loc"] == ("groupIds",)
    else:
        assert "groupIds" in found[0]["msg"] and "allGroups" in found[0]["msg"]


@pytest.mark.parametrize("schedule", [{}, {"at": "2030-01-01T10:00:00Z", "cron": "cron(0 10 * * ? *)"}])
def test_a_schedule_is_at_or_cron(schedule: dict[str, Any]) -> None:
    error = only_error(BroadcastRequest, broadcast(schedule=schedule))
    assert error["loc"] == ("schedule",)
    assert "at" in error["msg"] and "cron" in error["msg"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Asia/", "/etc/localtime", "localtime", "Factory"])
def test_an_unknown_timezone_names_it(zone: str) -> None:
    error = only_error(BroadcastRequest, broadcast(schedule={"cron": "cron(0 10 * * ? *)", "timezone": zone}))
    assert error["loc"] == ("schedule", "timezone")


@pytest.mark.parametrize(
    "cron", ["0 10 * * ? *", "rate(5 minutes)", "cron(0 10 * *)", "cron(0 10 * * * *)", "cron(61 10 * * ? *)"]
)
def test_a_bad_cron_names_it(cron: str) -> None:
    assert only_error(BroadcastRequest, broadcast(schedule={"cron": cron}))["loc"] == ("schedule", "cron")


def test_a_broadcast_may_mention_members() -> None:
    request = BroadcastRequest.model_validate(broadcast(groupAtInfo=[{"GroupAtAllFlag": 1}]))
    assert request.group_at_info is not None


# ----------------------------------------------------------------------------- happy shapes


def test_a_message_request_in_camel_case_with_from() -> None:
    data = {
        "msgBody": text_body("hello"),
        "from": "@RBT#assistant",
        "toUsers": ["alice", "bob"],
        "options": {
            "onlineOnly": True,
            "noUnread": True,
            "cloudCustomData": "ccd",
            "forbidCallbacks": True,
            "offlinePush": {"PushFlag": 0, "Desc": "hello"},
            "syncOtherDevices": False,
        },
    }
    request = MessageRequest.model_validate(data)
    assert request.from_account == "@RBT#assistant"
    assert request.to_users == ["alice", "bob"]
    options = request.options
    assert (options.online_only, options.no_unread, options.cloud_custom_data, options.forbid_callbacks) == (
        True,
        True,
        "ccd",
        True,
    )
    c2c = request.message().c2c_request("alice", request.from_account, options)
    assert (c2c.From_Account, c2c.MsgLifeTime, c2c.SyncOtherMachine) == ("@RBT#assistant", 0, 2)
    dumped = request.model_dump(by_alias=True, exclude_none=True)
    assert {"msgBody", "from", "toUsers", "options"} <= set(dumped)
    assert dumped["options"]["onlineOnly"] is True
    assert MessageRequest.model_validate(dumped) == request


def test_python_names_are_accepted_too() -> None:
    request = MessageRequest(msg_body=parse_body(text_body("hi")), to_group="g", from_account="bob")
    assert request.model_dump(by_alias=True)["from"] == "bob"


def test_a_broadcast_request_in_camel_case() -> None:
    request = BroadcastRequest.model_validate(
        {
            "msgBody": text_body("hi"),
            "allGroups": True,
            "options": {"priority": "Low"},
            "schedule": {"cron": "cron(0 10 * * ? *)", "timezone": "Asia/Shanghai"},
        }
    )
    assert request.all_groups and request.group_ids is None
    assert request.schedule is not None and request.schedule.expression() == "cron(0 10 * * ? *)"
    outgoing = Outgoing.model_validate(request.model_dump(include=set(Outgoing.model_fields)))
    assert outgoing.options.priority == "Low"


def test_an_at_schedule_is_written_in_its_time_zone() -> None:
    aware = Schedule.model_validate({"at": "2030-01-01T02:00:00Z", "timezone": "Asia/Shanghai"})
    assert aware.expression() == "at(2030-01-01T10:00:00)"
    naive = Schedule.model_validate({"at": "2030-01-01T02:00:00", "timezone": "Asia/Shanghai"})
    assert naive.expression() == "at(2030-01-01T02:00:00)"
    assert Schedule(at=datetime(2030, 1, 1, tzinfo=UTC)).expression() == "at(2030-01-01T00:00:00)"


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (broadcast(groupIds=None, allGroups=1), ("allGroups",)),
        (broadcast(allGroups=0), ("allGroups",)),
        (broadcast(options={"onlineOnly": "true"}), ("options", "onlineOnly")),
        (message(options={"forbidCallbacks": 1}), ("options", "forbidCallbacks")),
    ],
)
def test_flags_are_json_booleans_only(data: dict[str, Any], loc: tuple[str, ...]) -> None:
    model = BroadcastRequest if "groupIds" in data else MessageRequest
    assert only_error(model, data)["loc"] == loc


@pytest.mark.parametrize(
    "at", ["0722-01-18T00:34:33.6992-01:12", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"]
)
def test_a_schedule_time_outside_what_scheduler_takes_is_refused_naming_it(at: str) -> None:
    # Found by the contract run: a year-722 time became "at(722-...)" and failed to parse (a 500).
    with pytest.raises(ValidationError, match="1970 to 9998") as refused:
        Schedule(at=at)
    assert refused.value.errors()[0]["loc"] == ("at",)


def test_a_schedule_time_is_written_with_a_four_digit_year_in_its_zone() -> None:
    assert Schedule(at="2030-01-01T08:00:00+08:00", timezone="Asia/Shanghai").expression() == "at(2030-01-01T08:00:00)"


# ----------------------------------------------------------------------------- the Web SDK's options
# (docs/protocol.md §5.10)


@pytest.mark.parametrize(
    ("options", "loc"),
    [
        ({"receiverList": "bob"}, ("options", "receiverList")),
        ({"receiverList": {"bob": 1}}, ("options", "receiverList")),
        ({"receiverList": [["bob"]]}, ("options", "receiverList", 0)),
        ({"receiverList": [None]}, ("options", "receiverList", 0)),
        ({"receiverList": ["x" * 33]}, ("options", "receiverList", 0)),
        ({"receiverList": []}, ("options", "receiverList")),
        ({"receiverList": [f"u{i}" for i in range(51)]}, ("options", "receiverList")),
        ({"receiverList": ["bob", "bob"]}, ("options", "receiverList")),
        ({"needReadReceipt": "true"}, ("options", "needReadReceipt")),
        ({"needReadReceipt": 1}, ("options", "needReadReceipt")),
        ({"supportExtension": [True]}, ("options", "supportExtension")),
        ({"excludedFromContentModeration": None}, ("options", "excludedFromContentModeration")),
        ({"offlinePush": "push"}, ("options", "offlinePush")),
        ({"offlinePush": {"pushFlag": 1}}, ("options", "offlinePush", "pushFlag")),
        ({"offlinePush": {"PushFlag": True}}, ("options", "offlinePush", "PushFlag")),
        ({"offlinePush": {"PushFlag": 1.5}}, ("options", "offlinePush", "PushFlag")),
        ({"offlinePush": {"PushFlag": -1}}, ("options", "offlinePush", "PushFlag")),
        ({"offlinePush": {"Title": 5}}, ("options", "offlinePush", "Title")),
        ({"offlinePush": {"Desc": "x" * 4097}}, ("options", "offlinePush", "Desc")),
        ({"offlinePush": {"ApnsInfo": []}}, ("options", "offlinePush", "ApnsInfo")),
        ({"offlinePush": {"ApnsInfo": {"BadgeMode": "1"}}}, ("options", "offlinePush", "ApnsInfo", "BadgeMode")),
        ({"offlinePush": {"ApnsInfo": {"VoIP": 1}}}, ("options", "offlinePush", "ApnsInfo", "VoIP")),
        (
            {"offlinePush": {"AndroidInfo": {"OPPOChannelID": ["c"]}}},
            ("options", "offlinePush", "AndroidInfo", "OPPOChannelID"),
        ),
        (
            {"offlinePush": {"AndroidInfo": {"HuaWeiImportance": "low"}}},
            ("options", "offlinePush", "AndroidInfo", "HuaWeiImportance"),
        ),
        (
            {"offlinePush": {"AndroidInfo": {"VIVOClassification": 2}}},
            ("options", "offlinePush", "AndroidInfo", "VIVOClassification"),
        ),
    ],
)
def test_a_hostile_sdk_option_names_its_field(options: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert only_error(MessageRequest, message(toUser=None, toGroup="g1", options=options))["loc"] == loc


def test_a_whole_float_is_a_whole_number_as_json_schema_says() -> None:
    request = MessageRequest.model_validate(message(options={"offlinePush": {"PushFlag": 1.0}}))
    assert request.options.offline_push is not None and request.options.offline_push.PushFlag == 1


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (message(options={"receiverList": ["bob"]}), "options.receiverList is for group messages"),
        (message(toUser=None, toUsers=["a"], options={"receiverList": ["bob"]}), "options.receiverList"),
        (message(toUser=None, toUsers=["a"], options={"supportExtension": True}), "options.supportExtension"),
        (
            message(toUser=None, toGroup="g1", options={"onlineOnly": True, "excludedFromContentModeration": True}),
            "options.excludedFromContentModeration",
        ),
        (broadcast(options={"onlineOnly": True, "excludedFromContentModeration": True}), "onlineOnly"),
    ],
)
def test_an_option_for_another_kind_of_send_is_refused_naming_it(data: dict[str, Any], says: str) -> None:
    model = BroadcastRequest if "groupIds" in data else MessageRequest
    assert says in only_error(model, data)["msg"]


def test_the_options_map_to_each_apis_fields() -> None:
    push = {"PushFlag": 0, "ApnsInfo": {"BadgeMode": 1}, "AndroidInfo": {"XiaoMiChannelID": "x"}}
    options = {"needReadReceipt": True, "excludedFromContentModeration": True, "offlinePush": push}
    one = MessageRequest.model_validate(message(options={**options, "supportExtension": True}))
    to_one = one.message().c2c_request("alice", options=one.options).model_dump(exclude_none=True)
    assert (to_one["IsNeedReadReceipt"], to_one["SupportMessageExtension"], to_one["SendMsgControl"]) == (
        1,
        1,
        ["NoMsgCheck"],
    )
    assert to_one["OfflinePushInfo"] == push
    many = MessageRequest.model_validate(message(toUser=None, toUsers=["a", "b"], options=options))
    to_many = many.message().batch_c2c_request(["a", "b"], options=many.options).model_dump(exclude_none=True)
    assert (to_many["IsNeedReadReceipt"], "SupportMessageExtension" in to_many) == (1, False)
    group = MessageRequest.model_validate(
        message(toUser=None, toGroup="g1", options={**options, "receiverList": ["a"], "supportExtension": True})
    )
    to_group = group.message().group_request("g1", options=group.options).model_dump(exclude_none=True)
    assert (to_group["To_Account"], to_group["NeedReadReceipt"], to_group["SupportMessageExtension"]) == (["a"], 1, 1)
    assert "IsNeedReadReceipt" not in to_group and to_group["SendMsgControl"] == ["NoMsgCheck"]


def test_the_builders_refuse_what_the_api_cannot_take() -> None:
    from timkit.models.messages import SendOptions, text

    with pytest.raises(ValueError, match="group messages only"):
        text("hi").c2c_request("a", options=SendOptions(receiver_list=["b"]))
    with pytest.raises(ValueError, match="SupportMessageExtension"):
        text("hi").batch_c2c_request(["a"], options=SendOptions(support_extension=True))
    with pytest.raises(ValueError, match="onlineOnly"):
        text("hi").group_request("g", options=SendOptions(online_only=True, excluded_from_content_moderation=True))


# ----------------------------------------------------------------------------- schedules of messages and friends


@pytest.mark.parametrize(
    ("schedule", "loc"),
    [
        ("2030-01-01T00:00:00", ("schedule",)),
        (["cron(0 10 * * ? *)"], ("schedule",)),
        ({"at": [2030]}, ("schedule", "at")),
        ({"at": "tomorrow"}, ("schedule", "at")),
        ({"at": "2030-01-01T00:00:00", "timezone": 8}, ("schedule", "timezone")),
        ({"cron": {"expr": "cron(0 10 * * ? *)"}}, ("schedule", "cron")),
        ({"at": "2030-01-01T00:00:00", "every": "day"}, ("schedule", "every")),
        ({}, ("schedule",)),
    ],
)
def test_a_hostile_schedule_of_a_message_or_friends_names_it(schedule: Any, loc: tuple[str, ...]) -> None:
    assert only_error(MessageRequest, message(schedule=schedule))["loc"] == loc
    assert only_error(BotFriendsRequest, {"userIds": ["a"], "schedule": schedule})["loc"] == loc


def test_a_scheduled_message_and_friends_request_keep_their_schedule() -> None:
    at = {"at": "2030-01-01T09:00:00+08:00", "timezone": "Asia/Shanghai"}
    assert MessageRequest.model_validate(message(schedule=at)).schedule == Schedule(**at)
    cron = {"cron": "cron(0 10 * * ? *)"}
    assert BotFriendsRequest.model_validate({"userIds": ["a"], "schedule": cron}).schedule == Schedule(**cron)
