"""The history routes of the admin API in-process against moto, as an HttpApi hands requests over
(the path decoded, path parameters given decoded too): pages, one entry, the backfill, the errors
they document and the constraints the OpenAPI document states."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.integration.admin_harness import CONTEXT
from tests.integration.test_history_store import archive, c2c, group, old_layout
from timkit.archive import Archiver
from timkit.models.errors import ErrorBody
from timkit.models.history import BackfillProgress, HistoryEntry, HistoryPage
from timkit.stores.archive import ArchiveStore

BASE = 1_730_000_000
MESSAGES = "/admin/conversations/{conversationId}/messages"
MESSAGE = "/admin/conversations/{conversationId}/messages/{messageId}"


@pytest.fixture(scope="module")
def archiver(api: ModuleType) -> Archiver:
    archiver = Archiver(ArchiveStore("archive"), clock=lambda: BASE + 100)
    for i in range(12):
        archive(archiver, c2c("al:ice", "bob", i + 1, 7, BASE + i, f"c2c {i}"))
        archive(archiver, group("@TGS#h1", 100 + i, BASE + i, f"group {i}"))
    return archiver


def call(
    api: ModuleType,
    method: str,
    template: str,
    params: dict[str, str] | None = None,
    query: dict[str, Any] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """As an HttpApi calls the function: rawPath decoded, pathParameters decoded, the route's key."""
    params = params or {}
    path = template.format(**params)
    query = {k: str(v) for k, v in (query or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {template}",
        "rawPath": path,
        "rawQueryString": urlencode(query, quote_via=quote),
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if params:
        event["pathParameters"] = params
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = json.dumps(body)
    answer = api.lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def test_a_conversation_pages_newest_first_through_next_tokens(api: ModuleType, archiver: Archiver) -> None:
    seen, token = [], None
    while True:
        status, body = call(
            api,
            "GET",
            MESSAGES,
            {"conversationId": "c2c:bob:al%3Aice"},
            {"pageSize": 5, **({"nextToken": token} if token else {})},
        )
        assert status == 200, body
        page = HistoryPage.model_validate(body)
        assert page.conversation == "c2c:al%3Aice:bob"
        seen += [(e.time, e.sender, e.body[0].MsgContent.Text) for e in page.entries]
        if (token := body.get("nextToken")) is None:
            break
    assert seen == [(BASE + i, "al:ice", f"c2c {i}") for i in reversed(range(12))]


def test_one_message_by_id(api: ModuleType, archiver: Archiver) -> None:
    status, body = call(api, "GET", MESSAGE, {"conversationId": "group:@TGS#h1", "messageId": "group:@TGS#h1:103"})
    assert status == 200, body
    entry = HistoryEntry.model_validate(body)
    assert (entry.seq, entry.time, entry.kind) == (103, BASE + 3, "message")
    assert body["body"] == [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "group 3"}}]
    status, body = call(api, "GET", MESSAGE, {"conversationId": "group:@TGS#other", "messageId": "group:@TGS#h1:103"})
    assert (status, ErrorBody.model_validate(body).field) == (404, "messageId")


def test_a_time_range_and_its_bounds(api: ModuleType, archiver: Archiver) -> None:
    status, body = call(
        api, "GET", MESSAGES, {"conversationId": "group:@TGS#h1"}, {"startTime": BASE + 2, "endTime": BASE + 4}
    )
    assert status == 200
    assert [e["seq"] for e in body["entries"]] == [104, 103, 102]
    assert "nextToken" not in body


def test_a_range_that_ends_before_it_starts_has_nothing_in_it(api: ModuleType, archiver: Archiver) -> None:
    # Each bound is valid alone, and the document can state no rule between two parameters: not a 422.
    status, body = call(
        api, "GET", MESSAGES, {"conversationId": "group:@TGS#h1"}, {"startTime": BASE + 4, "endTime": BASE + 2}
    )
    assert (status, body["entries"], "nextToken" in body) == (200, [], False)


