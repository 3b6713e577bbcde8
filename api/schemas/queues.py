"""Queue bodies: QueueCreate, QueueUpdate, QueuePublic."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import GpuCount, QueueName, StrictBody
from scheduler.protocol_types import Whole, as_whole


class QueueCreate(StrictBody):
    name: QueueName
    parent: QueueName | None = None
    deserved_gpus: GpuCount = 0.0
    limit_gpus: GpuCount | None = None
    over_quota_weight: float = Field(default=1.0, ge=0, le=1_000_000, allow_inf_nan=False)
    priority: Whole = Field(default=0, ge=-1_000_000, le=1_000_000)


class QueueUpdate(StrictBody):
    """Fields to change; absent fields stay as they are (`limit_gpus: null` removes the limit)."""

    parent: QueueName | None = None
    deserved_gpus: GpuCount | None = None
    limit_gpus: GpuCount | None = None
    over_quota_weight: float | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False)
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000), as_whole] | None = None


class QueuePublic(BaseModel):
    name: str
    parent: str | None
    deserved_gpus: float
    limit_gpus: float | None
    over_quota_weight: float
    priority: int
    fair_share_gpus: float
    allocated_gpus: float
    pending_jobs: int
    running_jobs: int
