"""The admin and merger APIs answer every error they give in one body (timkit.models.errors.ErrorBody:
the same fields for every 4xx and 5xx), AWS failing is a 503 in both, and the merger API reads the
policy with boto3 (Powertools Parameters), not the callback's standard-library client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest

from tests.handlers import SCHEDULER, load_handler
from tests.moto_env import offline_aws, template_table
from timkit.models.errors import ErrorBody

APP = 1400000001
BUCKET = "api-errors-mergers"
TABLE = "api-errors-merger-meta"
POLICY = "/timkit/policy"
CONTEXT = SimpleNamespace(
    function_name="test",
    memory_limit_in_mb=256,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test",
    get_remaining_time_in_millis=lambda: 29_000,
)
UPLOAD = {
    "conversation": {"kind": "c2c", "id": "B"},
    "compatibleText": "c",
    "messageList": [{"From_Account": "A", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}],
}


def request(method: str, path: str, body: str | None = None, identifier: str | None = "A") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "authorizer": {"lambda": {"identifier": identifier}} if identifier else {},
            "requestId": "r",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def call(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = module.lambda_handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


def assert_error_body(status: int, body: dict[str, Any]) -> ErrorBody:
    assert status >= 400
    assert set(body) == set(ErrorBody.model_fields), body
    return ErrorBody.model_validate(body)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    with offline_aws(monkeypatch):
        for name, value in {
            "TIM_SDKAPPID": str(APP),
            "TIM_SECRET_ID": "",
            "RATE_TABLE": "rates",
            "MERGER_BUCKET": BUCKET,
            "MERGER_TABLE": TABLE,
            "CONFIG_CACHE_SECONDS": "0",
            "POWERTOOLS_SERVICE_NAME": "tim-api-errors",
        }.items():
            monkeypatch.setenv(name, value)
        yield monkeypatch


@pytest.fixture
def merger_api(aws: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    boto3.client("ssm").put_parameter(Name=POLICY, Type="SecureString", Value=json.dumps({"blocked_words": ["scam"]}))
    aws.setenv("POLICY_SOURCE", f"ssm:{POLICY}")
    with load_handler("merger_api", "errors_merger_api_app") as module:
        yield module


def test_the_merger_api_reads_the_policy_with_boto3(merger_api: ModuleType) -> None:
    # moto answers boto3 only: the standard-library client would have gone to AWS itself, and failed.
    template_table("MergerTable", TABLE)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    blocked = {**UPLOAD, "compatibleText": "a scam"}
    status, body, _ = call(merger_api, request("POST", "/mergers", json.dumps(blocked)))
    assert (status, assert_error_body(status, body).limit) == (422, "blocked")
    status, body, _ = call(merger_api, request("POST", "/mergers", json.dumps(UPLOAD)))
    assert status == 201, body


def test_aws_failing_is_a_503_on_the_merger_api(merger_api: ModuleType) -> None:
    # No table and no bucket: every storage call is a ClientError (it was a 500).
    status, body, _ = call(merger_api, request("POST", "/mergers", json.dumps(UPLOAD)))
    assert status == 503
    assert "an AWS call failed" in assert_error_body(status, body).message


def test_the_merger_apis_own_refusals_have_the_one_shape(merger_api: ModuleType) -> None:
    status, body, _ = call(merger_api, request("POST", "/mergers", "{", identifier=None))
    assert status == 401 and assert_error_body(status, body).message
    status, body, _ = call(merger_api, request("POST", "/mergers", "[]"))
    assert status == 422 and assert_error_body(status, body).errors
    status, body, _ = call(merger_api, request("GET", "/nowhere"))
    assert status == 404
    assert_error_body(status, body)


@pytest.fixture
def admin_api(aws: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for name in ("JOBS_TABLE", "IDEMPOTENCY_TABLE", "BOT_STATE_TABLE", "ARCHIVE_TABLE"):
        aws.setenv(name, name.lower())
    aws.setenv("BROADCAST_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/broadcast")
    for name, value in SCHEDULER.items():
        aws.setenv(name, value)
    with load_handler("admin_api", "errors_admin_api_app") as module:
        yield module


def test_the_admin_apis_refusals_have_the_one_shape(admin_api: ModuleType) -> None:
    # AWS failing (no jobs table), an unknown route, a body that is not JSON, a schema failure.
    status, body, _ = call(admin_api, request("GET", "/admin/broadcasts"))
    assert status == 503 and "an AWS call failed" in assert_error_body(status, body).message
    status, body, _ = call(admin_api, request("GET", "/admin/nowhere"))
    assert status == 404
    assert_error_body(status, body)
    refused = {**request("POST", "/admin/robots", "x=1"), "headers": {"content-type": "text/plain"}}
    status, body, _ = call(admin_api, refused)
    assert (status, assert_error_body(status, body).field) == (415, "Content-Type")
    status, body, _ = call(admin_api, request("POST", "/admin/robots", "{}"))
    assert (status, assert_error_body(status, body).field) == (422, "body.robotId")
