"""The admin API's handler in-process against moto (and the Tencent IM emulator): what an HttpApi
can hand it that the resolver alone would get wrong (decoded paths, binary and non-JSON bodies), the
422 it documents, and the bots' configurations."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest

from local.tim_emulator import FaultRule, Seed, TimEmulator
from tests.integration.admin_harness import BOT, BOT_STATE, call
from timkit.models.botconfig import BotConfig
from timkit.models.errors import ErrorBody
from timkit.stores.bots import BotStore


@pytest.mark.parametrize("job", ["a?b", "a#b", "tab\there", "😀", "a%zz"])
def test_a_job_id_of_any_characters_reaches_the_route(api: ModuleType, job: str) -> None:
    for method, route in (("GET", f"/admin/broadcasts/{job}"), ("POST", f"/admin/broadcasts/{job}/cancel")):
        status, body = call(api, method, route)
        assert (status, body) == (
            404,
            {"message": f"no broadcast {job}", "field": "jobId", "limit": None, "errors": []},
        )


@pytest.mark.parametrize("robot", ["bot?", "\x01", "😀", "@RBT#" + "😀" * 7])
def test_a_robot_id_of_any_characters_is_validated_by_the_route(api: ModuleType, robot: str) -> None:
    status, body = call(api, "DELETE", f"/admin/robots/{robot}")
    assert status == 422 and body["field"] == "path.robotId", body
    status, body = call(api, "POST", f"/admin/bots/{robot}/friends", b'{"userIds": ["alice"]}')
    assert status == 422 and body["field"] == "path.botId", body


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(api: ModuleType) -> None:
    status, body = call(api, "POST", "/admin/robots", b"\xff\xfe{")
    assert (status, ErrorBody.model_validate(body).field) == (422, "body")


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "text/plain"],
)
def test_a_body_that_is_not_json_is_a_415(api: ModuleType, content_type: str) -> None:
    status, body = call(api, "POST", "/admin/robots", b'{"robotId": "@RBT#a"}', content_type)
    assert (status, ErrorBody.model_validate(body).field) == (415, "Content-Type")


def test_a_deleted_robot_is_documented_without_a_body(api: ModuleType) -> None:
    document = json.loads(api.app.get_openapi_json_schema())
    assert not document["paths"]["/admin/robots/{robotId}"]["delete"]["responses"]["204"].get("content")


def test_a_422_is_the_body_the_document_describes(api: ModuleType) -> None:
    status, body = call(api, "POST", "/admin/robots", b'{"robotId": "robot"}')
    assert status == 422
    assert ErrorBody.model_validate(body).field == "body.robotId"
    document = json.loads(api.app.get_openapi_json_schema())
    answers = [op["responses"]["422"] for path in document["paths"].values() for op in path.values()]
    assert answers and all(
        a["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"} for a in answers
    )


# ----------------------------------------------------------------------------- bot configurations


def config_path(bot: str = BOT) -> str:
    return f"/admin/bots/{bot}/config"


def put(api: ModuleType, config: Any, bot: str = BOT, **kwargs: Any) -> tuple[int, Any]:
    return call(api, "PUT", config_path(bot), json.dumps(config).encode(), **kwargs)


OPENAI = {"provider": "openai", "model": "local-model", "baseUrl": "http://127.0.0.1:3002/v1/", "apiKey": "local"}


def test_a_bot_config_is_put_read_replaced_and_deleted(api: ModuleType) -> None:
    call(api, "DELETE", config_path())
    assert call(api, "GET", config_path()) == (
        404,
        {"message": f"{BOT} has no configuration", "field": "botId", "limit": None, "errors": []},
    )

    status, stored = put(api, OPENAI)
    # The stored configuration, defaults filled in and the base URL without its trailing "/".
    assert status == 200 and stored == {
        **OPENAI,
        "baseUrl": "http://127.0.0.1:3002/v1",
        "systemPrompt": "",
        "temperature": 0.7,
        "maxTokens": 1024,
        "contextTurns": 10,
        "maxAnswerSeconds": 120,
        "streamingMode": "custom",
    }
    assert call(api, "GET", config_path()) == (200, stored)
    assert BotStore(BOT_STATE).get_config(BOT) == BotConfig.model_validate(stored)  # what the worker reads

    status, replaced = put(api, {"provider": "bedrock", "model": "amazon.nova-lite-v1:0", "contextTurns": 0})
    assert (status, replaced["provider"], replaced["contextTurns"]) == (200, "bedrock", 0)
    assert "baseUrl" not in replaced and call(api, "GET", config_path()) == (200, replaced)

    assert call(api, "DELETE", config_path()) == (204, None)
    assert call(api, "GET", config_path())[0] == 404
    assert call(api, "DELETE", config_path()) == (
        404,
        {"message": f"{BOT} has no configuration", "field": "botId", "limit": None, "errors": []},
    )


def test_a_stored_config_this_version_refuses_is_a_409_asking_for_a_new_one(api: ModuleType) -> None:
    boto3.client("dynamodb").put_item(
        TableName=BOT_STATE,
        Item={
            "pk": {"S": f"config#{BOT}"},
            "config": {"S": json.dumps({"provider": "gemini", "model": "m"})},
        },
    )
    status, body = call(api, "GET", config_path())
    assert (status, body["field"]) == (409, "botId") and "(provider: " in body["message"], body
    assert put(api, {"provider": "bedrock", "model": "m"})[0] == 200
    assert call(api, "DELETE", config_path())[0] == 204


def test_a_config_for_a_robot_the_app_does_not_have_is_a_404_naming_it(api: ModuleType, emulator: TimEmulator) -> None:
    status, body = put(api, OPENAI, bot="@RBT#nobody")
    assert (status, body["field"]) == (404, "botId") and "@RBT#nobody" in body["message"]
    assert BotStore(BOT_STATE).get_config("@RBT#nobody") is None
    # Created a moment later, it is found at once (only the robots found are cached).
    emulator.service.apply_seed(Seed(robots=("@RBT#nobody",)))
    assert put(api, OPENAI, bot="@RBT#nobody")[0] == 200
    assert call(api, "DELETE", config_path("@RBT#nobody"))[0] == 204


# 70500 is Tencent's internal error (an outage: 503, as HTTP 403 from its gateway); 90001, a request
# it refuses as malformed, is its answer to relay (502).
@pytest.mark.parametrize(("fault", "status"), [(70500, 503), (403, 503), (90001, 502)])
def test_tencent_failing_the_robot_check_is_the_apis_502_or_503_and_nothing_is_stored(
    api: ModuleType, faultless: TimEmulator, fault: int, status: int
) -> None:
    faultless.configure(faults=[FaultRule(api="openim_robot_http_svc/get_all_robots", error_share=1.0, codes=[fault])])
    answer = put(api, OPENAI, bot="@RBT#unchecked")
    assert answer[0] == status, answer
    assert set(answer[1]) == set(ErrorBody.model_fields), answer
    assert BotStore(BOT_STATE).get_config("@RBT#unchecked") is None


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({**OPENAI, "provider": "gemini"}, "body.provider"),
        ({**OPENAI, "provider": None}, "body.provider"),
        ({k: v for k, v in OPENAI.items() if k != "model"}, "body.model"),
        ({**OPENAI, "model": ""}, "body.model"),
        ({**OPENAI, "model": ["local-model"]}, "body.model"),
        ({k: v for k, v in OPENAI.items() if k != "baseUrl"}, "body.baseUrl"),
        ({**OPENAI, "baseUrl": "http://model.example.com/v1"}, "body.baseUrl"),
        ({**OPENAI, "baseUrl": "https://user:hunter2@model.example.com/v1"}, "body.baseUrl"),
        ({**OPENAI, "apiKey": "sk-0123456789abcdef"}, "body.apiKey"),
        ({"provider": "bedrock", "model": "m", "baseUrl": "https://bedrock.example.com"}, "body.baseUrl"),
        ({**OPENAI, "temperature": 2.5}, "body.temperature"),
        ({**OPENAI, "temperature": "0.5"}, "body.temperature"),
        ({**OPENAI, "maxTokens": 8193}, "body.maxTokens"),
        ({**OPENAI, "maxTokens": True}, "body.maxTokens"),
        ({**OPENAI, "contextTurns": 51}, "body.contextTurns"),
        ({**OPENAI, "maxAnswerSeconds": 4}, "body.maxAnswerSeconds"),
        ({**OPENAI, "streamingMode": "sse"}, "body.streamingMode"),
        ({**OPENAI, "typingText": "." * 101}, "body.typingText"),
        ({**OPENAI, "systemPrompt": {"text": "hi"}}, "body.systemPrompt"),
        ({**OPENAI, "memory": 5}, "body.memory"),
        (["provider", "openai"], "body"),
    ],
)
def test_a_bad_config_is_a_422_naming_the_field_and_changes_nothing(api: ModuleType, config: Any, field: str) -> None:
    status, body = put(api, config, bot="@RBT#assistant")
    assert status == 422, body
    assert ErrorBody.model_validate(body).field == field, body
    assert BotStore(BOT_STATE).get_config(BOT) is None
    assert "hunter2" not in json.dumps(body) and "sk-0123" not in json.dumps(body)  # no credential echoed


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_a_config_path_naming_no_robot_is_a_422(api: ModuleType, method: str) -> None:
    body = json.dumps(OPENAI).encode() if method == "PUT" else None
    status, answer = call(api, method, "/admin/bots/alice/config", body)
    assert (status, answer["field"]) == (422, "path.botId")


def test_a_config_body_that_is_not_json_is_a_415(api: ModuleType) -> None:
    status, body = call(api, "PUT", config_path(), json.dumps(OPENAI).encode(), "text/plain")
    assert (status, body["field"]) == (415, "Content-Type")


def test_a_put_with_an_idempotency_key_is_carried_out_once(api: ModuleType) -> None:
    first = {"provider": "bedrock", "model": "first"}
    key = {"idempotency-key": "config-once"}
    assert put(api, first, headers=key)[0] == 200
    assert put(api, {"provider": "bedrock", "model": "second"})[0] == 200
    # The repeat gets the first answer, and does not put the first configuration back.
    assert put(api, first, headers=key) == (
        200,
        {**BotConfig.model_validate(first).model_dump(by_alias=True, exclude_none=True)},
    )
    assert call(api, "GET", config_path())[1]["model"] == "second"
    status, body = put(api, {"provider": "bedrock", "model": "third"}, headers=key)
    assert (status, body["field"]) == (422, "Idempotency-Key")
    assert call(api, "DELETE", config_path())[0] == 204


def test_the_document_states_the_config_constraints(api: ModuleType) -> None:
    document = json.loads(api.app.get_openapi_json_schema())
    operations = document["paths"]["/admin/bots/{botId}/config"]
    assert set(operations) == {"put", "get", "delete"}
    assert not operations["delete"]["responses"]["204"].get("content")
    assert any(p["name"] == "idempotency-key" for p in operations["put"]["parameters"])
    schemas = document["components"]["schemas"]
    (name,) = [
        n
        for n in schemas
        if n.startswith("BotConfig")
        and "baseUrl" in schemas[n]["properties"]
        and n in json.dumps(operations["put"]["requestBody"])
    ]
    properties = schemas[name]["properties"]
    assert properties["provider"]["enum"] == ["bedrock", "openai"]
    assert (properties["temperature"]["minimum"], properties["temperature"]["maximum"]) == (0, 2)
    assert (properties["maxTokens"]["minimum"], properties["maxTokens"]["maximum"]) == (1, 8192)
    assert (properties["contextTurns"]["minimum"], properties["contextTurns"]["maximum"]) == (0, 50)
    assert (properties["maxAnswerSeconds"]["minimum"], properties["maxAnswerSeconds"]["maximum"]) == (5, 600)
    assert properties["streamingMode"]["enum"] == ["custom", "native"]
    assert properties["systemPrompt"]["maxLength"] == 8000
    assert "pattern" in properties["baseUrl"]["anyOf"][0]
    assert schemas[name]["additionalProperties"] is False
