"""The merger API's OpenAPI document (served without an authorizer's verdict) and its CORS answers,
in-process: the handler as an HttpApi calls it, moto for AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.handlers import load_handler
from tests.integration.test_api_errors import CONTEXT, UPLOAD, aws, call, request  # noqa: F401 - aws: a fixture
from tests.moto_env import template_table

ORIGIN = "https://chat.example.com"
# Of no key's form: not found before any storage call.
NO_KEY = "/mergers/not.a.key"


def _with(event: dict[str, Any], **headers: str) -> dict[str, Any]:
    return {**event, "headers": {**event["headers"], **headers}}


@pytest.fixture
def merger_api(aws: pytest.MonkeyPatch) -> Iterator[ModuleType]:  # noqa: F811 - the fixture imported above
    aws.setenv("MERGER_CORS_ORIGINS", f"{ORIGIN},http://localhost:5173")
    with load_handler("merger_api", "document_merger_api_app") as module:
        yield module


def test_the_document_is_served_to_anyone_and_describes_the_api(merger_api: ModuleType) -> None:
    status, document, _ = call(merger_api, request("GET", "/mergers/openapi.json", identifier=None))
    assert status == 200
    upload = document["paths"]["/mergers"]["post"]
    body = upload["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert document["components"]["schemas"][body]["required"] == ["conversation", "compatibleText", "messageList"]
    assert {"201", "400", "401", "403", "404", "413", "415", "422", "503"} == set(upload["responses"])
    assert upload["responses"]["201"]["links"]["DownloadMerger"]["parameters"] == {
        "downloadKey": "$response.body#/downloadKey"
    }
    (key,) = document["paths"]["/mergers/{downloadKey}"]["get"]["parameters"]
    assert key["schema"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    assert document["components"]["securitySchemes"]["UserSig"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The caller's UserSig",
    }
    assert document["security"] == [{"UserSig": []}]


def test_a_preflight_from_an_allowed_origin_is_answered_and_its_calls_carry_the_headers(
    merger_api: ModuleType,
) -> None:
    preflight = _with(request("OPTIONS", "/mergers", identifier=None), origin=ORIGIN)
    answer = merger_api.lambda_handler(preflight, CONTEXT)
    assert answer["statusCode"] == 204
    headers = answer["headers"]
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    template_table("MergerTable", "api-errors-merger-meta")
    boto3.client("s3").create_bucket(Bucket="api-errors-mergers")
    status, _, headers = call(merger_api, _with(request("POST", "/mergers", json.dumps(UPLOAD)), origin=ORIGIN))
    assert (status, headers["Access-Control-Allow-Origin"]) == (201, ORIGIN)
    # A refusal too: the page can read why.
    status, _, headers = call(merger_api, _with(request("GET", NO_KEY), origin=ORIGIN))
    assert (status, headers["Access-Control-Allow-Origin"]) == (404, ORIGIN)


def test_another_origin_gets_no_cors_headers(merger_api: ModuleType) -> None:
    status, _, headers = call(merger_api, _with(request("GET", NO_KEY), origin="https://evil.example"))
    assert status == 404 and not any(name.startswith("Access-Control-") for name in headers)


def test_without_origins_there_is_no_cors(aws: pytest.MonkeyPatch) -> None:  # noqa: F811
    with load_handler("merger_api", "no_cors_merger_api_app") as module:
        answer = module.lambda_handler(_with(request("OPTIONS", "/mergers", identifier=None), origin=ORIGIN), CONTEXT)
        status, _, headers = call(module, _with(request("GET", NO_KEY), origin=ORIGIN))
    assert answer["statusCode"] == 404
    assert status == 404 and not any(name.startswith("Access-Control-") for name in headers)
