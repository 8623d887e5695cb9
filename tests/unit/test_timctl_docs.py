"""`timctl docs`: the Swagger UI from the API's own document, and the UI's calls forwarded to the API
signed with SigV4; the fake API upstream recomputes each signature over what arrived."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.unit import test_timctl
from tests.unit.test_timctl import DROP, REMOTE, FakeApi, verify_sigv4
from timctl.__main__ import main
from timctl.client import AdminClient
from timctl.docs import DocsServer

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "timkit admin API", "version": "1"},
    "servers": [{"url": "/"}],
    "paths": {"/admin/robots": {"get": {"responses": {"200": {"description": "OK"}}}}},
}

# test_timctl's fixtures: the fake admin API, a clean environment, a remote-looking API, AWS credentials.
api = test_timctl.api
aws_credentials = test_timctl.aws_credentials
environment = test_timctl.environment
remote = test_timctl.remote


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    """The browser: straight to 127.0.0.1 (HTTP_PROXY is the remote API's way to the fake one)."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture
def docs(api: FakeApi, remote: str, aws_credentials: None) -> Iterator[DocsServer]:
    client = AdminClient(REMOTE + "/admin")
    server = DocsServer(client)
    server.start()
    yield server
    server.stop()
    client.close()


def test_the_page_shows_the_apis_document_with_this_proxy_as_server(
    api: FakeApi, docs: DocsServer, browser: requests.Session
) -> None:
    api.answer(200, DOCUMENT)
    api.answer(200, DOCUMENT)
    page = browser.get(docs.url)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle(" in page.text  # the bundled UI, inline: nothing from a CDN
    assert "<script src=" not in page.text
    inline = re.search(r"\n\s*spec: (.*),\n\s*presets:", page.text, re.S)
    assert inline
    spec = json.loads(inline.group(1))
    assert spec["paths"] == DOCUMENT["paths"]
    assert spec["servers"] == [{"url": docs.url.rstrip("/")}]

    api.answer(200, DOCUMENT)
    for url in (docs.url + "openapi.json", docs.url + "?format=json"):
        document = browser.get(url).json()
        assert document["servers"] == [{"url": docs.url.rstrip("/")}]
    # Each fetched from the API, signed.
    assert [r.path for r in api.requests] == ["/admin/openapi.json"] * 3
    for request in api.requests:
        verify_sigv4(request, "eu-west-1")


def test_calls_are_forwarded_signed_with_their_body_and_key(
    api: FakeApi, docs: DocsServer, browser: requests.Session
) -> None:
    api.answer(201, {"robotId": "@RBT#docs"})
    body = json.dumps({"robotId": "@RBT#docs", "nick": "Dócs"}, ensure_ascii=False).encode()
    answer = browser.post(
        docs.url + "admin/robots",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": "key-1",
            "Cookie": "session=browser-only",
            "Origin": "http://127.0.0.1",
            "Authorization": "Bearer from-the-page",
        },
    )
    assert (answer.status_code, answer.json()) == (201, {"robotId": "@RBT#docs"})
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/admin/robots")
    assert request.body == body
    assert request.headers["Idempotency-Key"] == "key-1"
    assert request.headers["Host"] == urlsplit(REMOTE).netloc
    assert "Cookie" not in request.headers and "Origin" not in request.headers
    verify_sigv4(request, "eu-west-1")  # the page's own Authorization was replaced by the signature
    assert "idempotency-key" in request.headers["Authorization"]


def test_a_query_is_forwarded_signed(api: FakeApi, docs: DocsServer, browser: requests.Session) -> None:
    api.answer(200, {"jobs": []})
    assert browser.get(docs.url + "admin/broadcasts?limit=5&nextToken=a%20b%2Bc").status_code == 200
    (request,) = api.requests
    assert request.query == {"limit": ["5"], "nextToken": ["a b+c"]}
    verify_sigv4(request, "eu-west-1")


def test_the_apis_errors_reach_the_page_as_they_are(api: FakeApi, docs: DocsServer, browser: requests.Session) -> None:
    error = {"message": "robotId: must start with @RBT#", "field": "robotId"}
    api.answer(422, error)
    api.answer(404, {"message": "no robot"})
    answer = browser.post(docs.url + "admin/robots", json={"robotId": "x"})
    assert (answer.status_code, answer.json()) == (422, error)
    answer = browser.delete(docs.url + "admin/robots/%40RBT%23none")
    assert answer.status_code == 404
    assert api.requests[-1].path == "/admin/robots/%40RBT%23none"
    verify_sigv4(api.requests[-1], "eu-west-1")


def test_only_the_printed_url_on_its_own_host_is_served(
    api: FakeApi, docs: DocsServer, browser: requests.Session
) -> None:
    host = urlsplit(docs.url).netloc
    # Another page's script cannot know the random path...
    assert browser.get(f"http://{host}/admin/robots").status_code == 404
    assert browser.post(f"http://{host}/admin/robots", json={}).status_code == 404
    # ...nor reach it through a name it made resolve to 127.0.0.1.
    assert browser.get(docs.url + "admin/robots", headers={"Host": "rebound.example:80"}).status_code == 403
    # And the proxy forwards the admin routes only.
    assert browser.get(docs.url + "tim/callback").status_code == 404
    assert api.requests == []


def test_an_unreachable_api_is_a_502_with_the_reason(api: FakeApi, docs: DocsServer, browser: requests.Session) -> None:
    api.answer(0, DROP)
    answer = browser.get(docs.url + "admin/robots")
    assert answer.status_code == 502
    assert "could not reach http://abc123.execute-api.eu-west-1.amazonaws.com" in answer.json()["message"]


def test_a_loopback_api_is_not_signed(api: FakeApi, browser: requests.Session, aws_credentials: None) -> None:
    server = DocsServer(AdminClient(api.url))
    server.start()
    try:
        api.answer(200, {"robots": []})
        assert browser.get(server.url + "admin/robots").json() == {"robots": []}
    finally:
        server.stop()
    assert "Authorization" not in api.requests[0].headers


def test_docs_stops_before_serving_when_the_document_cannot_be_read(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer(403, {"message": "Forbidden"})
    assert main(["--api", api.url, "docs"]) == 2
    assert "HTTP 403: Forbidden" in capsys.readouterr().err
    api.answer(200, {"not": "a document"})
    assert main(["--api", api.url, "docs"]) == 3
    assert "/admin/openapi.json is not an OpenAPI document" in capsys.readouterr().err
