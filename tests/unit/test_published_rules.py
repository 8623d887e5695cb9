"""The request models' JSON schemas (what the OpenAPI documents publish) say what their validation does:
each request here is valid by the schema exactly when the model takes it. The rules JSON Schema has no
keyword for are formats of the schema (timkit.api.openapi.FORMATS): checked here that the schema names
the format, and that the model keeps to it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from tests.unit.conftest import text_body
from timkit.api.openapi import FORMATS
from timkit.models.admin import (
    BotFriendsRequest,
    BroadcastRequest,
    MessageRequest,
    ParticipantsRequest,
    RobotCreateRequest,
    Schedule,
    ThreadMessageUpdate,
)
from timkit.models.botconfig import BotConfig
from timkit.models.history import BackfillRequest
from timkit.models.merger import MergerUpload

BODY = text_body("hi")
FACE = [{"MsgType": "TIMFaceElem", "MsgContent": {"Index": 5}}]
CRON = "cron(0 9 ? * MON-FRI *)"
UPLOAD = {"conversation": {"kind": "group", "id": "g"}, "compatibleText": "[merged]"}


def _face(index: Any) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMFaceElem", "MsgContent": {"Index": index}}]


def _relay_message(**fields: Any) -> dict[str, Any]:
    return {"From_Account": "alice", "MsgBody": BODY, **fields}


# (model, request, whether both take it)
OFFLINE_UNMODERATED = {"onlineOnly": True, "excludedFromContentModeration": True}
CASES: list[tuple[type[BaseModel], dict[str, Any], bool]] = [
    # Duplicates: uniqueItems.
    (BotFriendsRequest, {"userIds": ["a", "b"]}, True),
    (BotFriendsRequest, {"userIds": ["a", "a"]}, False),
    (ParticipantsRequest, {"participants": ["a", "a"]}, False),
    (MessageRequest, {"msgBody": BODY, "toUsers": ["a", "a"]}, False),
    (BroadcastRequest, {"msgBody": BODY, "groupIds": ["g", "g"]}, False),
    # One destination: a null is a field left out.
    (MessageRequest, {"msgBody": BODY, "toUser": "a"}, True),
    (MessageRequest, {"msgBody": BODY, "toUser": None, "toGroup": "g"}, True),
    (MessageRequest, {"msgBody": BODY}, False),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "toGroup": "g"}, False),
    # Mentions: for groups only (none at all goes anywhere), each @all or one member.
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "groupAtInfo": []}, True),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "groupAtInfo": [{"GroupAtAllFlag": 1}]}, False),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "groupAtInfo": [{"GroupAtAllFlag": 1}]}, True),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "groupAtInfo": [{"GroupAt_Account": "bob"}]}, True),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "groupAtInfo": [{"GroupAtAllFlag": 0}]}, False),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "groupAtInfo": [{"GroupAtAllFlag": 2}]}, False),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "groupAtInfo": [{"GroupAtAllFlag": True}]}, False),
    # Tencent's wire parts take JSON's numbers as the schema types them: 5.0 is 5; "5" and true are not.
    (MessageRequest, {"msgBody": _face(5), "toUser": "a"}, True),
    (MessageRequest, {"msgBody": _face(5.0), "toUser": "a"}, True),
    (MessageRequest, {"msgBody": _face("5"), "toUser": "a"}, False),
    (MessageRequest, {"msgBody": _face(True), "toUser": "a"}, False),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "options": {"offlinePush": {"PushFlag": 1}}}, True),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "options": {"offlinePush": {"PushFlag": False}}}, False),
    # Options Tencent offers for one kind of send only (docs/protocol.md §5.10).
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "options": {"receiverList": ["bob"]}}, True),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "options": {"receiverList": ["bob"]}}, False),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "options": {"receiverList": None}}, True),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "options": {"supportExtension": True}}, True),
    (MessageRequest, {"msgBody": BODY, "toUsers": ["a"], "options": {"supportExtension": True}}, False),
    (MessageRequest, {"msgBody": BODY, "toUsers": ["a"], "options": {"supportExtension": False}}, True),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "options": OFFLINE_UNMODERATED}, False),
    (MessageRequest, {"msgBody": BODY, "toUser": "a", "options": OFFLINE_UNMODERATED}, True),
    (MessageRequest, {"msgBody": BODY, "toGroup": "g", "options": {"onlineOnly": True}}, True),
    (BroadcastRequest, {"msgBody": BODY, "allGroups": True, "options": OFFLINE_UNMODERATED}, False),
    (BroadcastRequest, {"msgBody": BODY, "allGroups": True, "options": {"excludedFromContentModeration": True}}, True),
    # Every group or a list of them.
    (BroadcastRequest, {"msgBody": BODY, "allGroups": True}, True),
    (BroadcastRequest, {"msgBody": BODY, "groupIds": ["g"], "allGroups": False}, True),
    (BroadcastRequest, {"msgBody": BODY, "groupIds": ["g"], "allGroups": True}, False),
    (BroadcastRequest, {"msgBody": BODY}, False),
    # A schedule is at or cron.
    (Schedule, {"cron": CRON}, True),
    (Schedule, {"at": None, "cron": CRON}, True),
    (Schedule, {}, False),
    (Schedule, {"at": "2090-01-01T10:00", "cron": CRON}, False),
    (Schedule, {"at": 3786000000}, False),
    (Schedule, {"cron": 5}, False),
    # An edit changes something.
    (ThreadMessageUpdate, {"content": "x"}, True),
    (ThreadMessageUpdate, {"metadata": {}}, True),
    (ThreadMessageUpdate, {"content": None}, False),
    # A bot's provider and what goes with it; whole numbers.
    (BotConfig, {"provider": "bedrock", "model": "m"}, True),
    (BotConfig, {"provider": "openai", "model": "m", "baseUrl": "https://llm.example"}, True),
    (BotConfig, {"provider": "openai", "model": "m"}, False),
    (BotConfig, {"provider": "bedrock", "model": "m", "baseUrl": "https://llm.example"}, False),
    (BotConfig, {"provider": "bedrock", "model": "m", "apiKey": "OPENAI"}, False),
    (BotConfig, {"provider": "openai", "model": "m", "baseUrl": "https://llm.example:65535"}, True),
    (BotConfig, {"provider": "openai", "model": "m", "baseUrl": "https://llm.example:65536"}, False),
    (BotConfig, {"provider": "openai", "model": "m", "baseUrl": "https://llm.example:0"}, False),
    (BotConfig, {"provider": "bedrock", "model": "m", "maxAnswerSeconds": 10.0}, True),
    (BotConfig, {"provider": "bedrock", "model": "m", "maxAnswerSeconds": 4}, False),
    (BotConfig, {"provider": "bedrock", "model": "m", "maxAnswerSeconds": "10"}, False),
    # A nextToken is of the form the APIs write.
    (BackfillRequest, {"nextToken": "bm90LWEtdG9rZW4="}, True),
    (BackfillRequest, {"nextToken": "bm90LWEtdG9rZW4"}, False),
    # A merger's list: the wire parts as typed, an element type that is not one of the known ones kept as it is.
    (MergerUpload, {**UPLOAD, "messageList": [_relay_message(MsgSeq=3)]}, True),
    (MergerUpload, {**UPLOAD, "messageList": [_relay_message(MsgSeq="3")]}, False),
    (MergerUpload, {**UPLOAD, "messageList": [_relay_message(MsgBody=[{"MsgType": "TIMNewElem"}])]}, True),
    (MergerUpload, {**UPLOAD, "messageList": [_relay_message(MsgBody=_face("x"))]}, False),
]


def _takes(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("model", "data", "taken"), CASES)
def test_the_schema_and_the_model_agree(model: type[BaseModel], data: dict[str, Any], taken: bool) -> None:
    schema = model.model_json_schema()
    assert (Draft202012Validator(schema).is_valid(data), _takes(model, data)) == (taken, taken)


def _formats(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return own.union(*(_formats(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_formats(value) for value in schema))
    return set()


@pytest.mark.parametrize(
    ("model", "data", "named"),
    [
        # 17 two-byte characters: 17 characters, 34 bytes.
        (BotFriendsRequest, {"userIds": ["é" * 17]}, "tim-user-id"),
        (MessageRequest, {"msgBody": BODY, "toGroup": "é" * 25}, "tim-group-id"),
        (RobotCreateRequest, {"robotId": "@RBT#" + "é" * 14}, "tim-robot-id"),
        (RobotCreateRequest, {"robotId": "@RBT#a", "faceUrl": "http://"}, "http-url"),
        (Schedule, {"at": "2090-01-01 10:00"}, "schedule-at"),
        (Schedule, {"at": "2090-02-30T10:00"}, "schedule-at"),
        (Schedule, {"cron": "cron(0 9 * * * *)"}, "schedule-cron"),
        (Schedule, {"cron": CRON, "timezone": "Mars/Olympus"}, "time-zone"),
    ],
)
def test_what_json_schema_cannot_say_is_a_named_format(
    model: type[BaseModel], data: dict[str, Any], named: str
) -> None:
    schema = model.model_json_schema()
    assert named in FORMATS and named in _formats(schema)
    # Valid by the schema's keywords, refused by the rule the format names.
    assert Draft202012Validator(schema).is_valid(data) and not _takes(model, data)
