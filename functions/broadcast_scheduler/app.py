"""Invoked by EventBridge Scheduler when a scheduled job (a broadcast, a message send, bot friends) is
due: starts it (a one-off job) or starts a run of it (a cron job, one run per firing, however often
Scheduler delivers that firing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from timkit.broadcast import BroadcastStarter
from timkit.config import BroadcastSchedulerSettings
from timkit.metrics import BROADCAST_STARTED
from timkit.models.broadcast import Firing
from timkit.stores.jobs import JobStore
from timkit.stores.schedules import WorkQueue

logger = Logger()
metrics = Metrics()
settings = BroadcastSchedulerSettings.from_env()
service = BroadcastStarter(JobStore(settings.JOBS_TABLE), WorkQueue(settings.BROADCAST_QUEUE_URL))


# The job's id (the schedule's input): what the admin API answered and the worker logs it under.
@logger.inject_lambda_context(correlation_id_path="jobId", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        firing = Firing.model_validate(event)
    except ValidationError as exc:
        logger.error(
            "scheduler event is not a firing: ignored", errors=exc.errors(include_input=False, include_url=False)
        )
        return {"started": None}
    started = service.start(firing.job_id, firing.fired_at(datetime.now(UTC)))
    logger.info("scheduled job fired", job_id=firing.job_id, started=started)
    if started is not None:
        metrics.add_metric(name=BROADCAST_STARTED, unit=MetricUnit.Count, value=1)
    return {"started": started}
