"""CALLBACK_AUTH=disabled is a choice made twice, and never a quiet one: without the second
setting naming the risk the callback function does not start; with it, every callback counts in
CallbackUnauthenticated (the template alarms on it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import pytest
from pydantic import ValidationError

from tests.handlers import load_handler
from tests.unit.conftest import APP_ID, CALLBACK_SETTINGS, payload
from timkit.config import AUTH_DISABLED_ACK, CallbackSettings, SettingsError
from timkit.models.callbacks import REQUEST_MODELS

CONTEXT = SimpleNamespace(
    function_name="tim-callback",
    memory_limit_in_mb=512,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-callback",
)


@pytest.mark.parametrize("ack", [None, "", "yes", "ANYONE-CAN-POST-CALLBACKS", " anyone-can-post-callbacks"])
def test_disabled_auth_without_the_acknowledgement_refuses_to_start(ack: str | None) -> None:
    env = {**CALLBACK_SETTINGS, "CALLBACK_AUTH": "disabled"}
    if ack is not None:
        env["CALLBACK_AUTH_DISABLED_ACK"] = ack
    with pytest.raises(ValidationError, match="CALLBACK_AUTH_DISABLED_ACK"):
        CallbackSettings.model_validate(env)


def test_acknowledged_disabled_auth_and_required_auth_start() -> None:
    disabled = CallbackSettings.model_validate(
        {**CALLBACK_SETTINGS, "CALLBACK_AUTH": "disabled", "CALLBACK_AUTH_DISABLED_ACK": AUTH_DISABLED_ACK}
    )
    assert disabled.CALLBACK_AUTH == "disabled"
    assert CallbackSettings.model_validate(CALLBACK_SETTINGS).CALLBACK_AUTH == "required"


def test_callback_function_does_not_start_without_the_acknowledgement(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CALLBACK_SETTINGS.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("CALLBACK_AUTH", "disabled")
    monkeypatch.delenv("CALLBACK_AUTH_DISABLED_ACK", raising=False)
    with (
        pytest.raises(SettingsError, match="CALLBACK_AUTH_DISABLED_ACK"),
        load_handler("tim_callback", "unit_unauthenticated_tim_callback_app"),
    ):
        pass


def handler(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[ModuleType]:
    for name, value in CALLBACK_SETTINGS.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tim-callback")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TimKit")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with load_handler("tim_callback", "unit_unauthenticated_tim_callback_app") as module:
        yield module


def invoke(module: ModuleType, query: dict[str, str], command: str = "C2C.CallbackBeforeSendMsg") -> int:
    event = {
        "queryStringParameters": {"CallbackCommand": command, **query},
        "body": json.dumps(payload(command) if command in REQUEST_MODELS else {}),
        "isBase64Encoded": False,
    }
    return module.lambda_handler(event, CONTEXT)["statusCode"]


def unauthenticated_counts(out: str) -> list[int]:
    """CallbackUnauthenticated in each EMF document printed, with its dimensions checked."""
    counts = []
    for line in out.splitlines():
        doc = json.loads(line) if line.startswith("{") else {}
        # The cold-start metric goes in a document of its own, once per process.
        if "_aws" in doc and "ColdStart" not in doc:
            (definition,) = doc["_aws"]["CloudWatchMetrics"]
            assert definition["Namespace"] == "TimKit"
            assert definition["Dimensions"] == [["service"]] and doc["service"] == "tim-callback"
            counts.append(sum(doc.get("CallbackUnauthenticated", [])))
    return counts


def test_every_callback_counts_while_auth_is_disabled(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for module in handler(monkeypatch, CALLBACK_AUTH="disabled", CALLBACK_AUTH_DISABLED_ACK=AUTH_DISABLED_ACK):
        capsys.readouterr()
        # Answered, refused (another app), a bad query and an unknown command: each one counts.
        assert invoke(module, {"SdkAppid": str(APP_ID)}) == 200
        assert invoke(module, {"SdkAppid": "1400000002"}) == 403
        assert invoke(module, {"SdkAppid": "x"}) == 400
        assert invoke(module, {"SdkAppid": str(APP_ID)}, command="Sns.CallbackFriendAdd") == 200
        assert unauthenticated_counts(capsys.readouterr().out) == [1, 1, 1, 1]


def test_nothing_counts_while_auth_is_required(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for module in handler(monkeypatch):
        capsys.readouterr()
        assert invoke(module, {"SdkAppid": str(APP_ID)}) == 401
        assert unauthenticated_counts(capsys.readouterr().out) == [0]
