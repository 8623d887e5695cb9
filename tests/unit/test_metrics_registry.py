"""timkit.metrics is what the code publishes: every metric is named through it (never a literal at
the call), each of its names is published somewhere, its tables cover every outcome they map, and a
function's metrics are the ones PUBLISHED lists for it. The dashboard and alarms are checked
against it (tests/infra/test_observability.py)."""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import pytest

import timkit.metrics
from tests.handlers import lambda_context, load_handler
from tests.unit.conftest import APP_ID, CALLBACK_SETTINGS, payload
from timkit.archive import Written
from timkit.callback import Outcome
from timkit.chatbot.turn import FailureCause
from timkit.chatbot.turn import Outcome as TurnOutcome
from timkit.metrics import (
    ARCHIVE_RESULTS,
    BEFORE_SEND_DURATION,
    CALLBACK_OUTCOMES,
    CHATBOT_FAILURES,
    CHATBOT_OUTCOMES,
    POLICY_LOAD_FAILED,
    PUBLISHED,
)
from timkit.models.callbacks import REQUEST_MODELS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "functions").glob("*/app.py"), *(ROOT / "layers/timkit/timkit").rglob("*.py")])
# The calls that publish a metric by name, and where the name goes.
PUBLISHING = {"add_metric", "single_metric", "count", "_count"}


def publishing_calls(tree: ast.AST) -> Iterator[tuple[ast.Call, ast.expr]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in PUBLISHING:
                named = [k.value for k in node.keywords if k.arg == "name"] or node.args[:1]
                yield from ((node, name) for name in named)


def test_every_metric_is_named_through_the_registry() -> None:
    literal = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path in SOURCES
        for call, name in publishing_calls(ast.parse(path.read_text()))
        if isinstance(name, ast.Constant | ast.JoinedStr) and path.name != "metrics.py"
    ]
    assert literal == [], "name these metrics in timkit/metrics.py"


def test_every_name_in_the_registry_is_used_by_the_code() -> None:
    registry = Path(timkit.metrics.__file__).resolve()
    used = {
        alias.name
        for path in SOURCES
        if path.resolve() != registry
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "timkit.metrics"
        for alias in node.names
    }
    names = {name for name in vars(timkit.metrics) if name.isupper()}
    # PUBLISHED is read by the tests and the template's checks; COLD_START is Powertools' own name.
    assert names - used == {"PUBLISHED", "COLD_START"}


def test_every_function_has_its_list_of_metrics() -> None:
    assert set(PUBLISHED) == {path.parent.name for path in (ROOT / "functions").glob("*/app.py")}


@pytest.mark.parametrize(
    ("table", "outcomes"),
    [
        (CALLBACK_OUTCOMES, Outcome),
        (ARCHIVE_RESULTS, Written),
        (CHATBOT_OUTCOMES, TurnOutcome),
        (CHATBOT_FAILURES, FailureCause),
    ],
    ids=["callback", "archive", "chatbot", "chatbot-failures"],
)
def test_each_table_names_every_outcome_it_maps(table: dict[str, str], outcomes: Any) -> None:
    # A new outcome without a metric would be a KeyError in the function that counts it.
    assert set(table) == set(get_args(outcomes))
    assert len(set(table.values())) == len(table)


# --- what a function really publishes ---------------------------------------------------------


def emf(out: str) -> list[dict[str, Any]]:
    return [doc for line in out.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


def published_names(out: str) -> set[str]:
    return {m["Name"] for doc in emf(out) for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


_services = itertools.count()


@contextmanager
def callback_handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    policy = tmp_path / "policy.json"
    policy.write_text('{"blocked_words": "not a list"}')
    for name, value in CALLBACK_SETTINGS.items():
        monkeypatch.setenv(name, str(value))
    # Loaded in the test, under a service of its own: Powertools' Logger keeps writing to the stdout
    # it was made with (capsys gives each test phase another).
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"tim-callback-{next(_services)}")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("CALLBACK_AUTH", "disabled")
    monkeypatch.setenv("CALLBACK_AUTH_DISABLED_ACK", "anyone-can-post-callbacks")
    monkeypatch.setenv("POLICY_SOURCE", f"file:{policy}")
    with load_handler("tim_callback", "unit_metrics_tim_callback_app") as module:
        yield module


def test_the_callback_publishes_a_policy_that_fails_to_load_and_its_before_send_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = "C2C.CallbackBeforeSendMsg"
    event = {
        "queryStringParameters": {"SdkAppid": str(APP_ID), "CallbackCommand": command},
        "requestContext": {"requestId": "gateway-request-1"},
        "body": json.dumps(payload(command)),
    }
    with callback_handler(monkeypatch, tmp_path) as callback:
        answer = callback.lambda_handler(event, lambda_context("tim_callback"))
    assert answer["statusCode"] == 200
    out = capsys.readouterr().out
    names = published_names(out)
    # No policy ever loaded: the failure policy answered, and both are counted.
    assert {POLICY_LOAD_FAILED, CALLBACK_OUTCOMES["failed_policy"], BEFORE_SEND_DURATION} <= names
    assert names <= PUBLISHED["tim_callback"]
    (durations,) = [doc[BEFORE_SEND_DURATION] for doc in emf(out) if BEFORE_SEND_DURATION in doc]
    assert len(durations) == 1 and durations[0] >= 0
    # Logged as an error, under the message's identity (the policy is read once the body is parsed).
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"level"' in line]
    (failure,) = [r for r in lines if r["message"].startswith("policy document could not be loaded")]
    assert failure["level"] == "ERROR"
    assert failure["correlation_id"] == REQUEST_MODELS[command].model_validate(payload(command)).identity


def test_the_callback_logs_under_the_gateway_request_id_until_the_message_is_known(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {
        "queryStringParameters": {"SdkAppid": "not-a-number", "CallbackCommand": "C2C.CallbackBeforeSendMsg"},
        "requestContext": {"requestId": "gateway-request-2"},
        "body": "{}",
    }
    with callback_handler(monkeypatch, tmp_path) as callback:
        assert callback.lambda_handler(event, lambda_context("tim_callback"))["statusCode"] == 400
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"level"' in line]
    (handled,) = [r for r in lines if r["message"] == "callback handled"]
    assert handled["correlation_id"] == "gateway-request-2"
