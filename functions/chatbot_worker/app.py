"""Chatbot worker (SQS FIFO batch, partial failures reported): answers bot turns with the team's
model, streaming each answer into its chat. How is timkit.chatbot.worker.ChatbotWorker's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.chatbot.providers import provider_for
from timkit.chatbot.worker import ChatbotWorker, QueuedTurn
from timkit.config import ChatbotWorkerSettings
from timkit.models.chatbot import Turn
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.bots import CONFIG_CACHE_SECONDS, BotStore, ConfigCache
from timkit.stores.fastpath import ENCODING_ATTRIBUTE, queued_body
from timkit.stores.schedules import WorkQueue

logger = Logger()
metrics = Metrics()
settings = ChatbotWorkerSettings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
secrets = SecretsProvider()


def api_key(name: str) -> str | None:
    """A provider's API key by its name in the chatbot secret (never logged)."""
    if not settings.CHATBOT_SECRET_ID:
        return None
    keys_by_name = secrets.get(settings.CHATBOT_SECRET_ID, transform="json", max_age=settings.CONFIG_CACHE_SECONDS)
    value = keys_by_name.get(name) if isinstance(keys_by_name, dict) else None
    return value if isinstance(value, str) else None


store = BotStore(settings.BOT_STATE_TABLE)
worker = ChatbotWorker(
    store,
    # Briefly: an edit is in use within seconds (and at once where CONFIG_CACHE_SECONDS is 0).
    ConfigCache(store, ttl=min(CONFIG_CACHE_SECONDS, settings.CONFIG_CACHE_SECONDS)).get,
    paced_client(settings, keys.current),
    lambda config: provider_for(config, api_key),
    logger,
    lambda name: metrics.add_metric(name=name, unit=MetricUnit.Count, value=1),
    WorkQueue(settings.CHATBOT_QUEUE_URL).retry_in,
)


def _queued(record: Any) -> QueuedTurn:
    encoding = record.message_attributes[ENCODING_ATTRIBUTE]
    body = queued_body(record.body, encoding.string_value if encoding else None)
    turn = Turn.model_validate_json(body)
    return QueuedTurn(record.message_id, record.attributes.message_group_id or "", turn, record.receipt_handle)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    queued, failed = [], []
    for record in SQSEvent(event).records:
        try:
            queued.append(_queued(record))
        except ValueError as exc:  # not a turn (pydantic's and base64's errors are ValueErrors): to the DLQ
            # The type only: a validation error quotes its input, the user's text.
            logger.error("unreadable bot turn", message_id=record.message_id, error=type(exc).__name__)
            failed.append(record.message_id)
    failed += worker.process(queued, lambda: context.get_remaining_time_in_millis() / 1000)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
