"""A function's handler module loaded by path, for tests that call it in their own process."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace

from timkit.config import (
    AdminApiSettings,
    BroadcastSchedulerSettings,
    BroadcastWorkerSettings,
    CallbackSettings,
    ChatbotWorkerSettings,
    EventProcessorSettings,
    FunctionSettings,
    MergerApiSettings,
    MergerAuthorizerSettings,
    WsApiSettings,
    WsFanoutSettings,
)
from timkit.metrics import NAMESPACE

ROOT = Path(__file__).resolve().parents[1]
# Each function (its folder under functions/) and the settings model its handler validates at cold
# start: the template must set every variable the model requires (tests/infra).
FUNCTION_SETTINGS: dict[str, type[FunctionSettings]] = {
    "tim_callback": CallbackSettings,
    "event_processor": EventProcessorSettings,
    "merger_authorizer": MergerAuthorizerSettings,
    "merger_api": MergerApiSettings,
    "admin_api": AdminApiSettings,
    "broadcast_worker": BroadcastWorkerSettings,
    "broadcast_scheduler": BroadcastSchedulerSettings,
    "chatbot_worker": ChatbotWorkerSettings,
    "ws_api": WsApiSettings,
    "ws_fanout": WsFanoutSettings,
}
# Functions that read no settings of their own: the example event-bus consumer.
WITHOUT_SETTINGS = frozenset({"event_example"})


# The admin API's EventBridge Scheduler settings, for tests that load it.
SCHEDULER = {
    "SCHEDULER_TARGET_ARN": "arn:aws:lambda:us-east-1:123456789012:function:broadcast-scheduler",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/broadcast-scheduler",
}


def lambda_context(function: str, remaining_ms: int = 10_000) -> SimpleNamespace:
    """What Lambda hands a handler as its context, for ``function`` (its folder name); Powertools'
    Logger and Metrics read the name, memory, ARN and request id of it."""
    name = f"timkit-{function}"
    return SimpleNamespace(
        function_name=name,
        memory_limit_in_mb=256,
        aws_request_id=f"{function}-request",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        get_remaining_time_in_millis=lambda: remaining_ms,
    )


def required_settings(model: type[FunctionSettings]) -> list[str]:
    return [name for name, field in model.model_fields.items() if field.is_required()]


@contextmanager
def load_handler(function: str, name: str) -> Iterator[ModuleType]:
    """functions/<function>/app.py imported as module ``name``, and removed from sys.modules on exit.
    Every handler module is called ``app``: a unique name keeps them from colliding in one process.
    It is imported on entry, so its settings and clients come from the environment (and mocks) then."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Powertools Metrics takes its namespace when the module makes it: the one the template's Globals
    # give every function, unless the test set its own.
    default_namespace = "POWERTOOLS_METRICS_NAMESPACE" not in os.environ
    if default_namespace:
        os.environ["POWERTOOLS_METRICS_NAMESPACE"] = NAMESPACE
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        if default_namespace:
            os.environ.pop("POWERTOOLS_METRICS_NAMESPACE", None)
        sys.modules.pop(name, None)
