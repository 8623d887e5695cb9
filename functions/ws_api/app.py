"""The WebSocket API's routes: $connect (a UserSig as ?token=), $disconnect and $default (frames).

$connect answers 200 to admit the connection, or the status API Gateway refuses the handshake
with (401 a bad or missing UserSig, 429 too many connections, 503 while the app's key or AWS is
not available); nothing is written for a refused one. Every frame's answer is the route's response
(the ack frame, timkit.models.ws.Ack): a frame that cannot be handled because AWS or the app's key
is not available now is answered ``unavailable``, never left without an answer.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from timkit.config import WsApiSettings
from timkit.keys import KeyNotConfigured
from timkit.models.ws import NOT_JSON, Ack
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.chat_tokens import ChatTokenStore
from timkit.stores.config import ConfigUnavailable
from timkit.stores.connections import ConnectionStore
from timkit.stores.rates import RateBuckets
from timkit.ws.gateway import UNAVAILABLE, Limits, Refused, WsGateway

logger = Logger()
metrics = Metrics()
settings = WsApiSettings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
gateway = WsGateway(
    ConnectionStore(settings.WS_CONNECTIONS_TABLE),
    paced_client(settings, keys.current),
    ChatTokenStore(settings.IDEMPOTENCY_TABLE),
    RateBuckets(settings.RATE_TABLE),
    settings.TIM_SDKAPPID,
    keys.current,
    Limits(settings.WS_FRAMES_PER_SECOND, settings.WS_CONNECTIONS_PER_USER),
)
# What AWS or the app's key not being available looks like here.
_UNAVAILABLE = (KeyNotConfigured, ConfigUnavailable, BotoCoreError, ClientError)


def _connect(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        user = gateway.connect(connection_id, token)
    except Refused as exc:
        # The reason ("UserSig has expired"...), never the sig.
        logger.info("connection refused", status=exc.status, reason=exc.reason)
        return {"statusCode": exc.status, "body": exc.reason}
    except _UNAVAILABLE as exc:
        logger.warning("connection refused: unavailable", error=type(exc).__name__)
        return {"statusCode": 503, "body": "the gateway cannot admit connections now; try again shortly"}
    logger.info("connected", user=user)
    return {"statusCode": 200}


def _frame(event: dict[str, Any], connection_id: str) -> Ack:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (ValueError, binascii.Error):
            return Ack(msgId=None, ok=False, code=NOT_JSON, message="a frame is a JSON object")
    try:
        return gateway.frame(connection_id, body)
    except _UNAVAILABLE as exc:
        logger.warning("frame not handled: unavailable", error=type(exc).__name__)
        return Ack(msgId=None, ok=False, code=UNAVAILABLE, message="the gateway cannot answer now; send it again")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["requestContext"]
    connection_id, route = request["connectionId"], request["routeKey"]
    logger.append_keys(connection_id=connection_id)
    if route == "$connect":
        return _connect(event, connection_id)
    if route == "$disconnect":
        gateway.disconnect(connection_id)
        return {"statusCode": 200}
    return {"statusCode": 200, "body": _frame(event, connection_id).text()}
