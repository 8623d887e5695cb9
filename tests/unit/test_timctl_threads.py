"""`timctl threads ...` against a scripted local HTTP server: what each command sends and prints."""

from __future__ import annotations

import pytest

from tests.unit.test_timctl import FakeApi, api, environment, is_uuid, run  # noqa: F401 - the fixtures

THREAD = "group:thr-1"
ROUTE = "/admin/threads/group%3Athr-1"


def test_create_posts_the_topic_and_participants_and_exits_1_on_a_failure(
    api: FakeApi,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    api.answer(
        201,
        {
            "chatThread": {"id": THREAD, "kind": "group"},
            "errors": [{"code": "0", "message": "not added", "target": "nobody"}],
        },
    )
    assert run(api, "threads", "create", "Release", "alice", "nobody") == 1
    (request,) = api.requests
    assert (request.method, request.path, request.json) == (
        "POST",
        "/admin/threads",
        {"topic": "Release", "participants": ["alice", "nobody"]},
    )
    assert is_uuid(request.headers["Idempotency-Key"])
    out = capsys.readouterr().out
    assert out.startswith(f"{THREAD}\n") and "nobody" in out and "code 0" in out


def test_send_encodes_the_thread_and_carries_the_metadata(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    api.answer(201, {"id": f"{THREAD}:7"})
    assert (
        run(
            api,
            "--idempotency-key",
            "k1",
            "threads",
            "send",
            THREAD,
            "--from",
            "alice",
            "hi",
            "--meta",
            "ticket=42",
            "--name",
            "Alice",
        )
        == 0
    )
    (request,) = api.requests
    assert (request.path, request.headers["Idempotency-Key"]) == (f"{ROUTE}/messages", "k1")
    assert request.json == {
        "content": "hi",
        "sender": "alice",
        "type": "text",
        "senderDisplayName": "Alice",
        "metadata": {"ticket": "42"},
    }
    assert capsys.readouterr().out == f"{THREAD}:7\n"
    assert run(api, "threads", "send", THREAD, "--from", "alice", "hi", "--meta", "no-equals") == 2


def test_messages_prints_a_chat_log_oldest_first(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    api.answer(
        200,
        {
            "source": "archive",
            "items": [
                {
                    "id": "m3",
                    "type": "participantAdded",
                    "createdOn": "3",
                    "sender": "admin",
                    "content": {"participants": [{"identifier": "carol"}]},
                },
                {"id": "m2", "type": "text", "createdOn": "2", "sender": "bob", "deleted": True, "content": {}},
                {
                    "id": "m1",
                    "type": "text",
                    "createdOn": "1",
                    "sender": "alice",
                    "senderDisplayName": "Alice",
                    "editedOn": "4",
                    "metadata": {"k": "v"},
                    "content": {"message": "hello"},
                },
            ],
            "nextToken": "t2",
        },
    )
    assert run(api, "threads", "messages", THREAD, "--page-size", "3") == 0
    assert api.requests[0].query == {"pageSize": ["3"]}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "(read from archive)"
    assert [line.split()[1] for line in lines[1:4]] == ["Alice", "bob", "admin"]
    assert 'hello  (edited; {"k": "v"})' in lines[1] and "(deleted)" in lines[2] and "carol" in lines[3]
    assert lines[-1] == "(more: --next-token t2)"


def test_typing_in_a_group_shows_the_apis_refusal(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    api.answer(
        422,
        {"message": "not offered by Tencent IM: send_typing_notification: ...", "field": "send_typing_notification"},
    )
    assert run(api, "threads", "typing", THREAD, "--from", "alice") == 2
    assert "not offered by Tencent IM" in capsys.readouterr().err
