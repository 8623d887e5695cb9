"""timctl against a scripted local HTTP server: what each command sends (method, path, body,
headers), how it prints the answers, SigV4 for a remote API, the retry with the same
Idempotency-Key, exit codes and error messages, watching a broadcast, signed callbacks."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import local.config
import timctl.client
from local.http import LocalHTTPHandler, LocalHTTPServer
from timctl import callback
from timctl.__main__ import main
from timkit.models.callbacks import REQUEST_MODELS
from timkit.tim.callback_auth import sign_matches

ROBOT = "@RBT#helper"
DROP = "drop the connection"
KEY_ID, SECRET, SESSION_TOKEN = "AKIDTIMCTLTEST", "timctl-test-secret", "timctl-test-session-token"
REMOTE = "http://abc123.execute-api.eu-west-1.amazonaws.com"


@dataclass
class Request:
    method: str
    target: str  # as sent: origin-form, or absolute-form through a proxy
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeApi:
    """Answers queued answers in order, (200, {}) when none is left; records every request."""

    url: str
    answers: list[tuple[int, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def answer(self, status: int, body: Any = None) -> None:
        self.answers.append((status, body))


@pytest.fixture
def api() -> Iterator[FakeApi]:
    lock = threading.Lock()

    class Handler(LocalHTTPHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                fake.requests.append(Request(self.command, self.path, dict(self.headers.items()), body))
                status, answer = fake.answers.pop(0) if fake.answers else (200, {})
            if answer == DROP:
                self.close_connection = True  # no answer at all: the client sees the connection end
                return
            data = (answer if isinstance(answer, bytes) else json.dumps(answer).encode()) if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

    server = LocalHTTPServer("127.0.0.1", 0, Handler, "fake-admin-api", poll_interval=0.05)
    fake = FakeApi(server.url)
    server.start()
    yield fake
    server.stop()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS configuration, proxy or timctl setting leaks in; retries do not wait."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    for name in ("TIMCTL_API", "TIM_CALLBACK_TOKEN", "TIM_SDKAPPID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(timctl.client, "RETRY_DELAY_S", 0)


def run(api: FakeApi, *argv: str) -> int:
    return main(["--api", api.url, *argv])


def job(
    state: str = "sending", total: int = 3, sent: int = 0, failed: int = 0, cancelled: int = 0, **extra: Any
) -> dict[str, Any]:
    codes = {"10007": failed} if failed else {}
    return {
        "jobId": "job1",
        "state": state,
        "createdAt": "2026-11-21T10:00:00Z",
        "allGroups": False,
        "progress": {
            "total": total,
            "sent": sent,
            "failed": failed,
            "cancelled": cancelled,
            "pending": total - sent - failed - cancelled,
            "failedCodes": codes,
        },
        "runs": [],
        "groups": [],
        **extra,
    }


def is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


# ----------------------------------------------------------------------------- friends


def test_friends_add_posts_the_users_and_prints_a_summary_with_the_failures(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("carol\n\n  dave  \nalice\n")
    api.answer(
        200,
        {
            "botId": ROBOT,
            "added": 2,
            "already": 1,
            "failed": 1,
            "results": [
                {"userId": "alice", "result": "added", "code": 0},
                {"userId": "bob", "result": "already", "code": 0},
                {"userId": "carol", "result": "added", "code": 0},
                {"userId": "dave", "result": "failed", "code": 30001},
            ],
        },
    )

    assert run(api, "friends", "add", ROBOT, "alice", "bob", "--users-file", str(users)) == 1

    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/admin/bots/%40RBT%23helper/friends")
    assert request.json == {"userIds": ["alice", "bob", "carol", "dave"]}  # blank lines and repeats dropped
    assert request.headers["Content-Type"] == "application/json"
    assert is_uuid(request.headers["Idempotency-Key"])
    out = capsys.readouterr().out
    assert "@RBT#helper: 2 added, 1 already friends, 1 failed" in out
    assert re.search(r"dave\s+code 30001", out)
    assert "carol" not in out


def test_friends_add_exits_0_when_none_failed(api: FakeApi) -> None:
    api.answer(
        200,
        {"botId": ROBOT, "added": 1, "already": 0, "failed": 0, "results": [{"userId": "alice", "result": "added"}]},
    )
    assert run(api, "friends", "add", ROBOT, "alice") == 0


def test_friends_add_splits_a_long_list_one_key_per_request(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("timkit.models.admin.MAX_BOT_FRIENDS_PER_REQUEST", 2)
    for users in (["a", "b"], ["c"]):
        api.answer(
            200,
            {
                "botId": ROBOT,
                "added": len(users),
                "already": 0,
                "failed": 0,
                "results": [{"userId": u, "result": "added"} for u in users],
            },
        )

    assert run(api, "--idempotency-key", "batch-7", "--json", "friends", "add", ROBOT, "a", "b", "c") == 0

    assert [r.json["userIds"] for r in api.requests] == [["a", "b"], ["c"]]
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["batch-7-1", "batch-7-2"]
    merged = json.loads(capsys.readouterr().out)
    assert (merged["added"], [r["userId"] for r in merged["results"]]) == (3, ["a", "b", "c"])


def test_friends_add_needs_users(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(api, "friends", "add", ROBOT) == 2
    assert "give the user IDs" in capsys.readouterr().err
    assert api.requests == []


# ----------------------------------------------------------------------------- robots


def test_robots_create(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(201, {"robotId": ROBOT})
    assert run(api, "robots", "create", ROBOT, "--nick", "Helper", "--face-url", "https://example.com/h.png") == 0
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/admin/robots")
    assert request.json == {"robotId": ROBOT, "nick": "Helper", "faceUrl": "https://example.com/h.png"}
    assert is_uuid(request.headers["Idempotency-Key"])
    assert capsys.readouterr().out == "created @RBT#helper\n"


def test_robots_list_takes_global_options_after_the_command(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, {"robots": ["@RBT#a", "@RBT#b"]})
    assert main(["robots", "list", "--api", api.url]) == 0
    (request,) = api.requests
    assert (request.method, request.path, request.body) == ("GET", "/admin/robots", b"")
    assert "Idempotency-Key" not in request.headers
    assert capsys.readouterr().out == "@RBT#a\n@RBT#b\n"

    api.answer(200, {"robots": ["@RBT#a"]})
    assert main(["robots", "list", "--api", api.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"robots": ["@RBT#a"]}


def test_robots_delete_encodes_the_robot_id(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(204)
    assert run(api, "robots", "delete", "@RBT#a/b c") == 0
    (request,) = api.requests
    assert (request.method, request.target) == ("DELETE", "/admin/robots/%40RBT%23a%2Fb%20c")
    assert "Idempotency-Key" not in request.headers
    assert capsys.readouterr().out == "deleted @RBT#a/b c\n"


# ----------------------------------------------------------------------------- bots config

CONFIG_PATH = "/admin/bots/%40RBT%23helper/config"
STORED = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "baseUrl": "https://api.openai.com/v1",
    "apiKey": "openai",
    "systemPrompt": "Be brief.",
    "temperature": 0.2,
    "maxTokens": 1024,
    "contextTurns": 10,
    "maxAnswerSeconds": 120,
    "streamingMode": "custom",
}


def test_bots_config_set_puts_the_options_and_prints_the_stored_config(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer(200, STORED)
    assert (
        run(
            api,
            "bots",
            "config",
            "set",
            ROBOT,
            "--provider",
            "openai",
            "--model",
            "gpt-4o-mini",
            "--base-url",
            "https://api.openai.com/v1",
            "--api-key",
            "openai",
            "--system-prompt",
            "Be brief.",
            "--temperature",
            "0.2",
            "--max-tokens",
            "1024",
            "--context-turns",
            "10",
            "--max-answer-seconds",
            "120",
            "--streaming-mode",
            "custom",
            "--typing-text",
            "thinking",
        )
        == 0
    )
    (request,) = api.requests
    assert (request.method, request.path) == ("PUT", CONFIG_PATH)
    assert request.json == {**STORED, "typingText": "thinking"}
    assert request.headers["Content-Type"] == "application/json"
    assert is_uuid(request.headers["Idempotency-Key"])
    out = capsys.readouterr().out
    assert out.startswith("@RBT#helper:\n")
    assert re.search(r"^\s+provider:\s+openai$", out, re.M) and re.search(r"^\s+temperature:\s+0.2$", out, re.M)


def test_bots_config_set_replaces_only_what_is_given_with_update(api: FakeApi) -> None:
    api.answer(200, STORED)
    api.answer(200, STORED)
    assert run(api, "bots", "config", "set", ROBOT, "--update", "--temperature", "1") == 0
    get, put = api.requests
    assert (get.method, get.path, put.method, put.path) == ("GET", CONFIG_PATH, "PUT", CONFIG_PATH)
    assert put.json == {**STORED, "temperature": 1.0}


def test_bots_config_set_switching_to_bedrock_drops_the_openai_settings(api: FakeApi) -> None:
    api.answer(200, STORED)
    assert (
        run(
            api, "bots", "config", "set", ROBOT, "--update", "--provider", "bedrock", "--model", "amazon.nova-lite-v1:0"
        )
        == 0
    )
    put = api.requests[1]
    assert (put.json["provider"], put.json["model"]) == ("bedrock", "amazon.nova-lite-v1:0")
    assert "baseUrl" not in put.json and "apiKey" not in put.json
    assert put.json["systemPrompt"] == "Be brief."


def test_bots_config_set_from_files(api: FakeApi, tmp_path: Path) -> None:
    config, prompt = tmp_path / "bot.json", tmp_path / "prompt.txt"
    config.write_text(json.dumps({"provider": "bedrock", "model": "m", "contextTurns": 3}))
    prompt.write_text("You are helpful.\nAnswer in French.\n")
    assert (
        run(
            api,
            "bots",
            "config",
            "set",
            ROBOT,
            "--file",
            str(config),
            "--system-prompt-file",
            str(prompt),
            "--context-turns",
            "4",
        )
        == 0
    )
    assert api.requests[0].json == {
        "provider": "bedrock",
        "model": "m",
        "contextTurns": 4,
        "systemPrompt": "You are helpful.\nAnswer in French.\n",
    }


@pytest.mark.parametrize("content", ["[1, 2]", "not json"])
def test_bots_config_set_refuses_a_file_that_is_no_config(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    config = tmp_path / "bot.json"
    config.write_text(content)
    assert run(api, "bots", "config", "set", ROBOT, "--file", str(config)) == 2
    assert str(config) in capsys.readouterr().err
    assert api.requests == []


def test_bots_config_set_needs_a_configuration(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(api, "bots", "config", "set", ROBOT) == 2
    assert "--provider and --model" in capsys.readouterr().err
    assert api.requests == []


def test_bots_config_set_shows_the_field_a_422_names(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(
        422, {"message": "body.temperature: Input should be less than or equal to 2", "field": "body.temperature"}
    )
    assert run(api, "bots", "config", "set", ROBOT, "--provider", "bedrock", "--model", "m", "--temperature", "3") == 2
    assert "HTTP 422: body.temperature: Input should be less than or equal to 2" in capsys.readouterr().err


def test_bots_config_set_is_retried_once_after_a_5xx_with_the_same_key(api: FakeApi) -> None:
    api.answer(503, {"message": "Tencent IM did not answer (timeout); try again"})
    api.answer(200, STORED)
    assert (
        run(api, "--idempotency-key", "cfg-1", "bots", "config", "set", ROBOT, "--provider", "bedrock", "--model", "m")
        == 0
    )
    assert [(r.method, r.headers["Idempotency-Key"]) for r in api.requests] == [("PUT", "cfg-1"), ("PUT", "cfg-1")]


def test_bots_config_get_and_delete(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, {**STORED, "systemPrompt": "line one\nline two"})
    assert run(api, "--json", "bots", "config", "get", ROBOT) == 0
    assert json.loads(capsys.readouterr().out)["systemPrompt"] == "line one\nline two"
    api.answer(200, {**STORED, "systemPrompt": "line one\nline two"})
    assert run(api, "bots", "config", "get", ROBOT) == 0
    assert re.search(r"systemPrompt:\s+line one… \(17 characters\)$", capsys.readouterr().out, re.M)
    api.answer(204)
    assert run(api, "bots", "config", "delete", ROBOT) == 0
    assert capsys.readouterr().out == "deleted the configuration of @RBT#helper\n"
    assert [(r.method, r.path) for r in api.requests] == [("GET", CONFIG_PATH)] * 2 + [("DELETE", CONFIG_PATH)]
    assert all("Idempotency-Key" not in r.headers for r in api.requests)


def test_bots_config_get_of_a_bot_without_one_exits_2(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(404, {"message": "@RBT#helper has no configuration", "field": "botId"})
    assert run(api, "bots", "config", "get", ROBOT) == 2
    assert "HTTP 404: @RBT#helper has no configuration" in capsys.readouterr().err


# ----------------------------------------------------------------------------- send


def test_send_to_a_user_with_every_option(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(
        200,
        {
            "sent": 1,
            "failed": 0,
            "results": [{"recipient": "bob", "result": "sent", "code": 0, "info": "", "msgKey": "1_2_3"}],
        },
    )
    argv = [
        "send",
        "--to-user",
        "bob",
        "--text",
        "hi",
        "--from",
        ROBOT,
        "--priority",
        "High",
        "--online-only",
        "--no-unread",
        "--no-last-message",
        "--cloud-custom-data",
        '{"k":1}',
    ]
    assert run(api, *argv) == 0
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/admin/messages")
    assert request.json == {
        "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
        "from": ROBOT,
        "options": {
            "onlineOnly": True,
            "noUnread": True,
            "noLastMessage": True,
            "priority": "High",
            "cloudCustomData": '{"k":1}',
        },
        "toUser": "bob",
    }
    out = capsys.readouterr().out
    assert re.search(r"sent\s+bob\s+msgKey 1_2_3", out)
    assert "1 sent, 0 failed" in out


def test_send_to_users_prints_each_result_and_exits_1_on_a_failure(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = [{"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "smile"}}]
    (tmp_path / "body.json").write_text(json.dumps(body))
    api.answer(
        200,
        {
            "sent": 1,
            "failed": 1,
            "results": [
                {"recipient": "bob", "result": "sent", "msgKey": "k1"},
                {"recipient": "carol", "result": "failed", "code": 20003, "info": "invalid To_Account"},
            ],
        },
    )
    assert run(api, "send", "--to-users", "bob", "carol", "bob", "--body-file", str(tmp_path / "body.json")) == 1
    assert api.requests[0].json == {"msgBody": body, "toUsers": ["bob", "carol"]}
    out = capsys.readouterr().out
    assert re.search(r"failed\s+carol\s+code 20003 invalid To_Account", out)
    assert "1 sent, 1 failed" in out


def test_send_to_a_group_from_a_request_file(api: FakeApi, tmp_path: Path) -> None:
    request = {
        "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "@all hi"}}],
        "groupAtInfo": [{"GroupAtAllFlag": 1}],
        "options": {"offlinePush": {"pushFlag": 0}},
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    api.answer(200, {"sent": 1, "failed": 0, "results": [{"recipient": "@TGS#1", "result": "sent", "msgSeq": 9}]})
    assert run(api, "send", "--to-group", "@TGS#1", "--body-file", str(tmp_path / "request.json"), "--no-unread") == 0
    assert api.requests[0].json == {
        **request,
        "options": {"offlinePush": {"pushFlag": 0}, "noUnread": True},
        "toGroup": "@TGS#1",
    }


def test_send_reads_the_body_from_stdin(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "from a pipe"}}]
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(body)))
    api.answer(200, {"sent": 1, "failed": 0, "results": [{"recipient": "bob", "result": "sent", "msgKey": "k"}]})
    assert run(api, "send", "--to-user", "bob", "--body-file", "-") == 0
    assert api.requests[0].json == {"msgBody": body, "toUser": "bob"}


def test_send_refuses_an_unreadable_body_file(api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    assert run(api, "send", "--to-user", "bob", "--body-file", str(tmp_path / "bad.json")) == 2
    assert "bad.json is not JSON" in capsys.readouterr().err
    assert run(api, "send", "--to-user", "bob", "--body-file", str(tmp_path / "missing.json")) == 2
    assert "cannot read" in capsys.readouterr().err
    assert api.requests == []


def test_send_needs_exactly_one_recipient_kind(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(api, "send", "--to-user", "bob", "--to-group", "g", "--text", "hi")
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# ----------------------------------------------------------------------------- broadcasts


def test_broadcast_create_on_a_cron_schedule(api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "groups.txt").write_text("@TGS#1\n@TGS#2\n\n@TGS#1\n")
    api.answer(
        202,
        job(
            "scheduled",
            total=2,
            schedule={"cron": "cron(0 9 * * ? *)", "timezone": "Asia/Shanghai"},
            nextRun="2026-11-22T01:00:00Z",
        ),
    )
    argv = [
        "broadcast",
        "create",
        "--groups-file",
        str(tmp_path / "groups.txt"),
        "--text",
        "daily news",
        "--priority",
        "Low",
        "--cron",
        "cron(0 9 * * ? *)",
        "--timezone",
        "Asia/Shanghai",
    ]
    assert run(api, *argv) == 0
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/admin/broadcasts")
    assert request.json == {
        "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "daily news"}}],
        "options": {"priority": "Low"},
        "groupIds": ["@TGS#1", "@TGS#2"],
        "schedule": {"cron": "cron(0 9 * * ? *)", "timezone": "Asia/Shanghai"},
    }
    assert is_uuid(request.headers["Idempotency-Key"])
    assert capsys.readouterr().out == "broadcast job1 scheduled: next run 2026-11-22T01:00:00Z\n"


def test_broadcast_create_to_all_groups_at_a_time(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(202, job("scheduled", total=0, allGroups=True))
    argv = [
        "broadcast",
        "create",
        "--all-groups",
        "--text",
        "hi",
        "--from",
        ROBOT,
        "--online-only",
        "--at",
        "2026-12-24T18:00:00+08:00",
    ]
    assert run(api, *argv) == 0
    assert api.requests[0].json == {
        "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
        "from": ROBOT,
        "options": {"onlineOnly": True},
        "allGroups": True,
        "schedule": {"at": "2026-12-24T18:00:00+08:00"},
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timezone", "UTC"], "--timezone goes with --at or --cron"),
        (["--cron", "cron(0 9 * * ? *)", "--watch"], "--watch follows one run"),
    ],
)
def test_broadcast_create_refuses_option_mixes(
    api: FakeApi, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(api, "broadcast", "create", "--groups", "g", "--text", "hi", *extra)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert api.requests == []


def test_broadcast_create_and_watch(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(202, job("planning", total=0))
    api.answer(200, job("sending", total=2, sent=1))
    api.answer(200, job("done", total=2, sent=2))
    assert run(api, "broadcast", "create", "--groups", "g1", "g2", "--text", "hi", "--watch", "--interval", "0") == 0
    assert [(r.method, r.path) for r in api.requests] == [("POST", "/admin/broadcasts")] + [
        ("GET", "/admin/broadcasts/job1")
    ] * 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "broadcast job1 accepted: planning, 2 groups",
        "broadcast job1 done: 2 sent, 0 failed, 0 cancelled, 0 pending of 2",
    ]


def test_broadcast_list_pages(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    summary = {k: v for k, v in job("done", total=5, sent=5).items() if k not in ("runs", "groups")}
    api.answer(200, {"jobs": [summary], "nextToken": "a+b/c= d"})
    assert run(api, "broadcast", "list", "--limit", "1", "--next-token", "x y+z") == 0
    (request,) = api.requests
    assert request.path == "/admin/broadcasts"
    assert "x%20y%2Bz" in request.target  # RFC 3986, as SigV4 canonicalizes it
    assert request.query == {"limit": ["1"], "nextToken": ["x y+z"]}
    captured = capsys.readouterr()
    assert re.search(r"^JOB\s+KIND\s+STATE\s+CREATED\s+TARGETS\s+SENT\s+FAILED\s+SCHEDULE$", captured.out, re.M)
    # No trailing blanks:
    assert re.search(r"^job1\s+broadcast\s+done\s+2026-11-21T10:00:00Z\s+5\s+5\s+0$", captured.out, re.M)
    assert captured.err == "more: timctl broadcast list --next-token 'a+b/c= d'\n"


def test_broadcast_get_summary(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, job("sending", total=10, sent=6, failed=2, runs=[]))
    assert run(api, "broadcast", "get", "job1") == 0
    assert api.requests[0].target == "/admin/broadcasts/job1"
    out = capsys.readouterr().out
    assert re.search(r"^progress\s+6 sent, 2 failed, 0 cancelled, 2 pending of 10$", out, re.M)
    assert re.search(r"^failed codes\s+10007 \(2\)$", out, re.M)


def test_broadcast_get_groups_reads_every_page(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    first = [{"groupId": "g1", "state": "sent", "attempts": 1, "msgSeq": 5}]
    second = [{"groupId": "g2", "state": "failed", "attempts": 3, "code": 10007, "info": "no permission"}]
    api.answer(200, job("done", total=2, sent=1, failed=1, groups=first, nextToken="page2"))
    api.answer(200, job("done", total=2, sent=1, failed=1, groups=second))
    assert run(api, "--json", "broadcast", "get", "job1", "--groups") == 0
    assert [r.query for r in api.requests] == [{"limit": ["500"]}, {"limit": ["500"], "nextToken": ["page2"]}]
    answer = json.loads(capsys.readouterr().out)
    assert answer["groups"] == first + second
    assert "nextToken" not in answer

    api.answer(200, job("done", total=2, sent=1, failed=1, groups=first + second))
    assert run(api, "broadcast", "get", "job1", "--groups") == 0
    out = capsys.readouterr().out
    assert re.search(r"^g2\s+failed\s+3\s+10007\s+no permission$", out, re.M)


def test_broadcast_cancel(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, job("cancelled", total=4, sent=1, cancelled=3))
    assert run(api, "broadcast", "cancel", "job1") == 0
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/admin/broadcasts/job1/cancel")
    assert capsys.readouterr().out == "broadcast job1 cancelled: 1 sent, 0 failed, 3 cancelled, 0 pending of 4\n"


# ----------------------------------------------------------------------------- watch


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """The watch's clock: each poll reads the next of ``times`` (seconds)."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_watch_draws_a_progress_bar_on_a_terminal(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("timctl.broadcast.monotonic", Clock(0, 0, 0))  # no time passes: no rate yet
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr("shutil.get_terminal_size", lambda: os.terminal_size((200, 24)))
    api.answer(200, job("planning", total=0))
    api.answer(200, job("sending", total=3, sent=1, failed=1))
    api.answer(200, job("done", total=3, sent=2, failed=1))

    assert run(api, "broadcast", "watch", "job1", "--interval", "0") == 1

    assert [r.target for r in api.requests] == ["/admin/broadcasts/job1?limit=1"] * 3
    frames = terminal.getvalue().split("\r\x1b[K")[1:]
    assert len(frames) == 3
    assert frames[0].startswith("[" + "." * 40 + "] 0/0")
    assert frames[1].startswith("[" + "#" * 13 + "x" * 13 + "." * 14 + "] 2/3  sent 1  failed 1  cancelled 0  sending")
    assert frames[2] == "[" + "#" * 26 + "x" * 14 + "] 3/3  sent 2  failed 1  cancelled 0  done\n"  # all filled
    out = capsys.readouterr().out
    assert "broadcast job1 done: 2 sent, 1 failed, 0 cancelled, 0 pending of 3" in out
    assert "failed codes: 10007 (1) (see: timctl broadcast get job1 --groups)" in out


