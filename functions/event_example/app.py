"""An example consumer of the event bus (template parameter EventBusExample): a rule on the bus
sends it group messages, and it logs what it got. Copy it as the start of your own.

The detail is read with the layer's models (timkit.models.bus), the same that published it: a
detail of another version or shape fails here, loudly, rather than being half understood.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.models.bus import detail_model

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    detail = detail_model(event["detail-type"]).model_validate(event["detail"])
    logger.set_correlation_id(detail.eventId)
    # The whole detail, as an example shows it; your own code would act on it instead (and think
    # twice before logging people's messages).
    logger.info("timkit event", detail_type=event["detail-type"], detail=event["detail"])
