"""CallbackService.handle: authentication, dispatch, before-send decisions and failure policy,
after-send queueing — with fake config, events and interrupts and fixed clocks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.conftest import (
    APP_ID,
    CALLBACK_SETTINGS,
    GROUP_AT_INFO,
    NOW,
    PAYLOADS,
    TOKEN,
    FakeClock,
    FakeConfig,
    FakeEvents,
    FakeInterrupts,
    MemoryStore,
    json_log_lines,
    payload,
    text_body,
)
from timkit.archive import Archiver
from timkit.callback import CallbackService
from timkit.config import CallbackSettings
from timkit.models.callbacks import parse_callback
from timkit.policy import Policy
from timkit.stores.archive import MESSAGE_SK
from timkit.stores.config import AwsJsonSource, ConfigStore
from timkit.tim.callback_auth import callback_sign

OK = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
POLICY = Policy.from_json(
    json.dumps(
        {
            "blocked_words": ["scam"],
            "masked_words": ["darn"],
            "reject_code": {"c2c": 120042, "group": 10142},
            "reject_info": "blocked",
        }
    )
)
INTERRUPT_DATA = '{"chatbotPlugin":2,"src":22,"msgKey":"9001_42_1730000050"}'


class Harness:
    def __init__(self, logger, **settings: Any) -> None:
        self.settings = CallbackSettings(**{**CALLBACK_SETTINGS, **settings})
        self.config = FakeConfig(policy=POLICY)
        self.events = FakeEvents()
        self.interrupts = FakeInterrupts()
        self.wall = FakeClock(NOW)
        self.monotonic = FakeClock(500.0)
        self.config.monotonic = self.monotonic
        self.service = CallbackService(
            settings=self.settings,
            config=self.config,
            events=self.events,
            interrupts=self.interrupts,
            logger=logger,
            wall_clock=self.wall,
            monotonic=self.monotonic,
        )

    def query(self, command: str, request_time: int | str | None = NOW, sign: str | None = None, **extra: str) -> dict:
        q = {
            "SdkAppid": str(APP_ID),
            "CallbackCommand": command,
            "contenttype": "json",
            "ClientIP": "203.0.113.7",
            "OptPlatform": "iOS",
        }
        if request_time is not None:
            q["RequestTime"] = str(request_time)
            q["Sign"] = callback_sign(TOKEN, request_time) if sign is None else sign
        elif sign is not None:
            q["Sign"] = sign
        q.update(extra)
        return q

    def call(self, command: str, body: dict | str | None = None, **query: Any):
        if body is None:
            body = payload(command)
        raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        return self.service.handle(self.query(command, **query), raw)


@pytest.fixture
def h(logger) -> Harness:
    return Harness(logger)


def answer(result) -> dict:
    assert result.status == 200, result
    return json.loads(result.body)


def c2c_body(*texts: str, **changes: Any) -> dict:
    return payload("C2C.CallbackBeforeSendMsg", MsgBody=text_body(*texts), **changes)


def interrupt_body(to: str = "@RBT#assistant", extra: list | None = None) -> dict:
    body = [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": INTERRUPT_DATA, "Desc": "", "Ext": ""}}]
    return payload(
        "C2C.CallbackBeforeSendMsg",
        To_Account=to,
        OnlineOnlyFlag=1,
        MsgBody=(extra or []) + body,
        MsgKey="9002_43_1730000060",
        MsgTime=1730000060,
    )


# ----------------------------------------------------------------------------- authentication


def test_valid_callback_is_answered(h: Harness) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg")
    assert answer(result) == OK
    assert result.outcome == "allowed"
    assert result.identity == "c2c:7311_3088123456_1730000000"


def test_wrong_sdkappid_is_403_even_with_a_bad_sign(h: Harness) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg", sign="00" * 32, SdkAppid="1400000002")
    assert result.status == 403 and result.outcome == "auth_rejected"
    assert "SdkAppid" in json.loads(result.body)["message"]
    assert h.config.secret_calls == 0


def test_wrong_sdkappid_is_403_with_a_good_sign(h: Harness) -> None:
    assert h.call("C2C.CallbackAfterSendMsg", SdkAppid="1400000002").status == 403
    assert h.events.queued == []


@pytest.mark.parametrize("offset", [-61, 61, -3600, 10**6])
def test_stale_or_future_request_time_is_401(h: Harness, offset: int) -> None:
    # The Sign is right for that time: only the clock check refuses it.
    result = h.call("C2C.CallbackBeforeSendMsg", request_time=NOW + offset)
    assert result.status == 401 and result.outcome == "auth_rejected"
    assert "RequestTime" in json.loads(result.body)["message"]


@pytest.mark.parametrize("offset", [-60, 60, 0])
def test_request_time_inside_the_window_is_accepted(h: Harness, offset: int) -> None:
    assert answer(h.call("C2C.CallbackBeforeSendMsg", request_time=NOW + offset)) == OK


def test_skew_window_is_configurable(logger) -> None:
    h = Harness(logger, CALLBACK_MAX_SKEW_SECONDS=300)
    assert h.call("C2C.CallbackBeforeSendMsg", request_time=NOW - 300).status == 200
    assert h.call("C2C.CallbackBeforeSendMsg", request_time=NOW - 301).status == 401


@pytest.mark.parametrize("request_time", ["", "abc", "1730000100.0", "1e9", "0x671d", "9" * 5000])
def test_request_time_that_is_not_an_integer_is_401(h: Harness, request_time: str) -> None:
    q = h.query("C2C.CallbackBeforeSendMsg", sign="ab" * 32)
    q["RequestTime"] = request_time
    result = h.service.handle(q, json.dumps(payload("C2C.CallbackBeforeSendMsg")))
    assert result.status == 401 and "RequestTime" in json.loads(result.body)["message"]


def test_bad_sign_is_401(h: Harness) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg", sign=callback_sign("other-token", NOW))
    assert result.status == 401 and result.outcome == "auth_rejected"
    assert json.loads(result.body)["message"] == "Sign does not match"


def test_sign_for_another_time_is_401(h: Harness) -> None:
    assert h.call("C2C.CallbackBeforeSendMsg", sign=callback_sign(TOKEN, NOW - 1)).status == 401


def test_uppercase_sign_is_accepted(h: Harness) -> None:
    assert answer(h.call("C2C.CallbackBeforeSendMsg", sign=callback_sign(TOKEN, NOW).upper())) == OK


def test_missing_sign_is_401(h: Harness) -> None:
    q = h.query("C2C.CallbackBeforeSendMsg")
    del q["Sign"]
    result = h.service.handle(q, json.dumps(payload("C2C.CallbackBeforeSendMsg")))
    assert result.status == 401 and "Sign" in json.loads(result.body)["message"]


def test_missing_request_time_is_401(h: Harness) -> None:
    result = h.call("C2C.CallbackAfterSendMsg", request_time=None, sign=callback_sign(TOKEN, NOW))
    assert result.status == 401 and "RequestTime" in json.loads(result.body)["message"]
    assert h.events.queued == []


def test_no_token_configured_is_401(h: Harness) -> None:
    h.config.token = ""
    result = h.call("C2C.CallbackBeforeSendMsg", sign=callback_sign("", NOW))
    assert result.status == 401 and result.outcome == "auth_rejected"


def test_auth_disabled_skips_sign_checks_but_not_the_app(logger) -> None:
    h = Harness(logger, CALLBACK_AUTH="disabled", CALLBACK_AUTH_DISABLED_ACK="anyone-can-post-callbacks")
    assert answer(h.call("C2C.CallbackBeforeSendMsg", request_time=None)) == OK
    assert answer(h.call("C2C.CallbackBeforeSendMsg", sign="00" * 32)) == OK
    assert answer(h.call("C2C.CallbackBeforeSendMsg", request_time=NOW - 10_000)) == OK
    assert h.config.secret_calls == 0
    assert h.call("C2C.CallbackBeforeSendMsg", request_time=None, SdkAppid="1400000002").status == 403


@pytest.mark.parametrize("missing", [["SdkAppid"], ["CallbackCommand"], ["SdkAppid", "CallbackCommand"]])
def test_missing_query_parameters_are_400_naming_them(h: Harness, missing: list[str]) -> None:
    q = h.query("C2C.CallbackBeforeSendMsg")
    for name in missing:
        del q[name]
    result = h.service.handle(q, json.dumps(payload("C2C.CallbackBeforeSendMsg")))
    assert result.status == 400 and result.outcome == "bad_request"
    message = json.loads(result.body)["message"]
    for name in missing:
        assert name in message
    for name in {"SdkAppid", "CallbackCommand"} - set(missing):
        assert name not in message


def test_invalid_sdkappid_is_400(h: Harness) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg", SdkAppid="not-a-number")
    assert result.status == 400 and "SdkAppid" in json.loads(result.body)["message"]


def test_secret_unavailable_before_send_applies_the_failure_policy(logger) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY="reject")
    h.config.secret_error = RuntimeError("secrets manager down")
    result = h.call("Group.CallbackBeforeSendMsg")
    assert result.outcome == "failed_policy"
    assert answer(result) == {"ActionStatus": "OK", "ErrorInfo": "message could not be checked", "ErrorCode": 1}


def test_secret_unavailable_after_send_is_503(h: Harness) -> None:
    h.config.secret_error = RuntimeError("secrets manager down")
    result = h.call("C2C.CallbackAfterSendMsg")
    assert result.status == 503 and result.outcome == "unavailable"
    assert h.events.queued == []


# ----------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    "command", ["Sns.CallbackFriendAdd", "Group.CallbackBeforeCreateGroup", "Profile.CallbackPortraitSet"]
)
def test_unknown_command_is_acknowledged(h: Harness, command: str) -> None:
    result = h.call(command, body={"CallbackCommand": command, "anything": [1, 2]})
    assert answer(result) == OK
    assert result.outcome == "ignored"
    assert h.events.queued == []


@pytest.mark.parametrize(
    "command",
    [
        "State.StateChange",
        "Group.CallbackAfterGroupFull",
        "Group.CallbackOnMemberStateChange",
        "Group.CallbackAfterReadReceipt",
    ],
)
def test_callbacks_acknowledged_and_dropped_before_are_queued_for_the_event_bus(h: Harness, command: str) -> None:
    result = h.call(command)
    assert answer(result) == OK and result.outcome == "queued"
    [(queued_command, raw, _)] = h.events.queued
    assert queued_command == command and json.loads(raw) == payload(command)
    # Of the wrong shape: a 400 naming the field, as for every queued command (never a 500).
    bad = h.call(command, body=payload(command, GroupId=[1], Info={"Action": 1}))
    assert bad.status == 400 and bad.outcome == "bad_request"


def test_unknown_command_still_needs_authentication(h: Harness) -> None:
    assert h.call("Sns.CallbackFriendAdd", body="{}", sign="00" * 32).status == 401


# ----------------------------------------------------------------------------- before-send


def test_before_send_allowed(h: Harness) -> None:
    result = h.call("Group.CallbackBeforeSendMsg", body=payload("Group.CallbackBeforeSendMsg", MsgBody=text_body("hi")))
    assert answer(result) == OK
    assert result.outcome == "allowed"
    assert result.identity == "group:@TGS#2J4SZEAEL:r123456"


def test_before_send_rewritten(h: Harness) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg", body=c2c_body("这 darn 东西", "ok"))
    assert result.outcome == "rewritten"
    assert answer(result) == {**OK, "MsgBody": text_body("这 **** 东西", "ok")}
    # Non-ASCII goes out as it is.
    assert "这" in result.body


@pytest.mark.parametrize(
    ("command", "code"),
    [("C2C.CallbackBeforeSendMsg", 120042), ("Group.CallbackBeforeSendMsg", 10142)],
)
def test_before_send_rejected(h: Harness, command: str, code: int) -> None:
    result = h.call(command, body=payload(command, MsgBody=text_body("a scam")))
    assert result.outcome == "rejected"
    assert answer(result) == {"ActionStatus": "OK", "ErrorInfo": "blocked", "ErrorCode": code}


def test_before_send_discarded(h: Harness) -> None:
    h.config.policy_value = Policy.from_json('{"blocked_words": ["scam"], "blocked_action": "discard"}')
    result = h.call("C2C.CallbackBeforeSendMsg", body=c2c_body("scam"))
    assert result.outcome == "discarded"
    assert answer(result) == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 2}


FAILURE_ANSWERS = {
    "allow": OK,
    "reject": {"ActionStatus": "OK", "ErrorInfo": "message could not be checked", "ErrorCode": 1},
    "discard": {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 2},
}


@pytest.mark.parametrize("failure_policy", sorted(FAILURE_ANSWERS))
@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "[]",
        json.dumps({"CallbackCommand": "C2C.CallbackBeforeSendMsg"}),
        json.dumps(payload("C2C.CallbackBeforeSendMsg", MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {}}])),
    ],
    ids=["broken-json", "empty", "array", "missing-fields", "invalid-element"],
)
def test_unparseable_body_gets_the_failure_policy(logger, failure_policy: str, body: str) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY=failure_policy)
    result = h.call("C2C.CallbackBeforeSendMsg", body=body)
    assert result.outcome == "failed_policy"
    assert answer(result) == FAILURE_ANSWERS[failure_policy]


def test_body_for_the_other_command_gets_the_failure_policy(logger) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY="discard")
    result = h.call("Group.CallbackBeforeSendMsg", body=payload("C2C.CallbackBeforeSendMsg"))
    assert result.outcome == "failed_policy"
    assert answer(result) == FAILURE_ANSWERS["discard"]


@pytest.mark.parametrize("failure_policy", sorted(FAILURE_ANSWERS))
def test_policy_that_raises_gets_the_failure_policy(logger, failure_policy: str) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY=failure_policy)
    h.config.policy_error = RuntimeError("automaton exploded")
    result = h.call("Group.CallbackBeforeSendMsg")
    assert result.outcome == "failed_policy"
    assert result.identity == "group:@TGS#2J4SZEAEL:r123456"
    assert answer(result) == FAILURE_ANSWERS[failure_policy]


@pytest.mark.parametrize("failure_policy", sorted(FAILURE_ANSWERS))
def test_slow_policy_past_the_deadline_gets_the_failure_policy(logger, failure_policy: str) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY=failure_policy, BEFORE_SEND_DEADLINE_MS=800)
    h.config.policy_delay = 0.8  # exactly at the deadline: too late
    result = h.call("C2C.CallbackBeforeSendMsg", body=c2c_body("a scam"))
    assert result.outcome == "failed_policy"
    assert answer(result) == FAILURE_ANSWERS[failure_policy]


def test_policy_inside_the_deadline_is_answered(logger) -> None:
    h = Harness(logger, BEFORE_SEND_DEADLINE_MS=800)
    h.config.policy_delay = 0.799
    result = h.call("C2C.CallbackBeforeSendMsg", body=c2c_body("a scam"))
    assert result.outcome == "rejected"
    # The policy was given what was left of the deadline.
    assert h.config.policy_timeouts == [pytest.approx(0.8)]


# ----------------------------------------------------------------------------- chatbot interrupts


def test_interrupt_to_a_bot_is_recorded_and_allowed(h: Harness) -> None:
    h.config.policy_value = Policy.from_json('{"allowed_elements": {"c2c": ["TIMTextElem"]}}')
    result = h.call("C2C.CallbackBeforeSendMsg", body=interrupt_body())
    assert answer(result) == OK
    assert result.outcome == "allowed"
    assert h.interrupts.recorded == [("@RBT#assistant", "u_1001", "9001_42_1730000050", 1730000060)]


def test_interrupt_to_a_person_is_just_a_message(h: Harness) -> None:
    h.config.policy_value = Policy.from_json('{"allowed_elements": {"c2c": ["TIMTextElem"]}}')
    result = h.call("C2C.CallbackBeforeSendMsg", body=interrupt_body(to="u_2002"))
    assert result.outcome == "rejected"  # the policy applies: custom elements are not allowed here
    assert h.interrupts.recorded == []


def test_malformed_interrupt_is_not_recorded(h: Harness) -> None:
    body = interrupt_body()
    body["MsgBody"][0]["MsgContent"]["Data"] = '{"chatbotPlugin":2,"src":22,"msgKey":"not-a-key"}'
    assert answer(h.call("C2C.CallbackBeforeSendMsg", body=body)) == OK
    assert h.interrupts.recorded == []


def test_interrupt_store_failure_gets_the_failure_policy(logger) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY="allow")
    h.interrupts.error = RuntimeError("dynamodb down")
    result = h.call("C2C.CallbackBeforeSendMsg", body=interrupt_body())
    assert result.outcome == "failed_policy" and answer(result) == OK


def test_interrupt_does_not_bypass_the_policy_for_the_rest_of_the_message(h: Harness) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg", body=interrupt_body(extra=text_body("a scam")))
    assert answer(result)["ErrorCode"] == 120042


# ----------------------------------------------------------------------------- after-send and other async commands


@pytest.mark.parametrize(
    "command",
    [
        "C2C.CallbackAfterSendMsg",
        "Group.CallbackAfterSendMsg",
        "Bot.OnC2CMessage",
        "Bot.OnGroupMessage",
        "C2C.CallbackAfterModifyMsg",
        "Group.CallbackAfterModifyMsg",
        "C2C.CallbackAfterMsgWithDraw",
        "Group.CallbackAfterRecallMsg",
        "C2C.CallbackAfterMsgReport",
        # A group's system events, for its history (docs/protocol.md §13).
        "Group.CallbackAfterCreateGroup",
        "Group.CallbackAfterNewMemberJoin",
        "Group.CallbackAfterMemberExit",
        "Group.CallbackAfterGroupInfoChanged",
        "Group.CallbackAfterGroupDestroyed",
    ],
)
def test_async_command_is_queued_with_the_raw_body(h: Harness, command: str) -> None:
    # Unusual but valid formatting and an unknown field: the raw text travels as it came.
    raw = json.dumps(payload(command, FutureField={"x": "中"}), indent=1, ensure_ascii=False)
    result = h.service.handle(h.query(command), raw)
    assert answer(result) == OK
    assert result.outcome == "queued"
    assert h.events.queued == [(command, raw, NOW)]


def test_queue_failure_is_503(h: Harness) -> None:
    h.events.error = ConnectionError("sqs down")
    result = h.call("C2C.CallbackAfterSendMsg")
    assert result.status == 503 and result.outcome == "unavailable"


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        json.dumps({"CallbackCommand": "C2C.CallbackAfterSendMsg"}),
        json.dumps(payload("Group.CallbackAfterRecallMsg", MsgSeqList=[])),
    ],
    ids=["broken-json", "empty", "missing-fields", "empty-recall"],
)
def test_bad_after_send_body_is_400(h: Harness, body: str) -> None:
    command = json.loads(body)["CallbackCommand"] if body.startswith('{"') else "C2C.CallbackAfterSendMsg"
    result = h.call(command, body=body)
    assert result.status == 400 and result.outcome == "bad_request"
    assert command in json.loads(result.body)["message"]
    assert h.events.queued == []


def test_bad_after_send_body_names_the_fields(h: Harness) -> None:
    doc = payload("C2C.CallbackAfterSendMsg")
    del doc["MsgKey"]
    result = h.call("C2C.CallbackAfterSendMsg", body=doc)
    assert result.status == 400 and "MsgKey" in json.loads(result.body)["message"]


@pytest.mark.parametrize("command", ["Group.CallbackAfterSendMsg", "Bot.OnGroupMessage"])
def test_group_message_with_mentions_is_queued(h: Harness, command: str) -> None:
    result = h.call(command, body=payload(command, GroupAtInfo=GROUP_AT_INFO))
    assert result.status == 200 and result.outcome == "queued"


# ----------------------------------------------------------------------------- no token in answers or logs


def test_token_never_in_answers_or_logs(h: Harness, capsys, caplog) -> None:
    results = [
        h.call("C2C.CallbackBeforeSendMsg"),
        h.call("C2C.CallbackBeforeSendMsg", sign=callback_sign(TOKEN, NOW - 1)),
        h.call("C2C.CallbackBeforeSendMsg", sign=TOKEN),  # the token itself as the Sign
        h.call("C2C.CallbackBeforeSendMsg", request_time=NOW - 600),
        h.call("C2C.CallbackBeforeSendMsg", SdkAppid="1"),
        h.call("C2C.CallbackBeforeSendMsg", body="{broken " + TOKEN),
        h.call("C2C.CallbackAfterSendMsg", body="{broken " + TOKEN),
        h.call("C2C.CallbackBeforeSendMsg", body=c2c_body("a scam")),
        h.call("C2C.CallbackBeforeSendMsg", body=interrupt_body()),
        h.call("State.StateChange", body="{}"),
        h.service.handle({"CallbackCommand": "x", "Sign": TOKEN, "RequestTime": TOKEN}, "{}"),
    ]
    h.config.policy_error = RuntimeError("failed")
    results.append(h.call("C2C.CallbackBeforeSendMsg"))
    h.events.error = RuntimeError("queue failed")
    results.append(h.call("C2C.CallbackAfterSendMsg"))
    h.config.secret_error = RuntimeError("secret failed")
    results.append(h.call("C2C.CallbackBeforeSendMsg"))
    results.append(h.call("C2C.CallbackAfterSendMsg"))

    for result in results:
        assert TOKEN not in result.body
        json.loads(result.body)
    out = capsys.readouterr().out
    records = json_log_lines(out)
    assert any(r["message"] == "callback refused" for r in records), out
    assert any(r["message"] == "before-send failure policy applied" for r in records), out
    assert TOKEN not in out
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in json.dumps(record.__dict__, default=str)


def test_refusal_is_logged_with_its_reason(h: Harness, capsys) -> None:
    h.call("C2C.CallbackBeforeSendMsg", sign="00" * 32)
    records = json_log_lines(capsys.readouterr().out)
    refused = [r for r in records if r["message"] == "callback refused"]
    assert len(refused) == 1
    assert refused[0]["status"] == 401
    assert "Sign does not match" in refused[0]["reason"]
    assert refused[0]["level"] == "WARNING"


class _SecretsReturning:
    def __init__(self, secret_string: str) -> None:
        self.secret_string = secret_string

    def call(self, action: str, payload: dict, timeout: float = 2.0) -> dict:
        return {"SecretString": self.secret_string}


SHORT_TOKEN = "tok-7f3a9c"


def test_malformed_secret_does_not_put_the_token_in_the_logs(logger, capsys) -> None:
    secret_string = '{"secret_key": "' + "ab" * 32 + '", "callback_token": "' + SHORT_TOKEN + '",}'
    config = ConfigStore(
        secret_id="tim/secret",
        policy_source="",
        ttl=60,
        logger=logger,
        clock=FakeClock(),
        source=AwsJsonSource(_SecretsReturning(secret_string)),
    )
    service = CallbackService(
        settings=CallbackSettings(**CALLBACK_SETTINGS),
        config=config,
        events=FakeEvents(),
        interrupts=FakeInterrupts(),
        logger=logger,
        wall_clock=FakeClock(NOW),
        monotonic=FakeClock(),
    )
    q = {
        "SdkAppid": str(APP_ID),
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "RequestTime": str(NOW),
        "Sign": callback_sign(SHORT_TOKEN, NOW),
    }
    result = service.handle(q, json.dumps(payload("C2C.CallbackAfterSendMsg")))
    assert result.status == 503
    assert SHORT_TOKEN not in result.body
    out = capsys.readouterr().out
    assert "could not be completed" in out  # the failure is logged ...
    assert SHORT_TOKEN not in out  # ... without the token


# ----------------------------------------------------------------------------- deep mergers, malformed bodies

BEFORE_SEND = ["C2C.CallbackBeforeSendMsg", "Group.CallbackBeforeSendMsg"]


def deep_merger(levels: int, text: str) -> list[dict[str, Any]]:
    """A MsgBody holding one inline merger nested ``levels`` deep, ``text`` in the innermost message."""
    body = text_body(text)
    for _ in range(levels):
        body = [
            {
                "MsgType": "TIMRelayElem",
                "MsgContent": {"Title": "fwd", "MsgNum": 1, "MsgList": [{"From_Account": "a", "MsgBody": body}]},
            }
        ]
    return body


def within_tencent_limits(body: list[dict[str, Any]]) -> bool:
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()) <= 12 * 1024


@pytest.mark.parametrize("levels", [40, 80, 100])
@pytest.mark.parametrize("command", BEFORE_SEND)
def test_blocked_word_at_the_bottom_of_a_deep_merger_is_rejected(h: Harness, command: str, levels: int) -> None:
    body = deep_merger(levels, "a scam")
    assert within_tencent_limits(body)
    result = h.call(command, body=payload(command, MsgBody=body))
    assert result.outcome == "rejected", result


@pytest.mark.parametrize("levels", [40, 80, 100])
@pytest.mark.parametrize(
    ("command", "identity"),
    [
        ("C2C.CallbackAfterSendMsg", "c2c:7311_3088123456_1730000000"),
        ("Group.CallbackAfterSendMsg", "group:@TGS#2J4SZEAEL:123"),
    ],
)
def test_deep_merger_after_send_is_queued_and_archived(h: Harness, command: str, identity: str, levels: int) -> None:
    result = h.call(command, body=payload(command, MsgBody=deep_merger(levels, "a scam")))
    assert result.outcome == "queued", result.body
    # What the event processor then does with the queued body.
    [(queued_command, raw, _)] = h.events.queued
    event = parse_callback(queued_command, raw)
    store = MemoryStore()
    assert Archiver(store, clock=lambda: NOW).archive(event, raw) == ["stored"]
    item = store.items[(identity, MESSAGE_SK)]
    assert item["body"] == raw and item["inline_mergers"] == 1


@pytest.mark.parametrize(
    "body",
    ["[" * 20_000 + "]" * 20_000, json.dumps(payload("C2C.CallbackBeforeSendMsg", MsgBody=deep_merger(150, "a scam")))],
    ids=["nested-arrays", "150-levels"],
)
def test_body_deeper_than_tencent_sends_gets_the_failure_policy_or_400(h: Harness, body: str) -> None:
    result = h.call("C2C.CallbackBeforeSendMsg", body=body)
    assert result.outcome == "failed_policy" and answer(result) == OK
    after = h.call("C2C.CallbackAfterSendMsg", body=body.replace("CallbackBeforeSendMsg", "CallbackAfterSendMsg"))
    assert after.status == 400 and h.events.queued == []


def test_deep_body_with_text_that_is_not_unicode_is_refused_like_a_shallow_one(h: Harness) -> None:
    for levels in (0, 60):
        raw = json.dumps(payload("C2C.CallbackBeforeSendMsg", MsgBody=deep_merger(levels, "\udfff")))
        assert h.call("C2C.CallbackBeforeSendMsg", body=raw).outcome == "failed_policy"


@pytest.mark.parametrize("msg_type", [["TIMTextElem"], {"TIMTextElem": 1}], ids=["array", "object"])
@pytest.mark.parametrize("command", sorted(PAYLOADS))
def test_msgtype_that_is_not_a_string_is_never_a_500(h: Harness, command: str, msg_type: Any) -> None:
    body = payload(command, MsgBody=[{"MsgType": msg_type, "MsgContent": {"Text": "x"}}])
    result = h.call(command, body=body)  # before the fix: TypeError out of validation
    if command in BEFORE_SEND:
        assert result.outcome == "failed_policy" and answer(result) == OK
    elif "MsgBody" in PAYLOADS[command]:
        assert result.status == 400 and "MsgBody.0.unknown.MsgType" in json.loads(result.body)["message"]
    else:  # recalls and read reports carry no MsgBody: an extra field is carried, not read
        assert result.outcome == "queued"


@pytest.mark.parametrize("event_time", ["1700000000", 1700000000])
def test_c2c_recall_with_a_string_event_time_is_archived(h: Harness, event_time: str | int) -> None:
    command = "C2C.CallbackAfterMsgWithDraw"
    assert h.call(command, body=payload(command, EventTime=event_time)).outcome == "queued"
    [(_, raw, _)] = h.events.queued
    store = MemoryStore()
    assert Archiver(store, clock=lambda: NOW).archive(parse_callback(command, raw), raw) == ["stored"]
    [(pk, sk)] = store.items
    assert pk == "c2c:7311_3088123456_1730000000" and sk.startswith("RECALL#000001700000000#")


@pytest.mark.parametrize("event_time", [[1], {"t": 1}, "soon", 1.5])
@pytest.mark.parametrize(
    "command",
    [
        "C2C.CallbackAfterMsgWithDraw",
        "Group.CallbackAfterRecallMsg",
        "C2C.CallbackAfterModifyMsg",
        "Group.CallbackAfterModifyMsg",
    ],
)
def test_event_time_that_is_not_an_integer_is_400_not_a_dead_letter(h: Harness, command: str, event_time: Any) -> None:
    result = h.call(command, body=payload(command, EventTime=event_time))
    assert result.status == 400 and "EventTime" in json.loads(result.body)["message"]
    assert h.events.queued == []


def test_unexpected_image_type_is_still_moderated(h: Harness) -> None:
    image = {
        "MsgType": "TIMImageElem",
        "MsgContent": {
            "UUID": "u",
            "ImageFormat": 1,
            "ImageInfoArray": [{"Type": 9, "Size": 1, "Width": 1, "Height": 1, "URL": "https://x"}],
        },
    }
    body = payload("C2C.CallbackBeforeSendMsg", MsgBody=[image, *text_body("a scam")])
    result = h.call("C2C.CallbackBeforeSendMsg", body=body)
    assert result.outcome == "rejected"  # before the fix: unparseable, so the failure policy (allow)


def test_blocked_word_in_a_custom_element_is_rejected(h: Harness) -> None:
    custom = {"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"text": "a ｓ\u200bｃａｍ"}', "Desc": "", "Ext": ""}}
    result = h.call("C2C.CallbackBeforeSendMsg", body=payload("C2C.CallbackBeforeSendMsg", MsgBody=[custom]))
    assert result.outcome == "rejected"


class TickingClock(FakeClock):
    """A monotonic clock that moves on each time it is read, as time does while work is done."""

    def __init__(self, start: float, tick: float) -> None:
        super().__init__(start)
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.mark.parametrize("failure_policy", sorted(FAILURE_ANSWERS))
def test_deadline_expiring_during_the_decision_gets_the_failure_policy(logger, capsys, failure_policy: str) -> None:
    h = Harness(logger, BEFORE_SEND_FAILURE_POLICY=failure_policy, BEFORE_SEND_DEADLINE_MS=1000)
    clock = TickingClock(500.0, 0.1)
    h.service._monotonic = clock
    result = h.call("C2C.CallbackBeforeSendMsg", body=c2c_body(*["fine"] * 30, "a scam"))
    assert result.outcome == "failed_policy" and answer(result) == FAILURE_ANSWERS[failure_policy]
    # It stopped when the deadline passed, not after looking at all 31 elements.
    assert clock.now < 500.0 + 2.0
    records = json_log_lines(capsys.readouterr().out)
    failures = [r["reason"] for r in records if r["message"] == "before-send failure policy applied"]
    assert failures == ["deadline exceeded"]


# ----------------------------------------------------------------------------- bot turns


class FakeTurns:
    def __init__(self) -> None:
        self.queued: list[Any] = []
        self.error: Exception | None = None

    def put(self, turn: Any, timeout: float = 2.0) -> str:
        if self.error is not None:
            raise self.error
        self.queued.append(turn)
        return f"turn-{len(self.queued)}"


def with_turns(h: Harness) -> FakeTurns:
    turns = FakeTurns()
    h.service.turns = turns
    return turns


def test_a_users_message_to_a_bot_is_archived_and_queued_for_the_bot(h: Harness) -> None:
    turns = with_turns(h)
    body = payload(
        "Bot.OnC2CMessage",
        From_Account="u_1001",
        To_Account="@RBT#assistant",
        MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello bot"}}],
    )
    result = h.call("Bot.OnC2CMessage", body=body)
    assert result.outcome == "queued"
    assert [command for command, *_ in h.events.queued] == ["Bot.OnC2CMessage"]
    (turn,) = turns.queued
    assert (turn.bot, turn.user, turn.text, turn.identity) == ("@RBT#assistant", "u_1001", "hello bot", result.identity)


def test_an_interrupt_to_a_bot_is_archived_but_not_a_turn(h: Harness) -> None:
    turns = with_turns(h)
    body = payload(
        "Bot.OnC2CMessage",
        From_Account="u_1001",
        To_Account="@RBT#assistant",
        MsgBody=[{"MsgType": "TIMCustomElem", "MsgContent": {"Data": INTERRUPT_DATA}}],
    )
    assert h.call("Bot.OnC2CMessage", body=body).outcome == "queued"
    assert len(h.events.queued) == 1 and turns.queued == []


def test_a_turn_that_cannot_be_queued_is_a_503_so_tencent_delivers_again(h: Harness) -> None:
    turns = with_turns(h)
    turns.error = ConnectionError("SQS unreachable")
    body = payload(
        "Bot.OnC2CMessage",
        From_Account="u_1001",
        To_Account="@RBT#assistant",
        MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello bot"}}],
    )
    assert h.call("Bot.OnC2CMessage", body=body).status == 503


def test_without_a_chatbot_queue_bot_callbacks_are_only_archived(h: Harness) -> None:
    assert h.service.turns is None
    body = payload("Bot.OnC2CMessage", From_Account="u_1001", To_Account="@RBT#assistant")
    assert h.call("Bot.OnC2CMessage", body=body).outcome == "queued"


def test_an_interrupt_arriving_only_as_a_bot_callback_is_recorded(h: Harness) -> None:
    # An app that enables only the bot callbacks still stops a streaming answer.
    body = payload(
        "Bot.OnC2CMessage",
        From_Account="u_1001",
        To_Account="@RBT#assistant",
        MsgBody=[{"MsgType": "TIMCustomElem", "MsgContent": {"Data": INTERRUPT_DATA}}],
    )
    assert h.call("Bot.OnC2CMessage", body=body).outcome == "queued"
    assert [(bot, key) for bot, _, key, *_ in h.interrupts.recorded] == [("@RBT#assistant", "9001_42_1730000050")]


@pytest.mark.parametrize(
    "odd",
    [
        {"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [{"Type": 1, "Size": 1.5}]}},
        {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": "n", "Longitude": 1}},
        {"MsgType": "TIMFaceElem", "MsgContent": {"Index": "one"}},
    ],
    ids=["float-size", "string-latitude", "string-index"],
)
def test_a_body_the_models_refuse_is_still_checked_for_blocked_words(h: Harness, odd: dict[str, Any]) -> None:
    blocked = payload(
        "C2C.CallbackBeforeSendMsg", MsgBody=[odd, {"MsgType": "TIMTextElem", "MsgContent": {"Text": "a scam"}}]
    )
    assert h.call("C2C.CallbackBeforeSendMsg", body=blocked).outcome == "rejected"
    clean = payload(
        "C2C.CallbackBeforeSendMsg", MsgBody=[odd, {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]
    )
    result = h.call("C2C.CallbackBeforeSendMsg", body=clean)
    assert result.outcome == "failed_policy" and answer(result) == OK


def test_nan_is_not_json_on_the_deep_path_either(h: Harness) -> None:
    # pydantic refuses NaN; the standard parser, which reads what is too deep for pydantic's, must too.
    where = {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": float("nan"), "Longitude": 1}}
    raw = json.dumps(payload("C2C.CallbackAfterSendMsg", MsgBody=[where, *deep_merger(60, "x")]))
    assert "NaN" in raw
    assert h.call("C2C.CallbackAfterSendMsg", body=raw).status == 400
    assert h.events.queued == []
