"""Invoked by EventBridge Scheduler when a scheduled job (a broadcast, a message send, bot friends) is
due: starts it (a one-off job) or starts a run of it (a cron job, one run per firing, however often
Scheduler delivers that firing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.broadcast import BroadcastStarter
from timkit.config import BroadcastSchedulerSettings
from timkit.stores.jobs import JobStore
from timkit.stores.schedules import WorkQueue

logger = Logger()
settings = BroadcastSchedulerSettings.from_env()
service = BroadcastStarter(JobStore(settings.JOBS_TABLE), WorkQueue(settings.BROADCAST_QUEUE_URL))


def _fired_at(event: dict) -> datetime:
    try:
        # Scheduler's <aws.scheduler.scheduled-time>, e.g. 2026-11-21T10:00:00Z.
        return datetime.fromisoformat(event["scheduledTime"].replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, AttributeError, ValueError):
        # Not filled in: the minute of delivery names the firing instead.
        return datetime.now(UTC).replace(second=0, microsecond=0)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_id = event.get("jobId")
    if not isinstance(job_id, str) or not job_id:
        logger.error("scheduler event without a jobId: ignored", keys=sorted(event))
        return {"started": None}
    started = service.start(job_id, _fired_at(event))
    logger.info("scheduled broadcast fired", job_id=job_id, started=started)
    return {"started": started}
