"""Broadcast work items: what the broadcast queue carries, one JSON object per SQS message.

``{"kind": "plan", "jobId", "cursor"}`` plans a job's groups from ``cursor`` on; ``{"kind": "send",
"jobId", "groupId"}`` sends the job's message to one group. Written and read only by
timkit.stores.schedules.WorkQueue and the broadcast worker."""

from __future__ import annotations

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