def test_watch_prints_one_line_per_poll_when_stderr_is_not_a_terminal(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("timctl.broadcast.monotonic", Clock(0, 4, 8))
    api.answer(200, job("scheduled", total=2, nextRun="2026-11-22T01:00:00Z"))
    api.answer(200, job("sending", total=2, sent=1))
    api.answer(200, job("done", total=2, sent=2))
    assert run(api, "broadcast", "watch", "job1", "--interval", "0") == 0
    assert capsys.readouterr().err.splitlines() == [
        "scheduled for 2026-11-22T01:00:00Z 0/2 sent=0 failed=0 cancelled=0 pending=2",
        "sending 1/2 sent=1 failed=0 cancelled=0 pending=1 rate=0.2/s left=4s",
        "done 2/2 sent=2 failed=0 cancelled=0 pending=0",
    ]


def test_watch_shows_the_rate_and_time_left(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("timctl.broadcast.monotonic", Clock(0, 10, 20, 60, 70, 75))
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr("shutil.get_terminal_size", lambda: os.terminal_size((200, 24)))
    for finished in (0, 20, 50, 80, 80):
        api.answer(200, job("sending", total=100, sent=finished))
    api.answer(200, job("done", total=100, sent=100))
    assert run(api, "broadcast", "watch", "job1", "--interval", "0") == 0
    frames = [frame.rstrip("\n") for frame in sys.stderr.getvalue().split("\r\x1b[K")[1:]]
    tails = [frame.split("sending", 1)[1] if "sending" in frame else frame[-4:] for frame in frames]
    assert tails == [
        "",  # one poll: no rate yet
        "  2.0/s  40s left",  # 20 in 10 s, 80 to go
        "  2.5/s  20s left",
        # Over the last 30 s or so only (polls at 20 and 60 s): the rate follows a change.
        "  0.8/s  27s left",
        "  0.6/s  34s left",  # (80 - 50) / (70 - 20)
        "done",
    ]


def test_a_stalled_broadcast_shows_no_time_left(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("timctl.broadcast.monotonic", Clock(0, 5, 10))
    for _ in range(2):
        api.answer(200, job("sending", total=4, sent=1))
    api.answer(200, job("cancelled", total=4, sent=1, cancelled=3))
    assert run(api, "broadcast", "watch", "job1", "--interval", "0") == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].endswith("pending=3 rate=0.0/s")
    assert "rate" not in lines[2]


def test_watch_of_a_cancelled_job_exits_1(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, job("cancelled", total=3, sent=1, cancelled=2))
    assert run(api, "--json", "broadcast", "watch", "job1") == 1
    assert json.loads(capsys.readouterr().out)["state"] == "cancelled"


def test_watch_stops_on_ctrl_c_and_leaves_the_job_running(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("timctl.broadcast.time.sleep", interrupt)
    api.answer(200, job("sending", total=3, sent=1))
    assert run(api, "broadcast", "watch", "job1") == 130
    assert [r.method for r in api.requests] == ["GET"]  # no cancel
    err = capsys.readouterr().err
    assert "stopped watching; broadcast job1 keeps running (stop it: timctl broadcast cancel job1)" in err
    assert "Traceback" not in err


def test_watch_refuses_a_cron_broadcast(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, job("scheduled", schedule={"cron": "cron(0 9 * * ? *)", "timezone": "UTC"}, runs=["run1"]))
    assert run(api, "broadcast", "watch", "job1") == 2
    assert "job1 is a cron broadcast: each run is a job of its own" in capsys.readouterr().err


def test_watch_of_an_unknown_job(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(404, {"message": "no broadcast job nope", "field": "jobId"})
    assert run(api, "broadcast", "watch", "nope") == 2
    assert capsys.readouterr().err == "timctl: error: HTTP 404: no broadcast job nope (field: jobId)\n"


# ----------------------------------------------------------------------------- errors and retries


def test_a_4xx_prints_the_message_and_field_and_exits_2(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(
        422,
        {
            "message": "body.userIds.0: String should match pattern",
            "field": "body.userIds.0",
            "errors": [
                {"field": "body.userIds.0", "message": "String should match pattern"},
                {"field": "body.userIds.1", "message": "too long"},
            ],
        },
    )
    assert run(api, "friends", "add", ROBOT, "bad id", "x" * 200) == 2
    assert len(api.requests) == 1  # a 4xx is not retried
    captured = capsys.readouterr()
    assert captured.err == (
        "timctl: error: HTTP 422: body.userIds.0: String should match pattern\n  body.userIds.1: too long\n"
    )
    assert captured.out == ""


def test_a_403_from_api_gateway_points_at_the_signature(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(403, {"message": "Forbidden"})
    assert run(api, "robots", "list") == 2
    assert "HTTP 403: Forbidden (check --sigv4, --region and your AWS credentials)" in capsys.readouterr().err


def test_a_post_is_retried_once_after_a_5xx_with_the_same_key(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(503, {"message": "Tencent IM did not answer (timeout); try again", "field": "create_robot"})
    api.answer(201, {"robotId": ROBOT})
    assert run(api, "robots", "create", ROBOT) == 0
    first, second = api.requests
    assert first.body == second.body
    assert is_uuid(first.headers["Idempotency-Key"])
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    captured = capsys.readouterr()
    assert "retrying once with the same Idempotency-Key" in captured.err
    assert captured.out == "created @RBT#helper\n"


def test_a_post_is_retried_once_after_a_dropped_connection(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, DROP)
    api.answer(200, {"sent": 1, "failed": 0, "results": [{"recipient": "bob", "result": "sent", "msgKey": "k"}]})
    assert run(api, "--idempotency-key", "my-key", "send", "--to-user", "bob", "--text", "hi") == 0
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["my-key", "my-key"]


def test_a_5xx_twice_exits_3(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(502, {"message": "Tencent IM answered 70107: not found", "field": "account_delete"})
    api.answer(502, {"message": "Tencent IM answered 70107: not found", "field": "account_delete"})
    assert run(api, "robots", "create", ROBOT) == 3
    assert len(api.requests) == 2
    err = capsys.readouterr().err
    assert err.endswith("timctl: error: HTTP 502: Tencent IM answered 70107: not found (field: account_delete)\n")


def test_a_delete_is_not_retried(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(503, {"message": "an AWS call failed (ThrottlingException); try again"})
    assert run(api, "robots", "delete", ROBOT) == 3
    assert [request.method for request in api.requests] == ["DELETE"]


def test_an_unreachable_api_exits_3_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalHTTPServer("127.0.0.1", 0, LocalHTTPHandler, "closed") as closed:
        url = closed.url
    assert main(["--api", url, "robots", "list"]) == 3
    err = capsys.readouterr().err
    assert f"timctl: error: could not reach {url}: " in err
    assert "retrying once" in err
    assert "Traceback" not in err


def test_an_answer_that_is_not_json(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, b"<html>hello</html>")
    assert run(api, "robots", "list") == 3
    assert "but not with JSON: is --api right?" in capsys.readouterr().err


def test_verbose_shows_the_request_and_its_idempotency_key(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(201, {"robotId": ROBOT})
    assert run(api, "-v", "robots", "create", ROBOT) == 0
    key = api.requests[0].headers["Idempotency-Key"]
    assert f"POST {api.url}/admin/robots  Idempotency-Key: {key}" in capsys.readouterr().err


def test_the_api_comes_from_timctl_api(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMCTL_API", api.url)
    api.answer(200, {"robots": []})
    assert main(["robots", "list"]) == 0
    assert len(api.requests) == 1


def test_the_api_must_be_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--api", "127.0.0.1:3000", "robots", "list"])
    assert exit_.value.code == 2
    assert "--api 127.0.0.1:3000: give a URL such as http://127.0.0.1:3000" in capsys.readouterr().err


# ----------------------------------------------------------------------------- SigV4


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)


@pytest.fixture
def remote(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> str:
    """A remote-looking API that the fake server answers for, as an HTTP proxy: the request keeps
    the remote Host, and nothing is looked up in DNS."""
    monkeypatch.setenv("HTTP_PROXY", api.url)
    return REMOTE


def verify_sigv4(request: Request, region: str) -> None:
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/execute-api/aws4_request, "
        r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})",
        request.headers["Authorization"],
    )
    assert match, request.headers["Authorization"]
    assert (match["key"], match["region"]) == (KEY_ID, region)
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date", "x-amz-security-token"} <= set(signed)
    headers = {name.lower(): value for name, value in request.headers.items()}
    # The signature over what arrived, recomputed: the body and URL sent are the ones signed.
    url = urlsplit(request.target)
    check = AWSRequest(
        method=request.method,
        url=f"http://{headers['host']}{url.path}" + (f"?{url.query}" if url.query else ""),
        data=request.body,
        headers={name: headers[name] for name in signed},
    )
    check.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(KEY_ID, SECRET, SESSION_TOKEN), "execute-api", region)
    string_to_sign = signer.string_to_sign(check, signer.canonical_request(check))
    assert signer.signature(string_to_sign, check) == match["signature"]


def test_a_remote_api_is_signed_with_sigv4(api: FakeApi, remote: str, aws_credentials: None) -> None:
    api.answer(201, {"robotId": ROBOT})
    api.answer(200, {"robots": [ROBOT]})
    api.answer(200, {"jobs": []})
    api.answer(204)
    assert main(["--api", remote, "robots", "create", ROBOT, "--nick", "Hélpèr"]) == 0
    assert main(["--api", remote, "robots", "list"]) == 0
    assert main(["--api", remote, "broadcast", "list", "--next-token", "a b+c"]) == 0
    assert main(["--api", remote, "robots", "delete", ROBOT]) == 0
    for request in api.requests:
        assert request.headers["Host"] == "abc123.execute-api.eu-west-1.amazonaws.com"
        assert request.headers["X-Amz-Security-Token"] == SESSION_TOKEN
        verify_sigv4(request, "eu-west-1")  # the region in the API's host name
    assert "idempotency-key" in api.requests[0].headers["Authorization"]  # the POST's key is signed too


def test_region_comes_from_the_option_then_the_session(
    api: FakeApi, remote: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.answer(200, {"robots": []})
    api.answer(200, {"robots": []})
    assert main(["--api", remote, "--region", "ap-southeast-1", "robots", "list"]) == 0
    verify_sigv4(api.requests[-1], "ap-southeast-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert main(["--api", "http://admin.example.test", "robots", "list"]) == 0
    verify_sigv4(api.requests[-1], "us-west-2")


def test_signing_without_a_region_or_credentials_is_a_clear_error(
    api: FakeApi, remote: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--api", remote, "robots", "list"]) == 2
    assert "no AWS credentials found" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert main(["--api", "http://admin.example.test", "robots", "list"]) == 2
    assert "no AWS region to sign the request for: pass --region" in capsys.readouterr().err
    assert api.requests == []


def test_an_unknown_aws_profile_is_a_clear_error(
    remote: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert main(["--api", remote, "robots", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("timctl: error: AWS credentials: ") and "no-such-profile" in err
    assert "Traceback" not in err


def test_a_loopback_api_is_not_signed_unless_asked(api: FakeApi, aws_credentials: None) -> None:
    api.answer(200, {"robots": []})
    assert run(api, "robots", "list") == 0
    assert not {"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} & set(api.requests[0].headers)

    api.answer(201, {"robotId": ROBOT})
    assert run(api, "--sigv4", "--region", "eu-central-1", "robots", "create", ROBOT) == 0
    verify_sigv4(api.requests[1], "eu-central-1")


def test_no_sigv4_leaves_a_remote_api_unsigned(api: FakeApi, remote: str, aws_credentials: None) -> None:
    api.answer(200, {"robots": []})
    assert main(["--api", remote, "--no-sigv4", "robots", "list"]) == 0
    assert "Authorization" not in api.requests[0].headers


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:3000", True),
        ("http://localhost:3000", True),
        ("http://[::1]:3000", True),
        ("http://127.8.0.1", True),
        ("https://abc.execute-api.us-east-1.amazonaws.com", False),
        ("http://10.0.0.5:3000", False),
    ],
)
def test_loopback_hosts(url: str, loopback: bool) -> None:
    assert timctl.client.is_loopback(url) is loopback


# ----------------------------------------------------------------------------- callback sign


def test_callback_sign_prints_a_url_that_verifies_and_hides_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    token = "my-secret-callback-token"
    argv = [
        "--api",
        "https://abc.execute-api.eu-west-1.amazonaws.com/",
        "callback",
        "sign",
        "--token",
        token,
        "--sdkappid",
        "1400123456",
        "--command",
        "Group.CallbackAfterSendMsg",
        "-v",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    url = urlsplit(captured.out.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "abc.execute-api.eu-west-1.amazonaws.com", "/tim/callback")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["SdkAppid"] == "1400123456"
    assert query["CallbackCommand"] == "Group.CallbackAfterSendMsg"
    assert query["contenttype"] == "json"
    assert sign_matches(token, query["RequestTime"], query["Sign"])
    assert not sign_matches("another-token", query["RequestTime"], query["Sign"])
    assert token not in captured.out + captured.err


def test_callback_sign_defaults_to_the_local_stacks_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (callback.DEMO_SDKAPPID, callback.DEMO_CALLBACK_TOKEN) == (
        local.config.DEMO_SDKAPPID,
        local.config.DEMO_CALLBACK_TOKEN,
    )
    assert main(["callback", "sign"]) == 0
    url = urlsplit(capsys.readouterr().out.strip())
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.netloc == "127.0.0.1:3000"
    assert (query["SdkAppid"], query["CallbackCommand"]) == ("1400000001", "C2C.CallbackBeforeSendMsg")
    assert sign_matches(local.config.DEMO_CALLBACK_TOKEN, query["RequestTime"], query["Sign"])

    monkeypatch.setenv("TIM_CALLBACK_TOKEN", "from-the-environment")
    monkeypatch.setenv("TIM_SDKAPPID", "1400999999")
    assert main(["callback", "sign"]) == 0
    query = {k: v[0] for k, v in parse_qs(urlsplit(capsys.readouterr().out.strip()).query).items()}
    assert query["SdkAppid"] == "1400999999"
    assert sign_matches("from-the-environment", query["RequestTime"], query["Sign"])


def test_callback_sign_send_posts_a_signed_sample(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(200, {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    assert (
        run(api, "callback", "sign", "--send", "--command", "Bot.OnC2CMessage", "--text", "ping", "--token", "tok-123")
        == 0
    )
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", "/tim/callback")
    query = {k: v[0] for k, v in request.query.items()}
    assert query["CallbackCommand"] == "Bot.OnC2CMessage"
    assert sign_matches("tok-123", query["RequestTime"], query["Sign"])
    assert "Authorization" not in request.headers and "Idempotency-Key" not in request.headers
    body = REQUEST_MODELS["Bot.OnC2CMessage"].model_validate(request.json)
    assert body.MsgBody[0].MsgContent.Text == "ping"
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert "tok-123" not in captured.out + captured.err


def test_callback_sign_send_takes_the_command_from_the_body(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"CallbackCommand": "C2C.CallbackAfterMsgWithDraw", "From_Account": "a", "To_Account": "b", "MsgKey": "k"}
    (tmp_path / "recall.json").write_text(json.dumps(body))
    assert run(api, "callback", "sign", "--send", "--body-file", str(tmp_path / "recall.json")) == 0
    assert api.requests[0].query["CallbackCommand"] == ["C2C.CallbackAfterMsgWithDraw"]
    assert api.requests[0].json == body

    argv = ["callback", "sign", "--send", "--body-file", str(tmp_path / "recall.json"), "--command", "Bot.OnC2CMessage"]
    assert run(api, *argv) == 2
    assert "--command Bot.OnC2CMessage but the body's CallbackCommand is C2C.CallbackAfterMsgWithDraw" in (
        capsys.readouterr().err
    )
    assert run(api, "callback", "sign", "--send", "--command", "C2C.CallbackAfterMsgWithDraw") == 2
    assert "no sample body for C2C.CallbackAfterMsgWithDraw: give one with --body-file" in capsys.readouterr().err
    assert len(api.requests) == 1


def test_callback_sign_send_reports_a_refusal(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(401, {"message": "Sign does not match"})
    assert run(api, "callback", "sign", "--send", "--token", "wrong") == 2
    assert capsys.readouterr().err == "timctl: error: HTTP 401: Sign does not match\n"


@pytest.mark.parametrize("answer", [b"<html>hello</html>", b""])
def test_callback_sign_send_reports_an_answer_that_is_not_json(
    api: FakeApi, answer: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer(200, answer)
    assert run(api, "callback", "sign", "--send") == 3
    assert f"{api.url}/tim/callback?" in (err := capsys.readouterr().err)
    assert "answered HTTP 200 but not with JSON: is --api right?" in err


def test_callback_sign_send_to_an_unreachable_api_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalHTTPServer("127.0.0.1", 0, LocalHTTPHandler, "closed") as closed:
        url = closed.url
    assert main(["--api", url, "callback", "sign", "--send"]) == 3
    err = capsys.readouterr().err
    assert f"timctl: error: could not reach {url}: " in err and "Traceback" not in err


@pytest.mark.parametrize("command", sorted(c for c in REQUEST_MODELS if "Send" in c or c.startswith("Bot.")))
def test_sample_bodies_are_valid_callbacks(command: str) -> None:
    body = callback.sample_body(command, "hello", 1_730_000_000)
    assert REQUEST_MODELS[command].model_validate(body).CallbackCommand == command


# ----------------------------------------------------------------------------- packaging


def test_the_dev_install_provides_the_timctl_command(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "timctl"
    assert script.exists(), "reinstall: pip install -e '.[dev]'"
    answer = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr
    for command in ("friends", "robots", "send", "broadcast", "callback"):
        assert command in answer.stdout
    both = subprocess.run(
        [sys.executable, "-c", "import timkit, timctl"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert both.returncode == 0, both.stderr


def test_an_unreachable_api_is_described_by_its_innermost_cause() -> None:
    refused = OSError("Connection refused")
    pool = ValueError("pool gave up")
    pool.__cause__ = refused
    outer = requests.ConnectionError("wrapped")
    outer.__context__ = pool
    assert timctl.client.describe(outer) == "Connection refused"
    # A context the raiser suppressed (raise ... from None) is not the cause.
    alone = requests.ConnectionError("the outer one")
    alone.__context__ = OSError("hidden")
    alone.__suppress_context__ = True
    assert timctl.client.describe(alone) == "the outer one"


# ----------------------------------------------------------------------------- message options and schedules


def test_send_to_a_group_with_the_sdk_options_and_offline_push(api: FakeApi, tmp_path: Path) -> None:
    file = tmp_path / "request.json"
    file.write_text(json.dumps({"msgBody": [], "options": {"offlinePush": {"Ext": "{}", "ApnsInfo": {"Sound": "a"}}}}))
    api.answer(200, {"sent": 1, "failed": 0, "results": [{"recipient": "@TGS#1", "result": "sent", "msgSeq": 3}]})
    argv = ["send", "--to-group", "@TGS#1", "--body-file", str(file), "--receiver", "bob", "--receiver", "carol"]
    argv += ["--receiver", "bob", "--need-read-receipt", "--support-extension", "--push-title", "T", "--push-text", "D"]
    argv += ["--ios-no-badge", "--oppo-channel", "o", "--huawei-channel", "h", "--xiaomi-channel", "x"]
    argv += ["--google-channel", "g", "--exclude-from-moderation"]
    assert run(api, *argv) == 0
    (request,) = api.requests
    assert request.json["options"] == {
        "offlinePush": {
            "Ext": "{}",
            "Title": "T",
            "Desc": "D",
            "ApnsInfo": {"Sound": "a", "BadgeMode": 1},
            "AndroidInfo": {
                "HuaWeiChannelID": "h",
                "XiaoMiChannelID": "x",
                "OPPOChannelID": "o",
                "GoogleChannelID": "g",
            },
        },
        "receiverList": ["bob", "carol"],
        "needReadReceipt": True,
        "supportExtension": True,
        "excludedFromContentModeration": True,
    }


def test_send_without_offline_push(api: FakeApi) -> None:
    api.answer(200, {"sent": 1, "failed": 0, "results": []})
    assert run(api, "send", "--to-user", "bob", "--text", "hi", "--no-offline-push") == 0
    assert api.requests[0].json["options"] == {"offlinePush": {"PushFlag": 1}}


def test_send_with_a_schedule_prints_the_job(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(202, {"jobId": "j1", "kind": "message", "state": "scheduled", "nextRun": "2099-01-01T01:00:00Z"})
    argv = ["send", "--to-user", "bob", "--text", "hi", "--at", "2099-01-01T09:00:00", "--timezone", "Asia/Shanghai"]
    assert run(api, *argv) == 0
    assert api.requests[0].json["schedule"] == {"at": "2099-01-01T09:00:00", "timezone": "Asia/Shanghai"}
    assert "message job j1 scheduled: next run 2099-01-01T01:00:00Z" in capsys.readouterr().out


def test_friends_add_with_a_cron_schedule_prints_the_job(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.answer(202, {"jobId": "j2", "kind": "friends", "state": "scheduled", "nextRun": "2099-01-01T10:00:00Z"})
    assert run(api, "friends", "add", ROBOT, "alice", "--cron", "cron(0 10 * * ? *)") == 0
    assert api.requests[0].json == {"userIds": ["alice"], "schedule": {"cron": "cron(0 10 * * ? *)"}}
    assert "friends job j2 scheduled" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["send", "--to-user", "bob", "--text", "x"], ["friends", "add", ROBOT, "alice"]])
def test_a_timezone_without_a_time_is_a_usage_error(api: FakeApi, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(api, *argv, "--timezone", "UTC")
    assert exit_.value.code == 2 and api.requests == []


def test_jobs_list_get_and_cancel_use_the_jobs_routes(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    job = {
        "jobId": "j1",
        "kind": "message",
        "state": "done",
        "createdAt": "2026-11-21T10:00:00Z",
        "allGroups": False,
        "progress": {"total": 1, "sent": 1, "failed": 0, "pending": 0, "cancelled": 0, "failedCodes": {}},
        "result": {"sent": 2, "failed": 1, "results": []},
    }
    api.answer(200, {"jobs": [job]})
    api.answer(200, job)
    api.answer(200, {**job, "state": "cancelled"})
    assert run(api, "jobs", "list") == 0
    assert run(api, "jobs", "get", "j1") == 0
    assert run(api, "jobs", "cancel", "j1") == 0
    assert [(r.method, r.path.split("?")[0]) for r in api.requests] == [
        ("GET", "/admin/jobs"),
        ("GET", "/admin/jobs/j1"),
        ("POST", "/admin/jobs/j1/cancel"),
    ]
    out = capsys.readouterr().out
    assert re.search(r"^j1\s+message\s+done", out, re.M)
    assert re.search(r"^kind\s+message$", out, re.M) and re.search(r"^result\s+2 sent, 1 failed$", out, re.M)
    assert "message j1 cancelled" in out
