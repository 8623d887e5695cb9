"""Callback requests (docs/protocol.md §1.1, §2) and before-send answers (§2.5)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tests.unit.conftest import (
    BOT_GROUP,
    C2C_BEFORE_SEND,
    GROUP_AT_INFO,
    GROUP_BEFORE_SEND,
    PAYLOADS,
    payload,
)
from timkit.models.callbacks import (
    ANSWER_MODELS,
    ASYNC_COMMANDS,
    BEFORE_SEND_COMMANDS,
    REQUEST_MODELS,
    BotC2CMessage,
    BotGroupMessage,
    C2CAfterSend,
    C2CBeforeSend,
    C2CBeforeSendAnswer,
    C2CModify,
    C2CReadReport,
    C2CRecall,
    CallbackAck,
    CallbackQuery,
    Command,
    GroupAfterSend,
    GroupBeforeSend,
    GroupBeforeSendAnswer,
    GroupCreated,
    GroupDestroyed,
    GroupFull,
    GroupInfoChanged,
    GroupMembersExited,
    GroupMembersJoined,
    GroupMemberState,
    GroupModify,
    GroupReadReceipt,
    GroupRecall,
    UserStateChange,
    group_identity,
    parse_callback,
)
from timkit.models.elements import TextContent, TextElem, dump_body

EXPECTED_MODELS = {
    "C2C.CallbackBeforeSendMsg": C2CBeforeSend,
    "C2C.CallbackAfterSendMsg": C2CAfterSend,
    "Group.CallbackBeforeSendMsg": GroupBeforeSend,
    "Group.CallbackAfterSendMsg": GroupAfterSend,
    "Bot.OnC2CMessage": BotC2CMessage,
    "Bot.OnGroupMessage": BotGroupMessage,
    "C2C.CallbackAfterModifyMsg": C2CModify,
    "Group.CallbackAfterModifyMsg": GroupModify,
    "C2C.CallbackAfterMsgWithDraw": C2CRecall,
    "Group.CallbackAfterRecallMsg": GroupRecall,
    "C2C.CallbackAfterMsgReport": C2CReadReport,
    "Group.CallbackAfterCreateGroup": GroupCreated,
    "Group.CallbackAfterNewMemberJoin": GroupMembersJoined,
    "Group.CallbackAfterMemberExit": GroupMembersExited,
    "Group.CallbackAfterGroupInfoChanged": GroupInfoChanged,
    "Group.CallbackAfterGroupDestroyed": GroupDestroyed,
    "Group.CallbackAfterReadReceipt": GroupReadReceipt,
    "Group.CallbackAfterGroupFull": GroupFull,
    "Group.CallbackOnMemberStateChange": GroupMemberState,
    "State.StateChange": UserStateChange,
}


# ----------------------------------------------------------------------------- requests


def test_every_command_has_a_model_and_an_example() -> None:
    assert set(REQUEST_MODELS) == set(EXPECTED_MODELS) == set(PAYLOADS)
    assert {"C2C.CallbackBeforeSendMsg", "Group.CallbackBeforeSendMsg"} == BEFORE_SEND_COMMANDS
    assert set(EXPECTED_MODELS) - BEFORE_SEND_COMMANDS == ASYNC_COMMANDS


@pytest.mark.parametrize("command", sorted(EXPECTED_MODELS))
def test_example_payload_validates_into_its_model(command: str) -> None:
    raw = json.dumps(PAYLOADS[command], ensure_ascii=False)
    model = REQUEST_MODELS[command].model_validate_json(raw)
    assert type(model) is EXPECTED_MODELS[command]
    assert model.CallbackCommand == command


def test_c2c_before_send_example_fields() -> None:
    msg = C2CBeforeSend.model_validate(C2C_BEFORE_SEND)
    assert (msg.From_Account, msg.To_Account) == ("u_1001", "@RBT#assistant")
    assert (msg.MsgSeq, msg.MsgRandom, msg.MsgTime) == (7311, 3088123456, 1730000000)
    assert msg.MsgId == "144115233406643804-1730000000-3088123456"
    assert msg.EventTime == 1730000000123
    assert isinstance(msg.MsgBody[0], TextElem) and msg.MsgBody[0].MsgContent.Text == "hello"
    assert msg.kind == "c2c"


def test_command_in_the_body_must_match_the_model() -> None:
    with pytest.raises(ValidationError):
        C2CBeforeSend.model_validate(payload("C2C.CallbackBeforeSendMsg", CallbackCommand="C2C.CallbackAfterSendMsg"))
    with pytest.raises(ValidationError):
        GroupAfterSend.model_validate(payload("Bot.OnGroupMessage"))


@pytest.mark.parametrize("field", ["From_Account", "To_Account", "MsgKey"])
def test_c2c_required_fields(field: str) -> None:
    doc = payload("C2C.CallbackBeforeSendMsg")
    del doc[field]
    with pytest.raises(ValidationError):
        C2CBeforeSend.model_validate(doc)


@pytest.mark.parametrize("value", [-1, 2**32])
def test_c2c_random_is_uint32(value: int) -> None:
    with pytest.raises(ValidationError):
        C2CBeforeSend.model_validate(payload("C2C.CallbackBeforeSendMsg", MsgRandom=value))
    top = C2CBeforeSend.model_validate(payload("C2C.CallbackBeforeSendMsg", MsgRandom=2**32 - 1))
    assert top.MsgRandom == 2**32 - 1


@pytest.mark.parametrize("event_time", ["1670574414123", 1670574414123])
@pytest.mark.parametrize("command", ["Group.CallbackBeforeSendMsg", "Group.CallbackAfterSendMsg"])
def test_group_event_time_as_string_or_int(command: str, event_time: object) -> None:
    msg = REQUEST_MODELS[command].model_validate(payload(command, EventTime=event_time))
    assert msg.EventTime == 1670574414123


def test_group_event_time_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValidationError):
        GroupBeforeSend.model_validate(payload("Group.CallbackBeforeSendMsg", EventTime="yesterday"))


@pytest.mark.parametrize("event_time", ["1700000000", 1700000000])
def test_c2c_recall_event_time_is_an_integer_when_it_comes(event_time: object) -> None:
    recall = C2CRecall.model_validate(payload("C2C.CallbackAfterMsgWithDraw", EventTime=event_time))
    assert recall.EventTime == 1700000000
    assert C2CRecall.model_validate(payload("C2C.CallbackAfterMsgWithDraw")).EventTime is None
    with pytest.raises(ValidationError):
        C2CRecall.model_validate(payload("C2C.CallbackAfterMsgWithDraw", EventTime=[1700000000]))


def _nested(levels: int) -> list[dict]:
    body: list[dict] = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "bottom"}}]
    for _ in range(levels):
        body = [{"MsgType": "TIMRelayElem", "MsgContent": {"MsgList": [{"From_Account": "a", "MsgBody": body}]}}]
    return body


@pytest.mark.parametrize("levels", [39, 40, 100])
@pytest.mark.parametrize("command", [c for c in sorted(PAYLOADS) if "MsgBody" in PAYLOADS[c]])
def test_parse_callback_reads_mergers_as_deep_as_tencent_nests_them(command: str, levels: int) -> None:
    raw = json.dumps(payload(command, MsgBody=_nested(levels)), ensure_ascii=False)
    message = parse_callback(command, raw)
    assert isinstance(message, REQUEST_MODELS[command])
    assert json.loads(json.dumps(dump_body(message.MsgBody))) == _nested(levels)


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "",
        "[" * 50_000,
        json.dumps(payload("C2C.CallbackAfterSendMsg", MsgBody=_nested(150))),
        json.dumps(payload("C2C.CallbackAfterSendMsg", MsgBody=_nested(60), Note="\udfff")),
        json.dumps(payload("C2C.CallbackAfterSendMsg", MsgBody=_nested(60), MsgTime=[1])),
    ],
    ids=["cut", "empty", "only-brackets", "150-levels", "lone-surrogate-deep", "wrong-type-deep"],
)
def test_parse_callback_refuses_with_a_validation_error(raw: str) -> None:
    with pytest.raises(ValidationError):
        parse_callback("C2C.CallbackAfterSendMsg", raw)


def test_depth_past_tencents_limit_is_refused_however_the_models_were_built() -> None:
    # The callback handler rebuilds every model at import (SnapStart); pydantic's own depth guard
    # then trips later than on a lazily built model, so the limit must not rest on it.
    for model in REQUEST_MODELS.values():
        model.model_rebuild(force=True)
    command = "C2C.CallbackAfterSendMsg"
    assert parse_callback(command, json.dumps(payload(command, MsgBody=_nested(100))))
    for levels in (104, 150):
        with pytest.raises(ValidationError):
            parse_callback(command, json.dumps(payload(command, MsgBody=_nested(levels))))


def test_group_before_send_uses_random_not_msg_random() -> None:
    msg = GroupBeforeSend.model_validate(GROUP_BEFORE_SEND)
    assert msg.Random == 123456
    assert msg.kind == "group"
    assert msg.TopicId is None


def test_group_after_send_needs_msg_seq() -> None:
    doc = payload("Group.CallbackAfterSendMsg")
    del doc["MsgSeq"]
    with pytest.raises(ValidationError):
        GroupAfterSend.model_validate(doc)


def test_group_at_info_absent_or_empty() -> None:
    assert GroupAfterSend.model_validate(payload("Group.CallbackAfterSendMsg")).GroupAtInfo is None
    assert GroupAfterSend.model_validate(payload("Group.CallbackAfterSendMsg", GroupAtInfo=[])).GroupAtInfo == []


@pytest.mark.parametrize("command", ["Group.CallbackAfterSendMsg", "Bot.OnGroupMessage"])
def test_group_at_info_entries_are_parsed(command: str) -> None:
    msg = REQUEST_MODELS[command].model_validate(payload(command, GroupAtInfo=GROUP_AT_INFO))
    assert msg.GroupAtInfo[0].GroupAt_Account == "@RBT#001"
    assert msg.GroupAtInfo[0].GroupAtAllFlag == 0
    assert msg.GroupAtInfo[1].GroupAtAllFlag == 1 and msg.GroupAtInfo[1].GroupAt_Account is None


def test_group_recall_needs_at_least_one_seq() -> None:
    with pytest.raises(ValidationError):
        GroupRecall.model_validate(payload("Group.CallbackAfterRecallMsg", MsgSeqList=[]))


def test_unknown_request_fields_are_kept() -> None:
    doc = payload("C2C.CallbackBeforeSendMsg", NewField={"x": 1})
    msg = C2CBeforeSend.model_validate(doc)
    assert msg.model_dump()["NewField"] == {"x": 1}


# ----------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("command", "changes", "identity"),
    [
        ("C2C.CallbackBeforeSendMsg", {}, "c2c:7311_3088123456_1730000000"),
        ("C2C.CallbackAfterSendMsg", {}, "c2c:7311_3088123456_1730000000"),
        ("Bot.OnC2CMessage", {}, "c2c:7311_3088123456_1730000000"),
        ("C2C.CallbackAfterModifyMsg", {}, "c2c:7311_3088123456_1730000000"),
        ("C2C.CallbackAfterMsgWithDraw", {}, "c2c:7311_3088123456_1730000000"),
        ("Group.CallbackBeforeSendMsg", {}, "group:@TGS#2J4SZEAEL:r123456"),
        ("Group.CallbackAfterSendMsg", {}, "group:@TGS#2J4SZEAEL:123"),
        ("Bot.OnGroupMessage", {}, "group:@TGS#2J4SZEAEL:123"),
        ("Group.CallbackAfterModifyMsg", {}, "group:@TGS#2J4SZEAEL:123"),
        ("Group.CallbackAfterRecallMsg", {}, "group:@TGS#2J4SZEAEL:121"),
        ("C2C.CallbackAfterMsgReport", {}, "read:u_2002:u_1001"),
    ],
)
def test_identity(command: str, changes: dict, identity: str) -> None:
    assert REQUEST_MODELS[command].model_validate(payload(command, **changes)).identity == identity


def test_group_recall_identities_cover_every_seq() -> None:
    msg = GroupRecall.model_validate(payload("Group.CallbackAfterRecallMsg"))
    assert msg.identities == ["group:@TGS#2J4SZEAEL:121", "group:@TGS#2J4SZEAEL:122", "group:@TGS#2J4SZEAEL:123"]


TOPIC = "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_TestTopic"  # the form Tencent's create_topic documents


@pytest.mark.parametrize(
    ("command", "identity"),
    [
        ("Group.CallbackBeforeSendMsg", f"topic:@TGS#2J4SZEAEL:{TOPIC}:r123456"),
        ("Group.CallbackAfterSendMsg", f"topic:@TGS#2J4SZEAEL:{TOPIC}:123"),
        ("Bot.OnGroupMessage", f"topic:@TGS#2J4SZEAEL:{TOPIC}:123"),
        ("Group.CallbackAfterModifyMsg", f"topic:@TGS#2J4SZEAEL:{TOPIC}:123"),
        ("Group.CallbackAfterRecallMsg", f"topic:@TGS#2J4SZEAEL:{TOPIC}:121"),
    ],
)
def test_topic_message_identity_names_the_topic(command: str, identity: str) -> None:
    # Topics number their messages apart: without the topic, seq 123 of two topics would be one message.
    assert REQUEST_MODELS[command].model_validate(payload(command, TopicId=TOPIC)).identity == identity
    other = REQUEST_MODELS[command].model_validate(payload(command, TopicId=TOPIC + "2")).identity
    assert other != identity


@pytest.mark.parametrize("command", ["Group.CallbackAfterSendMsg", "Group.CallbackAfterModifyMsg"])
@pytest.mark.parametrize("no_topic", [{"TopicId": ""}, {"TopicId": None}, {}])
def test_message_outside_topics_keeps_its_group_identity(command: str, no_topic: dict) -> None:
    doc = payload(command, **no_topic)
    if not no_topic:
        doc.pop("TopicId", None)
    assert REQUEST_MODELS[command].model_validate(doc).identity == "group:@TGS#2J4SZEAEL:123"


def test_group_and_topic_identities_cannot_be_confused() -> None:
    # Custom group ids may hold ':' (any printable ASCII): a group named like "<group>:<topic>"
    # must not share an identity with that group's topic, nor two splits of one string each other.
    assert group_identity(f"g:{TOPIC}", 5) != group_identity("g", 5, TOPIC)
    assert group_identity("g:a", 5, "b") != group_identity("g", 5, "a:b")
    assert group_identity("g%3Aa", 5, "b") != group_identity("g:a", 5, "b")
    assert group_identity("g", "r5", TOPIC) != group_identity("g", 5, TOPIC)


def test_after_send_and_bot_callback_of_one_message_share_an_identity() -> None:
    after = GroupAfterSend.model_validate(payload("Group.CallbackAfterSendMsg"))
    bot = BotGroupMessage.model_validate(BOT_GROUP)
    assert after.identity == bot.identity
    assert (
        C2CAfterSend.model_validate(payload("C2C.CallbackAfterSendMsg")).identity
        == BotC2CMessage.model_validate(payload("Bot.OnC2CMessage")).identity
    )


# ----------------------------------------------------------------------------- bot group message


def test_bot_group_message_with_at_robots_account() -> None:
    msg = BotGroupMessage.model_validate(BOT_GROUP)
    assert msg.AtRobots_Account == ["@RBT#001", "@RBT#002"]
    assert msg.EventTime == 1670574414123


def test_bot_group_message_with_at_robot_account_spelling() -> None:
    doc = payload("Bot.OnGroupMessage")
    doc["AtRobotAccount"] = doc.pop("AtRobots_Account")
    msg = BotGroupMessage.model_validate_json(json.dumps(doc))
    assert msg.AtRobots_Account == ["@RBT#001", "@RBT#002"]


def test_bot_group_message_without_robots_list() -> None:
    doc = payload("Bot.OnGroupMessage")
    del doc["AtRobots_Account"]
    assert BotGroupMessage.model_validate(doc).AtRobots_Account == []


# ----------------------------------------------------------------------------- query


def query(**changes: str) -> dict[str, str]:
    q = {
        "SdkAppid": "1400000001",
        "CallbackCommand": "C2C.CallbackBeforeSendMsg",
        "contenttype": "json",
        "ClientIP": "203.0.113.7",
        "OptPlatform": "iOS",
        "Sign": "ab" * 32,
        "RequestTime": "1669872112",
    }
    q.update(changes)
    return q


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("IOS", "iOS"),
        ("iOS", "iOS"),
        ("ios", "iOS"),
        ("macOS", "Mac"),
        ("Mac", "Mac"),
        ("MACOS", "Mac"),
        ("RESTAPI", "RESTAPI"),
        ("Web", "Web"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("iPad", "iPad"),
        ("Unknown", "Unknown"),
        ("SomethingNew", "SomethingNew"),
    ],
)
def test_query_normalises_opt_platform(given: str, normalised: str) -> None:
    assert CallbackQuery.model_validate(query(OptPlatform=given)).OptPlatform == normalised


def test_query_fields() -> None:
    q = CallbackQuery.model_validate(query())
    assert q.SdkAppid == 1400000001
    assert q.CallbackCommand == "C2C.CallbackBeforeSendMsg"
    assert q.RequestTime == "1669872112"
    assert q.ClientIP == "203.0.113.7"


def test_query_repr_hides_the_sign() -> None:
    q = CallbackQuery.model_validate(query(Sign="f00dfacecafe"))
    assert "f00dfacecafe" not in repr(q)
    assert "f00dfacecafe" not in str(q)


@pytest.mark.parametrize("missing", ["SdkAppid", "CallbackCommand"])
def test_query_requires_app_and_command(missing: str) -> None:
    q = query()
    del q[missing]
    with pytest.raises(ValidationError) as exc:
        CallbackQuery.model_validate(q)
    assert {err["loc"][0] for err in exc.value.errors()} == {missing}


@pytest.mark.parametrize("bad", ["0", "-5", "abc", ""])
def test_query_sdkappid_must_be_a_positive_integer(bad: str) -> None:
    with pytest.raises(ValidationError):
        CallbackQuery.model_validate(query(SdkAppid=bad))


def test_query_without_auth_parameters_is_valid() -> None:
    q = query()
    del q["Sign"], q["RequestTime"], q["OptPlatform"]
    parsed = CallbackQuery.model_validate(q)
    assert parsed.Sign is None and parsed.RequestTime is None and parsed.OptPlatform is None


# ----------------------------------------------------------------------------- answers


def test_ack_shape() -> None:
    assert json.loads(CallbackAck().model_dump_json()) == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}


@pytest.mark.parametrize("model", [C2CBeforeSendAnswer, GroupBeforeSendAnswer])
def test_allow_reject_discard_wire_shapes(model: type) -> None:
    assert model.allow().to_wire() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
    assert model.allow().outcome == "allowed"
    assert model.reject().to_wire() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 1}
    assert model.reject(info="no").to_wire() == {"ActionStatus": "OK", "ErrorInfo": "no", "ErrorCode": 1}
    assert model.reject().outcome == "rejected"
    assert model.discard().to_wire() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 2}
    assert model.discard().outcome == "discarded"


def test_rewrite_wire_shape_matches_the_reference_example() -> None:
    expected = {
        "ActionStatus": "OK",
        "ErrorInfo": "",
        "ErrorCode": 0,
        "MsgBody": [
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "[filtered] hello"}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"lvl":3}', "Desc": "", "Ext": ""}},
        ],
        "CloudCustomData": '{"audited":1}',
    }
    from timkit.models.elements import parse_body

    answer = C2CBeforeSendAnswer.rewrite(parse_body(expected["MsgBody"]), '{"audited":1}')
    assert answer.to_wire() == expected
    assert answer.outcome == "rewritten"
    # And parsing the documented answer gives the same thing back.
    assert C2CBeforeSendAnswer.model_validate(expected).to_wire() == expected


def test_rewrite_with_only_a_body_or_only_cloud_custom_data() -> None:
    body = [TextElem(MsgContent=TextContent(Text="x"))]
    assert C2CBeforeSendAnswer.rewrite(body).to_wire() == {
        "ActionStatus": "OK",
        "ErrorInfo": "",
        "ErrorCode": 0,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}],
    }
    only_data = GroupBeforeSendAnswer.rewrite(cloud_custom_data="{}")
    assert only_data.to_wire() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0, "CloudCustomData": "{}"}
    assert only_data.outcome == "rewritten"


def test_custom_reject_example_wire_shape() -> None:
    assert C2CBeforeSendAnswer.reject(120042, "blocked by policy").to_wire() == {
        "ActionStatus": "OK",
        "ErrorInfo": "blocked by policy",
        "ErrorCode": 120042,
    }


def test_rewrite_with_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="needs"):
        C2CBeforeSendAnswer.rewrite()
    with pytest.raises(ValueError):
        GroupBeforeSendAnswer.rewrite(None, None)


def test_rewrite_with_an_empty_body_is_refused() -> None:
    with pytest.raises(ValidationError):
        C2CBeforeSendAnswer.rewrite([])


@pytest.mark.parametrize(
    ("model", "code", "ok"),
    [
        (C2CBeforeSendAnswer, 120001, True),
        (C2CBeforeSendAnswer, 125000, True),
        (C2CBeforeSendAnswer, 130000, True),
        (C2CBeforeSendAnswer, 120000, False),
        (C2CBeforeSendAnswer, 130001, False),
        (C2CBeforeSendAnswer, 10100, False),
        (C2CBeforeSendAnswer, 3, False),
        (C2CBeforeSendAnswer, -1, False),
        (GroupBeforeSendAnswer, 10100, True),
        (GroupBeforeSendAnswer, 10150, True),
        (GroupBeforeSendAnswer, 10200, True),
        (GroupBeforeSendAnswer, 10099, False),
        (GroupBeforeSendAnswer, 10201, False),
        (GroupBeforeSendAnswer, 120001, False),
        (GroupBeforeSendAnswer, 10016, False),
    ],
)
def test_custom_code_ranges(model: type, code: int, ok: bool) -> None:
    if ok:
        answer = model.reject(code, "custom")
        assert answer.to_wire() == {"ActionStatus": "OK", "ErrorInfo": "custom", "ErrorCode": code}
        assert answer.outcome == "rejected"
        assert model.model_validate({"ErrorCode": code}).ErrorCode == code
    else:
        with pytest.raises(ValidationError):
            model.reject(code, "custom")
        with pytest.raises(ValidationError):
            model.model_validate({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": code})


def test_answer_models_by_kind() -> None:
    assert {"c2c": C2CBeforeSendAnswer, "group": GroupBeforeSendAnswer} == ANSWER_MODELS


@pytest.mark.parametrize("code", [1, 2, 120001])
def test_replacement_body_only_with_code_zero(code: int) -> None:
    body = dump_body([TextElem(MsgContent=TextContent(Text="x"))])
    with pytest.raises(ValidationError):
        C2CBeforeSendAnswer.model_validate({"ErrorCode": code, "MsgBody": body})
    with pytest.raises(ValidationError):
        C2CBeforeSendAnswer.model_validate({"ErrorCode": code, "CloudCustomData": ""})
    assert C2CBeforeSendAnswer.model_validate({"ErrorCode": 0, "MsgBody": body}).outcome == "rewritten"


@pytest.mark.parametrize("code", [0, 2])
def test_reject_refuses_allow_and_discard_codes(code: int) -> None:
    with pytest.raises(ValueError):
        C2CBeforeSendAnswer.reject(code)


def test_answer_refuses_other_action_status_and_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        C2CBeforeSendAnswer.model_validate({"ActionStatus": "FAIL", "ErrorCode": 0})
    with pytest.raises(ValidationError):
        C2CBeforeSendAnswer.model_validate({"ErrorCode": 0, "Extra": 1})


def test_answer_error_info_length_is_bounded() -> None:
    with pytest.raises(ValidationError):
        C2CBeforeSendAnswer.reject(1, "x" * 1025)
    assert C2CBeforeSendAnswer.reject(1, "x" * 1024).ErrorInfo == "x" * 1024


def test_command_enum_values() -> None:
    assert {c.value for c in Command} == set(EXPECTED_MODELS)
