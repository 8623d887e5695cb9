"""POST /tim/callback: every Tencent IM callback command arrives here.

Thin by design: the event becomes a call to :class:`timkit.callback.CallbackService` and its
result the HTTP response; logging context and metrics are added around it. Everything below is
built at import time, which SnapStart captures in the snapshot; nothing here holds a connection
or a secret across a snapshot (AWS clients connect and fetch lazily, on first use).
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.callback import CallbackService
from timkit.config import CallbackSettings
from timkit.models.callbacks import ANSWER_MODELS, REQUEST_MODELS

logger = Logger()
metrics = Metrics()
settings = CallbackSettings.from_env()
service = CallbackService.from_settings(settings, logger)

# Build every validator now rather than on the first callback: with SnapStart this work is in
# the snapshot, and without it the cost is the same, just paid before the first request.
for _model in (*REQUEST_MODELS.values(), *ANSWER_MODELS.values()):
    _model.model_rebuild(force=True)

METRIC_NAMES = {
    "allowed": "CallbackAllowed",
    "rewritten": "CallbackRewritten",
    "rejected": "CallbackRejected",
    "discarded": "CallbackDiscarded",
    "failed_policy": "CallbackFailedPolicy",
    "auth_rejected": "CallbackAuthRejected",
    "bad_request": "CallbackBadRequest",
    "queued": "CallbackQueued",
    "unavailable": "CallbackUnavailable",
    "ignored": "CallbackIgnored",
}


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
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    result = service.handle(event.get("queryStringParameters") or {}, body)
    metrics.add_metric(name=METRIC_NAMES[result.outcome], unit=MetricUnit.Count, value=1)
    if service.settings.CALLBACK_AUTH == "disabled":
        # On every callback, so that the alarm on it stays raised for as long as anyone can post here.
        metrics.add_metric(name="CallbackUnauthenticated", unit=MetricUnit.Count, value=1)
    if result.outcome != "allowed":
        logger.info("callback handled", outcome=result.outcome, status=result.status)
    return {"statusCode": result.status, "headers": {"content-type": "application/json"}, "body": result.body}
