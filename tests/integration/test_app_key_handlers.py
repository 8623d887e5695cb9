"""The app's key in the functions, in-process against moto's Secrets Manager (read through
Powertools as in Lambda): a key nobody set is a 503 naming the setting on the merger API (through
its authorizer) and on the admin API, with nothing sent to Tencent; a rotated key is used, and the
old one refused, once the cache time has passed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest

from local.tim_emulator import Identity, Settings, TimEmulator, codes
from tests.handlers import SCHEDULER, load_handler
from tests.moto_env import offline_aws, template_table
from tests.unit.conftest import FakeClock, json_log_lines
from timkit.stores.appkey import METRIC, AppKeyStore
from timkit.tim.usersig import gen_usersig

APP = 1400000001
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
NEW_KEY = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"
NOT_SET = ["", "REPLACE_ME", "too-short-to-be-a-key"]
CONTEXT = SimpleNamespace(
    function_name="test",
    memory_limit_in_mb=256,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test",
)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The TIM_SECRET_ID secret in moto, empty as the template creates it; the functions' settings."""
    with offline_aws(monkeypatch):
        arn = boto3.client("secretsmanager").create_secret(Name="timkit-key", SecretString='{"secret_key": ""}')["ARN"]
        for name, value in {
            "TIM_SDKAPPID": str(APP),
            "TIM_SECRET_ID": arn,
            "POWERTOOLS_SERVICE_NAME": "tim-test",
            "MERGER_BUCKET": "mergers",
            "MERGER_TABLE": "mergers",
            "RATE_TABLE": "rates",
        }.items():
            monkeypatch.setenv(name, value)
        yield arn


def set_key(arn: str, key: str) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=json.dumps({"secret_key": key}))


def metrics(out: str) -> list[dict[str, Any]]:
    """The KeyNotConfigured metrics (EMF lines) in captured stdout."""
    return [r for r in json_log_lines(out) if METRIC in r and "_aws" in r]


def not_configured_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # From the log records: a handler module loaded again reuses its service's logger, whose
    # stream is the first test's stdout.
    return [r for r in caplog.records if r.levelno == logging.WARNING and "is not configured" in r.getMessage()]


def authorize(authorizer: ModuleType, token: str) -> dict[str, Any]:
    return authorizer.lambda_handler({"identitySource": [f"Bearer {token}"]}, CONTEXT)


def merger_call(api: ModuleType, verdict: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """GET /mergers/k as the HttpApi hands it over after the authorizer's verdict."""
    event = {
        "version": "2.0",
        "routeKey": "GET /mergers/{downloadKey}",
        "rawPath": "/mergers/k",
        "rawQueryString": "",
        "headers": {"authorization": "Bearer sig"},
        "requestContext": {
            "http": {"method": "GET", "path": "/mergers/k", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "authorizer": {"lambda": verdict["context"]},
            "requestId": "r",
            "stage": "$default",
        },
        "pathParameters": {"downloadKey": "k"},
        "isBase64Encoded": False,
    }
    answer = api.lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"])


# ----------------------------------------------------------------------------- merger API


@pytest.mark.parametrize("key", NOT_SET)
def test_merger_api_is_503_naming_the_setting_for_every_caller(secret: str, capsys, caplog, key: str) -> None:
    set_key(secret, key)
    # A sig made with the very key in the secret is refused too: it is a key anyone could know.
    forged = gen_usersig(APP, key, "alice", 3600) if key else "anything"
    with (
        load_handler("merger_authorizer", "keys_authorizer") as authorizer,
        load_handler("merger_api", "keys_merger_api") as api,
    ):
        for token in (forged, gen_usersig(APP, KEY, "bob", 3600), "not-a-sig"):
            verdict = authorize(authorizer, token)
            assert verdict["isAuthorized"] and "identifier" not in verdict["context"], verdict
            status, body = merger_call(api, verdict)
            assert status == 503, body
            assert "secret_key" in body["message"] and "TIM_SECRET_ID" in body["message"]
    # Said once, for the one read the cache time allows (three callers).
    assert len(metrics(capsys.readouterr().out)) == 1
    assert len(not_configured_warnings(caplog)) == 1


def test_authorizer_takes_a_rotated_key_after_the_cache_time(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_key(secret, KEY)
    clock = FakeClock()
    with load_handler("merger_authorizer", "keys_rotation_authorizer") as authorizer:
        # The module's own store, on a clock the test moves.
        monkeypatch.setattr(authorizer, "keys", AppKeyStore(secret, 60, authorizer.logger, clock=clock))
        old, new = gen_usersig(APP, KEY, "alice", 3600), gen_usersig(APP, NEW_KEY, "alice", 3600)
        assert authorize(authorizer, old)["context"] == {"identifier": "alice"}
        set_key(secret, NEW_KEY)
        clock.now += 59
        assert authorize(authorizer, old)["context"] == {"identifier": "alice"}  # within the cache time
        clock.now += 2
        assert authorize(authorizer, new)["context"] == {"identifier": "alice"}
        assert authorize(authorizer, old) == {"isAuthorized": False}


# ----------------------------------------------------------------------------- admin API


@pytest.fixture
def emulator() -> Iterator[TimEmulator]:
    with TimEmulator(Identity(APP, KEY), Settings(), port=0) as running:
        yield running


@pytest.fixture
def admin(secret: str, emulator: TimEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    # No cache: every request reads the secret, so a change is seen at once.
    for name, value in {
        "CONFIG_CACHE_SECONDS": "0",
        "TIM_API_BASE": emulator.url,
        "RATE_TABLE": "rates",
        "JOBS_TABLE": "jobs",
        "BROADCAST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/b",
        "IDEMPOTENCY_TABLE": "idempotency",
        "BOT_STATE_TABLE": "bots",
        "ARCHIVE_TABLE": "archive",
        **SCHEDULER,
    }.items():
        monkeypatch.setenv(name, value)
    template_table("RateTable", "rates")
    with load_handler("admin_api", "keys_admin_api") as module:
        yield module


def list_robots(admin: ModuleType) -> tuple[int, dict[str, Any]]:
    event = {
        "version": "2.0",
        "routeKey": "GET /admin/robots",
        "rawPath": "/admin/robots",
        "rawQueryString": "",
        "headers": {},
        "isBase64Encoded": False,
        "requestContext": {
            "http": {"method": "GET", "path": "/admin/robots", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r",
            "stage": "$default",
        },
    }
    answer = admin.lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.mark.parametrize("key", NOT_SET)
def test_admin_api_is_503_naming_the_setting_and_tencent_is_not_called(
    secret: str, admin: ModuleType, emulator: TimEmulator, capsys, caplog, key: str
) -> None:
    set_key(secret, key)
    status, body = list_robots(admin)
    assert status == 503, body
    assert "secret_key" in body["message"] and "TIM_SECRET_ID" in body["message"]
    assert emulator.service.read("calls") == []
    assert len(metrics(capsys.readouterr().out)) == 1
    assert len(not_configured_warnings(caplog)) == 1


def test_admin_api_uses_the_key_set_or_rotated_in_the_secret(secret: str, admin: ModuleType) -> None:
    assert list_robots(admin)[0] == 503
    set_key(secret, KEY)
    assert list_robots(admin)[0] == 200
    # Rotated to a key Tencent (the emulator) does not know: the new key is the one used.
    set_key(secret, NEW_KEY)
    status, body = list_robots(admin)
    assert (status, body["message"].split(":")[0]) == (502, f"Tencent IM answered {codes.SIG_WRONG_KEY}"), body
