"""Frames out: a rule on the event bus sends this function the after-send events (and the group
membership events that change who gets them); each message goes to every open connection of its
recipients (timkit.ws.fanout). An error (AWS or Tencent not available) fails the invocation, and
EventBridge retries it: connections posted to before the failure may get the frame twice, with the
same msgId and messageId."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.config import WsFanoutSettings
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.connections import ConnectionStore, ManagementApi
from timkit.ws.fanout import POSTERS, MemberCache, WsFanout

logger = Logger()
metrics = Metrics()
settings = WsFanoutSettings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
fanout = WsFanout(
    ConnectionStore(settings.WS_CONNECTIONS_TABLE),
    ManagementApi(settings.WS_MANAGEMENT_ENDPOINT, posters=POSTERS),
    MemberCache(paced_client(settings, keys.current), settings.WS_MEMBER_CACHE_SECONDS),
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    delivery = fanout.handle(event["detail-type"], event["detail"])
    logger.info("posted", detail_type=event["detail-type"], posted=delivery.posted, gone=delivery.gone)
    return {"posted": delivery.posted, "gone": delivery.gone}
