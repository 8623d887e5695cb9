"""The /admin/threads routes in-process (moto and the Tencent IM emulator, the handler as an HttpApi
calls it): the constraints the OpenAPI document states, ids of any characters reaching the thread
client, and how the thread API's refusals answer."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.integration.admin_harness import CONTEXT, call

GROUP = "group:@TGS#thread-routes"


def test_the_document_states_the_thread_constraints(api: ModuleType) -> None:
    document = json.loads(api.app.get_openapi_json_schema())
    paths = document["paths"]
    assert {p for p in paths if p.startswith("/admin/threads")} == {
        "/admin/threads",
        "/admin/threads/{threadId}",
        "/admin/threads/{threadId}/topic",
        "/admin/threads/{threadId}/messages",
        "/admin/threads/{threadId}/messages/{messageId}",
        "/admin/threads/{threadId}/readReceipts",
        "/admin/threads/{threadId}/participants",
        "/admin/threads/{threadId}/participants/{userId}",
        "/admin/threads/{threadId}/typing",
    }
    for path, method in [("/admin/threads", "post"), ("/admin/threads/{threadId}/messages", "post")]:
        assert any(p["name"] == "idempotency-key" for p in paths[path][method]["parameters"])
    schemas = document["components"]["schemas"]
    create = schemas["ThreadCreateRequest"]["properties"]
    assert create["topic"]["maxLength"] == 30
    assert (create["participants"]["minItems"], create["participants"]["maxItems"]) == (1, 300)
    message = schemas["ThreadMessageRequest"]["properties"]
    assert message["type"]["pattern"] and message["content"]["maxLength"] == 12 * 1024
    metadata = message["metadata"]["anyOf"][0]
    assert metadata["maxProperties"] == 32 and metadata["additionalProperties"]["maxLength"] == 1024


@pytest.mark.parametrize("thread", ["group:a#b", "group:a?b", "group:😀", "group:a%253Ab"])
def test_a_thread_id_of_any_characters_reaches_the_thread_client(api: ModuleType, thread: str) -> None:
    status, body = call(api, "GET", f"/admin/threads/{quote(thread, safe=':%')}")
    assert (status, body["field"]) == (404, "threadId"), body


# The long ids were found by the contract run: Tencent's limits were checked only when a request
# model was built, after the route had started (a 500).
@pytest.mark.parametrize(
    "thread",
    [
        "nothing",
        "group:",
        "c2c:alice",
        "topic:g:t",
        "c2c:a:b:c",
        "c2c:alice:alice",
        "c2c:alice:" + "x" * 33,
        "group:" + "g" * 49,
    ],
)
def test_a_thread_id_of_another_shape_is_a_422_naming_it(api: ModuleType, thread: str) -> None:
    status, body = call(api, "GET", f"/admin/threads/{thread}")
    assert (status, body["field"]) == (422, "threadId"), body


def test_what_tencent_does_not_offer_is_a_422_naming_the_operation(api: ModuleType) -> None:
    status, body = call(api, "POST", f"/admin/threads/{GROUP}/typing", b'{"sender": "alice"}')
    assert (status, body["field"]) == (422, "send_typing_notification")
    assert "not offered by Tencent IM" in body["message"]
    status, body = call(api, "PUT", "/admin/threads/c2c:alice:bob/topic", b'{"topic": "x"}')
    assert (status, body["field"]) == (422, "update_topic")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/threads/c2c:ghost:alice/messages", None),
        ("POST", "/admin/threads/c2c:ghost:alice/messages", b'{"content": "hi", "sender": "alice"}'),
        ("GET", "/admin/threads/group:@TGS#no-such-group/participants", None),
    ],
)
def test_a_user_or_group_tencent_does_not_know_is_a_404_not_a_tencent_failure(
    api: ModuleType,
    method: str,
    path: str,
    body: bytes | None,
) -> None:
    # Found by the contract run: Tencent's "does not exist" answers were 502s, as if Tencent had failed.
    status, answer = call(api, method, path, body)
    assert status == 404, answer
    assert "does not exist" in answer["message"] or answer["field"] == "threadId", answer


def test_a_bad_body_or_token_names_the_field(api: ModuleType) -> None:
    status, body = call(api, "POST", "/admin/threads", b'{"topic": "' + b"x" * 31 + b'", "participants": ["alice"]}')
    assert (status, body["field"]) == (422, "body.topic")
    status, body = call(api, "POST", "/admin/threads", b'{"topic": "t", "participants": ["a", "a"]}')
    assert (status, body["field"]) == (422, "body.participants")
    status, body = call(
        api,
        "POST",
        "/admin/threads/c2c:alice:bob/messages",
        b'{"content": "x", "sender": "alice", "type": "not a type"}',
    )
    assert (status, body["field"]) == (422, "body.type")
    status, body = call(
        api,
        "POST",
        "/admin/threads/c2c:alice:bob/messages",
        b'{"content": "x", "sender": "alice", "metadata": {"k": 1}}',
    )
    assert (status, body["field"]) == (422, "body.metadata.k")
    for path in ("/admin/threads", "/admin/threads/c2c:alice:bob/participants", "/admin/threads/c2c:a:b/messages"):
        # Of the documented form (padded base64url) but not one this API gave: no such page.
        status, body = get(api, path, nextToken="bm90LWEtdG9rZW4=")
        assert (status, body["field"]) == (404, "nextToken"), path
        # Not of the documented form: refused as the document says.
        status, body = get(api, path, nextToken="bm90LWEtdG9rZW4")
        assert (status, body["field"]) == (422, "query.nextToken"), path


def get(handler: ModuleType, path: str, **query: str) -> tuple[int, Any]:
    """A GET with a query string, as an HttpApi hands it over."""
    event = {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query),
        "queryStringParameters": query,
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    answer = handler.lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def test_an_empty_idempotency_key_is_no_key(api: ModuleType) -> None:
    # As the Idempotency-Key middleware takes it: two different requests with it are two requests.
    for topic in ("first", "second"):
        body = json.dumps({"topic": topic, "participants": ["alice"]}).encode()
        status, created = call(api, "POST", "/admin/threads", body, headers={"idempotency-key": ""})
        assert (status, created["chatThread"]["topic"]) == (201, topic)
