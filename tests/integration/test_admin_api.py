"""The admin API's handler in-process against moto: what an HttpApi can hand it that the resolver
alone would get wrong (decoded paths, binary and non-JSON bodies), and the 422 it documents."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.handlers import load_handler
from tests.moto_env import offline_aws, template_table
from timkit.models.admin import ErrorBody, InvalidRequest

CONTEXT = SimpleNamespace(
    function_name="tim-admin-api", memory_limit_in_mb=256, aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-admin-api",
)


@pytest.fixture(scope="module")
def api() -> Iterator[ModuleType]:
    env = {
        "TIM_SDKAPPID": "1400000001", "JOBS_TABLE": "jobs", "RATE_TABLE": "rates",
        "BROADCAST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/broadcast",
        "POWERTOOLS_SERVICE_NAME": "tim-admin-api",
    }
    with pytest.MonkeyPatch.context() as patch, offline_aws(patch):
        for name, value in env.items():
            patch.setenv(name, value)
        template_table("JobsTable", "jobs")
        with load_handler("admin_api", "it_admin_api_app") as module:
            yield module


def call(api: ModuleType, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    """As an HttpApi hands a request over: the path decoded, a body that is not text base64-encoded."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": content_type},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                           "requestId": "r", "stage": "$default"},
        "isBase64Encoded": False,
    }
    if body is not None:
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    answer = api.lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.mark.parametrize("job", ["a?b", "a#b", "tab\there", "😀", "a%zz"])
def test_a_job_id_of_any_characters_reaches_the_route(api: ModuleType, job: str) -> None:
    for method in ("GET", "DELETE"):
        status, body = call(api, method, f"/admin/broadcasts/{job}")
        assert (status, body) == (404, {"message": f"no broadcast {job}", "field": "jobId"})


@pytest.mark.parametrize("robot", ["bot?", "\x01", "😀", "@RBT#" + "😀" * 7])
def test_a_robot_id_of_any_characters_is_validated_by_the_route(api: ModuleType, robot: str) -> None:
    status, body = call(api, "DELETE", f"/admin/robots/{robot}")
    assert status == 422 and body["field"] == "path.robotId", body
    status, body = call(api, "POST", f"/admin/bots/{robot}/friends", b'{"userIds": ["alice"]}')
    assert status == 422 and body["field"] == "path.botId", body


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(api: ModuleType) -> None:
    status, body = call(api, "POST", "/admin/robots", b"\xff\xfe{")
    assert (status, ErrorBody.model_validate(body).field) == (422, "body")


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencoded", "text/plain"])
def test_a_body_that_is_not_json_is_a_415(api: ModuleType, content_type: str) -> None:
    status, body = call(api, "POST", "/admin/robots", b'{"robotId": "@RBT#a"}', content_type)
    assert (status, ErrorBody.model_validate(body).field) == (415, "Content-Type")


def test_a_deleted_robot_is_documented_without_a_body(api: ModuleType) -> None:
    document = json.loads(api.app.get_openapi_json_schema())
    assert not document["paths"]["/admin/robots/{robotId}"]["delete"]["responses"]["204"].get("content")


def test_a_422_is_the_body_the_document_describes(api: ModuleType) -> None:
    status, body = call(api, "POST", "/admin/robots", b'{"robotId": "robot"}')
    assert status == 422
    assert InvalidRequest.model_validate(body).field == "body.robotId"
    document = json.loads(api.app.get_openapi_json_schema())
    answers = [op["responses"]["422"] for path in document["paths"].values() for op in path.values()]
    assert answers and all(
        a["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/InvalidRequest"} for a in answers
    )
