"""The event bus's events: detail models and their published schemas, what a callback maps to,
event ids that stay the same across deliveries, and hostile callbacks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from tests.handlers import load_handler
from tests.unit.conftest import PAYLOADS, payload
from tests.unit.test_callback_service import deep_merger
from timkit.bus import entry, event_id
from timkit.models.bus import SOURCE, detail_model, detail_types
from timkit.models.callbacks import ASYNC_COMMANDS, BEFORE_SEND_COMMANDS, parse_callback

ROOT = Path(__file__).resolve().parents[2]
SDKAPPID = 1400000001
CONTEXT = SimpleNamespace(
    function_name="tim-event-example",
    memory_limit_in_mb=128,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-event-example",
)


def load_tool() -> Any:
    spec = importlib.util.spec_from_file_location("event_schemas_tool", ROOT / "tools" / "event_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def published(doc: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(doc, ensure_ascii=False)
    event = parse_callback(doc["CallbackCommand"], raw)
    return entry(event, event_id(event, raw), SDKAPPID)


def validator(detail_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "docs" / "events" / f"{detail_type}.v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_published_schemas_are_those_of_the_models() -> None:
    # Fails after a model change until `python tools/event_schemas.py` is run (and its files committed).
    assert load_tool().stale() == []


def test_every_command_processed_after_the_acknowledgement_is_a_detail_type() -> None:
    assert set(detail_types()) == set(ASYNC_COMMANDS)
    assert {"State.StateChange", "Group.CallbackAfterGroupFull", "Group.CallbackAfterReadReceipt"} <= set(
        detail_types()
    )
    for command in BEFORE_SEND_COMMANDS:
        with pytest.raises(KeyError):
            detail_model(command)


@pytest.mark.parametrize("command", sorted(ASYNC_COMMANDS))
def test_each_callback_becomes_an_event_its_published_schema_accepts(command: str) -> None:
    put = published(PAYLOADS[command])
    assert (put["Source"], put["DetailType"]) == (SOURCE, command) == ("timkit", command)
    detail = json.loads(put["Detail"])
    validator(command).validate(detail)
    assert detail["version"] == 1 and detail["sdkAppId"] == SDKAPPID
    # The callback as it came, in the models' types (EventTime quoted in the samples is a number).
    expected = dict(PAYLOADS[command])
    if isinstance(expected.get("EventTime"), str):
        expected["EventTime"] = int(expected["EventTime"])
    assert detail["callback"] == expected
    # And the models read it back (as a consumer using the layer does).
    assert detail_model(command).model_validate(detail).callback.CallbackCommand == command


@pytest.mark.parametrize(
    ("doc", "conversation", "message_ids"),
    [
        (payload("C2C.CallbackAfterSendMsg"), "c2c:@RBT#assistant:u_1001", ["c2c:7311_3088123456_1730000000"]),
        (payload("Bot.OnGroupMessage"), "group:@TGS#2J4SZEAEL", ["group:@TGS#2J4SZEAEL:123"]),
        (
            payload("Group.CallbackAfterSendMsg", TopicId="@TGS#2J4SZEAEL@TOPIC#_t"),
            "topic:@TGS#2J4SZEAEL:@TGS#2J4SZEAEL@TOPIC#_t",
            ["topic:@TGS#2J4SZEAEL:@TGS#2J4SZEAEL@TOPIC#_t:123"],
        ),
        (payload("C2C.CallbackAfterMsgWithDraw"), "c2c:u_1001:u_2002", ["c2c:7311_3088123456_1730000000"]),
        (
            payload("Group.CallbackAfterRecallMsg"),
            "group:@TGS#2J4SZEAEL",
            ["group:@TGS#2J4SZEAEL:121", "group:@TGS#2J4SZEAEL:122", "group:@TGS#2J4SZEAEL:123"],
        ),
        (payload("C2C.CallbackAfterMsgReport"), "c2c:u_1001:u_2002", []),
        (
            payload("Group.CallbackAfterReadReceipt"),
            "group:@TGS#2J4SZEAEL",
            ["group:@TGS#2J4SZEAEL:121", "group:@TGS#2J4SZEAEL:123"],
        ),
        (payload("Group.CallbackAfterNewMemberJoin"), "group:@TGS#2J4SZEAEL", []),
        (payload("Group.CallbackOnMemberStateChange"), "group:@TGS#2J4SZEAEL", []),
        (payload("State.StateChange"), None, []),
    ],
    ids=lambda v: v["CallbackCommand"] if isinstance(v, dict) else None,
)
def test_what_an_event_is_about(doc: dict[str, Any], conversation: str | None, message_ids: list[str]) -> None:
    detail = json.loads(published(doc)["Detail"])
    assert (detail["conversation"], detail["messageIds"]) == (conversation, message_ids)


def eid(doc: dict[str, Any] | str, command: str | None = None) -> str:
    raw = doc if isinstance(doc, str) else json.dumps(doc)
    command = command or json.loads(raw)["CallbackCommand"]
    return event_id(parse_callback(command, raw), raw)


def test_a_message_delivered_again_keeps_its_event_id() -> None:
    first = payload("C2C.CallbackAfterSendMsg")
    # Tencent's retry: another envelope (EventTime, unread count), the same message.
    again = payload("C2C.CallbackAfterSendMsg", EventTime=first["EventTime"] + 7, UnreadMsgNum=3)
    assert eid(first) == eid(again)
    # Its bot callback is an event of its own.
    assert eid(first) != eid(
        payload("C2C.CallbackAfterSendMsg", CallbackCommand="Bot.OnC2CMessage"), "Bot.OnC2CMessage"
    )


def test_other_callbacks_are_known_by_their_content_however_it_is_laid_out() -> None:
    doc = payload("State.StateChange")
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=3)
    assert eid(doc) == eid(reordered)
    logout = payload(
        "State.StateChange", Info={"Action": "Logout", "To_Account": "testuser316", "Reason": "Unregister"}
    )
    assert eid(doc) != eid(logout)
    assert len(eid(doc)) == 32


def test_a_merger_deeper_than_pydantics_encoder_goes_is_published() -> None:
    doc = payload("Group.CallbackAfterSendMsg", MsgBody=deep_merger(100, "deep"))
    detail = json.loads(published(doc)["Detail"])
    assert detail["callback"]["MsgBody"] == doc["MsgBody"]


# ----------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("command", "changes"),
    [
        ("State.StateChange", {"Info": "Login"}),
        ("State.StateChange", {"Info": [{"Action": "Login", "To_Account": "u"}]}),
        ("State.StateChange", {"Info": {"Action": "Login"}}),
        ("State.StateChange", {"Info": {"Action": ["Login"], "To_Account": "u"}}),
        ("State.StateChange", {"KickedDevice": {"Platform": "iOS"}}),
        ("State.StateChange", {"KickedDevice": [{"Platform": 5}]}),
        ("State.StateChange", {"EventTime": [1]}),
        ("Group.CallbackAfterGroupFull", {"GroupId": None}),
        ("Group.CallbackAfterGroupFull", {"GroupId": {"id": "g"}}),
        ("Group.CallbackOnMemberStateChange", {"MemberList": {"Member_Account": "x"}}),
        ("Group.CallbackOnMemberStateChange", {"EventType": None}),
        ("Group.CallbackAfterReadReceipt", {"GroupMsgReceiptList": [{"MsgSeq": "one"}]}),
        ("Group.CallbackAfterReadReceipt", {"GroupMsgReceiptList": [{"MsgSeq": 1, "ReadReceiptMembers": ["bob"]}]}),
        ("Group.CallbackAfterReadReceipt", {"GroupMsgReceiptList": "121"}),
        ("Group.CallbackAfterReadReceipt", {"CallbackCommand": "Group.CallbackAfterGroupFull"}),
    ],
)
def test_callbacks_of_the_wrong_shape_are_refused(command: str, changes: dict[str, Any]) -> None:
    # Refused at the callback (a 400 naming the field: test_callback_service), so never published.
    with pytest.raises(ValidationError):
        parse_callback(command, json.dumps(payload(command, **changes)))


@pytest.mark.parametrize(
    "change",
    [{"version": 2}, {"version": "1"}, {"extra": 1}, {"eventId": ""}, {"messageIds": "x"}, {"callback": {}}],
    ids=["version-2", "version-string", "extra-field", "empty-id", "ids-not-a-list", "callback-empty"],
)
def test_a_detail_of_another_shape_is_refused_by_the_consumer_side_models(change: dict[str, Any]) -> None:
    detail = json.loads(published(payload("Group.CallbackAfterSendMsg"))["Detail"])
    detail.update(change)
    with pytest.raises(ValidationError):
        detail_model("Group.CallbackAfterSendMsg").model_validate(detail, strict=False)
    assert list(validator("Group.CallbackAfterSendMsg").iter_errors(detail))


# ----------------------------------------------------------------------------- the example consumer

SAMPLE_EVENT = json.loads((ROOT / "events" / "event_example" / "group_message.json").read_text())


def test_the_example_consumer_reads_the_sample_event_and_logs_its_detail(monkeypatch, capsys) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tim-event-example")
    with load_handler("event_example", "unit_event_example_app") as module:
        module.lambda_handler(SAMPLE_EVENT, CONTEXT)
    [log] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"timkit event"' in line]
    assert log["detail"] == SAMPLE_EVENT["detail"]
    assert log["correlation_id"] == SAMPLE_EVENT["detail"]["eventId"]
    # The sample is what the bundle publishes for its callback.
    callback = SAMPLE_EVENT["detail"]["callback"]
    assert json.loads(published(callback)["Detail"]) == SAMPLE_EVENT["detail"]


def test_the_example_consumer_fails_on_a_detail_of_another_version(monkeypatch) -> None:
    event = {**SAMPLE_EVENT, "detail": {**SAMPLE_EVENT["detail"], "version": 2}}
    with load_handler("event_example", "unit_event_example_v2_app") as module, pytest.raises(ValidationError):
        module.lambda_handler(event, CONTEXT)
