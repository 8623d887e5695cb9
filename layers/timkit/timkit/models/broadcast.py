"""Broadcast work items: what the broadcast queue carries, one JSON object per SQS message.

``{"kind": "plan", "jobId", "cursor"}`` plans a job's groups from ``cursor`` on; ``{"kind": "send",
"jobId", "groupId"}`` sends the job's message to one group. Written and read only by
timkit.stores.schedules.WorkQueue and the broadcast worker.

A :class:`Firing` is what EventBridge Scheduler hands the scheduler function when a scheduled job
is due (the schedule's target input, written by timkit.stores.schedules.Schedules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Item(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, frozen=True)

    job_id: str = Field(alias="jobId")


class PlanItem(_Item):
    kind: Literal["plan"] = "plan"
    # Where the listing of the job's groups goes on ("" from the start).
    cursor: str = ""


class SendItem(_Item):
    kind: Literal["send"] = "send"
    group_id: str = Field(alias="groupId")


WorkItem = Annotated[PlanItem | SendItem, Field(discriminator="kind")]
WORK_ITEM: TypeAdapter[PlanItem | SendItem] = TypeAdapter(WorkItem)


class Firing(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, frozen=True)

    job_id: str = Field(alias="jobId", min_length=1)
    # Scheduler's <aws.scheduler.scheduled-time> context attribute, e.g. 2026-11-21T10:00:00Z.
    scheduled_time: str | None = Field(default=None, alias="scheduledTime")

    def fired_at(self, now: datetime) -> datetime:
        """The firing's time; without a readable one, the minute of delivery names the firing."""
        try:
            return datetime.fromisoformat((self.scheduled_time or "").replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return now.astimezone(UTC).replace(second=0, microsecond=0)
