"""The admin API's handler in-process, as an HttpApi hands it a request: its constants and
:func:`call`. The fixtures that load it (``emulator``, ``api``, ``faultless``) are in conftest.py."""

from __future__ import annotations

import base64
import json
from types import ModuleType, SimpleNamespace
from typing import Any

APP = 1400000001
KEY = "admin-api-test-key-0123456789abcdef0123456789abcdef"
BOT = "@RBT#assistant"
BOT_STATE = "bot-state"

CONTEXT = SimpleNamespace(
    function_name="tim-admin-api",
    memory_limit_in_mb=256,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-admin-api",
    get_remaining_time_in_millis=lambda: 29_000,  # what the Idempotency-Key's record is kept against
)


def call(
    api: ModuleType,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """As an HttpApi hands a request over: the path decoded, a body that is not text base64-encoded."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": content_type, **(headers or {})},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    answer = api.lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None