@pytest.mark.parametrize(
    ("params", "query", "status", "field"),
    [
        ({"conversationId": "dm:a:b"}, {}, 422, "path.conversationId"),
        ({"conversationId": "c2c:alice"}, {}, 422, "path.conversationId"),
        ({"conversationId": "group:" + "g" * 200}, {}, 422, "path.conversationId"),
        ({"conversationId": "group:g"}, {"pageSize": 0}, 422, "query.pageSize"),
        ({"conversationId": "group:g"}, {"pageSize": 101}, 422, "query.pageSize"),
        ({"conversationId": "group:g"}, {"pageSize": "ten"}, 422, "query.pageSize"),
        ({"conversationId": "group:g"}, {"startTime": -1}, 422, "query.startTime"),
        ({"conversationId": "group:g"}, {"endTime": "[1]"}, 422, "query.endTime"),
        ({"conversationId": "group:g"}, {"nextToken": "not-a-token"}, 422, "query.nextToken"),
        ({"conversationId": "group:g"}, {"nextToken": "bm90LWEtdG9rZW4="}, 404, "nextToken"),
        ({"conversationId": "group:g"}, {"nextToken": "x" * 2049}, 422, "query.nextToken"),
    ],
)
def test_bad_requests_name_the_problem(
    api: ModuleType, params: dict[str, str], query: dict[str, Any], status: int, field: str
) -> None:
    got, body = call(api, "GET", MESSAGES, params, query)
    assert got == status, body
    assert ErrorBody.model_validate(body).field == field


def test_a_token_from_another_conversation_is_no_page_of_this_one(api: ModuleType, archiver: Archiver) -> None:
    _, body = call(api, "GET", MESSAGES, {"conversationId": "group:@TGS#h1"}, {"pageSize": 2})
    status, refused = call(
        api, "GET", MESSAGES, {"conversationId": "c2c:al%3Aice:bob"}, {"pageSize": 2, "nextToken": body["nextToken"]}
    )
    assert (status, refused) == (
        404,
        {"message": "nextToken is not one this API gave", "field": "nextToken", "limit": None, "errors": []},
    )


@pytest.mark.parametrize("message_id", ["msg:1", "x"])
def test_a_message_id_of_no_known_form_is_a_422(api: ModuleType, message_id: str) -> None:
    status, body = call(api, "GET", MESSAGE, {"conversationId": "group:g", "messageId": message_id})
    assert (status, ErrorBody.model_validate(body).field) == (422, "path.messageId")


def test_the_backfill_goes_on_until_done(api: ModuleType, archiver: Archiver) -> None:
    old_layout(ArchiveStore("archive"), [group("@TGS#old", seq, BASE + seq) for seq in range(3)])
    status, body = call(api, "POST", "/admin/archive/backfill", body={})
    assert status == 200, body
    progress = BackfillProgress.model_validate(body)
    assert (progress.updated, progress.done) == (3, True) and "nextToken" not in body
    _, page = call(api, "GET", MESSAGES, {"conversationId": "group:@TGS#old"})
    assert [e["seq"] for e in page["entries"]] == [2, 1, 0]
    status, body = call(api, "POST", "/admin/archive/backfill", body={"nextToken": "!!"})
    assert (status, body["field"]) == (422, "body.nextToken")
    status, body = call(api, "POST", "/admin/archive/backfill", body={"nextToken": "bm90LWEtdG9rZW4="})
    assert (status, body["field"]) == (404, "nextToken")
    status, body = call(api, "POST", "/admin/archive/backfill", body={"nextToken": 5})
    assert (status, body["field"]) == (422, "body.nextToken")


def test_the_document_states_the_constraints(api: ModuleType) -> None:
    document = json.loads(api.app.get_openapi_json_schema())
    listing = document["paths"]["/admin/conversations/{conversationId}/messages"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert parameters["conversationId"]["schema"]["maxLength"] == 200
    assert parameters["conversationId"]["schema"]["pattern"].startswith("^(?:c2c:")
    assert (parameters["pageSize"]["schema"]["minimum"], parameters["pageSize"]["schema"]["maximum"]) == (1, 100)
    assert parameters["startTime"]["schema"]["anyOf"][0]["minimum"] == 0
    assert {"200", "400", "404", "422"} <= set(listing["responses"])
    one = document["paths"]["/admin/conversations/{conversationId}/messages/{messageId}"]["get"]
    assert {p["name"] for p in one["parameters"]} == {"conversationId", "messageId"}
    assert "/admin/archive/backfill" in document["paths"]


def test_a_message_with_mergers_nested_as_deep_as_tencent_allows_is_served(api: ModuleType) -> None:
    # Tencent nests mergers 100 levels deep (docs/protocol.md §7.4): deeper than pydantic-core's JSON encoder goes.
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "innermost"}}]
    for _ in range(100):
        body = [
            {
                "MsgType": "TIMRelayElem",
                "MsgContent": {"Title": "t", "MsgNum": 1, "MsgList": [{"From_Account": "a", "MsgBody": body}]},
            }
        ]
    archive(Archiver(ArchiveStore("archive"), clock=lambda: BASE), dict(group("@TGS#deep", 1, BASE), MsgBody=body))
    status, page = call(api, "GET", MESSAGES, {"conversationId": "group:@TGS#deep"})
    assert status == 200, page
    assert page["entries"][0]["body"] == body
