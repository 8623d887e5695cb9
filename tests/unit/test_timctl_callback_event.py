"""`timctl callback sign --event FILE`: a sample callback event signed now, printed for `sam local
invoke -e` and `sam remote invoke --event-file` (`make event` runs it). That the signed samples are
answered by the callback function is tests/integration/test_sample_events.py's."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from timctl.__main__ import main
from timctl.callback import DEMO_CALLBACK_TOKEN, DEMO_SDKAPPID
from timkit.tim.callback_auth import sign_matches

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "events/tim_callback/c2c_before_send.json"


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIMCTL_API", "TIM_CALLBACK_TOKEN", "TIM_SDKAPPID"):
        monkeypatch.delenv(name, raising=False)


def signed(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["callback", "sign", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["callback", "sign", *argv]) == 2
    return capsys.readouterr().err


def test_the_event_is_printed_with_its_query_signed_now_and_the_rest_unchanged(capsys) -> None:
    sample = json.loads(SAMPLE.read_text())
    before = int(time.time())
    event = signed(capsys, "--event", str(SAMPLE), "--token", "tok-123", "--sdkappid", "1400000042")
    query = event["queryStringParameters"]
    assert before <= int(query["RequestTime"]) <= int(time.time())
    assert sign_matches("tok-123", query["RequestTime"], query["Sign"])
    assert query["SdkAppid"] == "1400000042"
    # What Tencent would also send is kept; the raw query says the same as the parsed one.
    kept = {k: v for k, v in sample["queryStringParameters"].items() if k not in ("SdkAppid", "RequestTime", "Sign")}
    assert kept.items() <= query.items()
    assert dict(parse_qsl(event["rawQueryString"])) == query
    assert {k: v for k, v in event.items() if k not in ("queryStringParameters", "rawQueryString")} == {
        k: v for k, v in sample.items() if k not in ("queryStringParameters", "rawQueryString")
    }
    assert "tok-123" not in json.dumps(event)


def test_the_token_and_app_come_from_the_environment_then_the_local_demo(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = signed(capsys, "--event", str(SAMPLE))["queryStringParameters"]
    assert sign_matches(DEMO_CALLBACK_TOKEN, query["RequestTime"], query["Sign"])
    assert query["SdkAppid"] == str(DEMO_SDKAPPID)
    monkeypatch.setenv("TIM_CALLBACK_TOKEN", "from-env")
    monkeypatch.setenv("TIM_SDKAPPID", "1400000077")
    query = signed(capsys, "--event", str(SAMPLE))["queryStringParameters"]
    assert sign_matches("from-env", query["RequestTime"], query["Sign"])
    assert query["SdkAppid"] == "1400000077"


def test_the_event_can_come_from_stdin(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SAMPLE.read_text()))
    query = signed(capsys, "--event", "-", "--token", "t")["queryStringParameters"]
    assert sign_matches("t", query["RequestTime"], query["Sign"])


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ([1, 2], "not an API Gateway event"),
        ({"body": "{}"}, "not an API Gateway event"),
        ({"queryStringParameters": "SdkAppid=1", "body": "{}"}, "not an API Gateway event"),
        ({"queryStringParameters": {}, "body": "not json"}, "body is not a JSON callback"),
        ({"queryStringParameters": {}, "body": "{}"}, "which CallbackCommand"),
        (
            {"queryStringParameters": {"CallbackCommand": "C2C.CallbackAfterSendMsg"}, "body": "[1]"},
            "body is not a JSON callback",
        ),
        (
            {
                "queryStringParameters": {"CallbackCommand": "C2C.CallbackAfterSendMsg"},
                "body": json.dumps({"CallbackCommand": "Group.CallbackAfterSendMsg"}),
            },
            "which CallbackCommand",
        ),
        (
            {
                "queryStringParameters": {"CallbackCommand": "C2C.CallbackAfterSendMsg"},
                "body": json.dumps({"CallbackCommand": ["C2C.CallbackAfterSendMsg"]}),
            },
            "which CallbackCommand",
        ),
    ],
)
def test_what_is_not_a_callback_event_is_refused_naming_why(capsys, tmp_path: Path, event: Any, problem: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    assert problem in refused(capsys, "--event", str(path))


def test_a_command_other_than_the_samples_is_refused(capsys) -> None:
    assert "which CallbackCommand" in refused(capsys, "--event", str(SAMPLE), "--command", "Bot.OnC2CMessage")


@pytest.mark.parametrize("other", [["--send"], ["--body-file", "x.json"]])
def test_event_does_not_mix_with_sending(capsys, other: list[str]) -> None:
    assert "--event" in refused(capsys, "--event", str(SAMPLE), *other)
