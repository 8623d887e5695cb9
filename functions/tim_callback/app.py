"""POST /tim/callback: every Tencent IM callback command arrives here.

Thin by design: the event becomes a call to :class:`timkit.callback.CallbackService` and its
result the HTTP response; logging context and metrics are added around it. Everything below is
built at import time, which SnapStart captures in the snapshot; nothing here holds a connection
or a secret across a snapshot (AWS clients connect and fetch lazily, on first use).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.callback import CallbackService
from timkit.config import CallbackSettings
from timkit.metrics import BEFORE_SEND_DURATION, CALLBACK_OUTCOMES, CALLBACK_UNAUTHENTICATED
from timkit.models.callbacks import ANSWER_MODELS, BEFORE_SEND_COMMANDS, REQUEST_MODELS

logger = Logger()
metrics = Metrics()
settings = CallbackSettings.from_env()


def count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


service = CallbackService.from_settings(settings, logger, count)

# Build every validator now rather than on the first callback: with SnapStart this work is in
# the snapshot, and without it the cost is the same, just paid before the first request.
for _model in (*REQUEST_MODELS.values(), *ANSWER_MODELS.values()):
    _model.model_rebuild(force=True)


def _warn_if_unauthenticated() -> None:
    if settings.CALLBACK_AUTH == "disabled":
        logger.warning("callback authentication is DISABLED (CALLBACK_AUTH=disabled): anyone can call this URL")


_warn_if_unauthenticated()

try:  # SnapStart: a restored snapshot is a cold start too, so say it again there.
    from snapshot_restore_py import register_after_restore

    register_after_restore(_warn_if_unauthenticated)
except ImportError:
    pass


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    # The correlation id is the gateway's request id (the access log's requestId) until the message
    # is known, then its identity (timkit.callback), which the event processor and the chatbot worker
    # log it under. Set here rather than by correlation_id_path: its JMESPath search costs ~10 µs.
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    query = event.get("queryStringParameters") or {}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    result = service.handle(query, body)
    count(CALLBACK_OUTCOMES[result.outcome])
    if query.get("CallbackCommand") in BEFORE_SEND_COMMANDS:
        # The part of Tencent's 2 s this function spends (a cold start's init is Lambda's InitDuration).
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name=BEFORE_SEND_DURATION, unit=MetricUnit.Milliseconds, value=elapsed_ms)
    if service.settings.CALLBACK_AUTH == "disabled":
        # On every callback, so that the alarm on it stays raised for as long as anyone can post here.
        count(CALLBACK_UNAUTHENTICATED)
    if result.outcome != "allowed":
        logger.info("callback handled", outcome=result.outcome, status=result.status)
    return {"statusCode": result.status, "headers": {"content-type": "application/json"}, "body": result.body}
