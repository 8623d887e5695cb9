"""`timctl history` against the scripted API of test_timctl: what it asks for and the chat log it prints."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_timctl import FakeApi, api, environment, run  # noqa: F401 - fixtures

T0 = 1_766_570_400  # 2025-12-24 10:00:00 UTC


def text(value: str) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}]


PAGE = {
    "conversation": "group:@TGS#a",
    "entries": [
        {
            "id": "system:1",
            "conversation": "group:@TGS#a",
            "kind": "system",
            "sender": "leckie",
            "time": T0 + 30,
            "body": [],
            "system": {"type": "participants_added", "operator": "leckie", "participants": ["jo", "al"], "changes": {}},
        },
        {
            "id": "group:@TGS#a:3",
            "conversation": "group:@TGS#a",
            "kind": "message",
            "sender": "bob",
            "time": T0 + 20,
            "seq": 3,
            "body": [
                *text("see"),
                {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u"}},
                {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "Chat", "MsgNum": 2}},
                {"MsgType": "TIMNewElem", "MsgContent": {}},
            ],
            "editedAt": T0 + 25,
            "deletedAt": T0 + 40,
            "deletedBy": "admin",
        },
        {
            "id": "group:@TGS#a:2",
            "conversation": "group:@TGS#a",
            "kind": "message",
            "sender": "alice",
            "time": T0,
            "seq": 2,
            "body": text("hello"),
        },
    ],
    "nextToken": "tok+/=",
    "readMarks": {},
}


def test_history_prints_a_chat_log_oldest_first(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    api.answer(200, PAGE)
    assert (
        run(api, "history", "group:@TGS#a", "--limit", "3", "--since", "2025-12-24T10:00:00Z", "--until", str(T0 + 60))
        == 0
    )
    (request,) = api.requests
    assert request.path == "/admin/conversations/group%3A%40TGS%23a/messages"
    assert request.query == {"pageSize": ["3"], "startTime": [str(T0)], "endTime": [str(T0 + 60)]}
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "2025-12-24 10:00:00  alice: hello",
        "2025-12-24 10:00:20  bob: see [image] [merged 'Chat', 2 messages] [TIMNewElem]  "
        "(edited 2025-12-24 10:00:25; deleted by admin 2025-12-24 10:00:40)",
        "2025-12-24 10:00:30  -- leckie added jo, al",
    ]
    assert captured.err == "older: timctl history 'group:@TGS#a' --next-token tok+/=\n"


def test_history_all_follows_every_token_and_shows_read_marks(
    api: FakeApi,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = {
        "conversation": "c2c:a:b",
        "entries": [{"id": "c2c:2", "conversation": "c2c:a:b", "sender": "b", "time": T0 + 1, "body": text("two")}],
        "nextToken": "n1",
        "readMarks": {"a": T0 + 1},
    }
    second = {
        "conversation": "c2c:a:b",
        "entries": [{"id": "c2c:1", "conversation": "c2c:a:b", "sender": "a", "time": T0, "body": text("one")}],
        "readMarks": {"a": T0 + 1},
    }
    api.answer(200, first)
    api.answer(200, second)
    assert run(api, "history", "c2c:b:a", "--all") == 0
    assert [r.query.get("nextToken") for r in api.requests] == [None, ["n1"]]
    assert capsys.readouterr().out.splitlines() == [
        "2025-12-24 10:00:00  a: one",
        "2025-12-24 10:00:01  b: two",
        "read: a up to 2025-12-24 10:00:01",
    ]


def test_history_of_a_bad_time_or_limit_is_a_usage_error(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert run(api, "history", "group:g", "--since", "yesterday") == 2
    assert "--since yesterday" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(api, "history", "group:g", "--limit", "500")
    assert api.requests == []


def test_backfill_loops_until_done(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    api.answer(
        200,
        {"scanned": 200, "updated": 150, "unreadable": 1, "unreadableIds": ["c2c:x"], "nextToken": "t1", "done": False},
    )
    api.answer(200, {"scanned": 20, "updated": 20, "unreadable": 0, "unreadableIds": [], "done": True})
    assert run(api, "--idempotency-key", "k", "history", "backfill") == 1
    assert [(r.method, r.path, r.json) for r in api.requests] == [
        ("POST", "/admin/archive/backfill", {}),
        ("POST", "/admin/archive/backfill", {"nextToken": "t1"}),
    ]
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["k-1", "k-2"]
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "backfill done: 170 messages put into history, 1 unreadable",
        "unreadable: c2c:x",
    ]
    assert captured.err.splitlines()[-1] == "backfill: 220 scanned, 170 updated, 1 unreadable"
