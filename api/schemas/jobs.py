"""Job bodies: JobCreate (submit), JobPublic (read), Explain, EventPublic (history)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.common import QueueName

JobStatusName = Literal["pending", "running", "succeeded", "failed", "preempted", "cancelled"]
_GPUS_RULE = "gpus must be a fraction in (0, 1) or a whole number >= 1"


class JobCreate(BaseModel):
    """A job to submit; the request (`gpus`, memory, CPU) is per replica."""

    model_config = ConfigDict(extra="forbid")

    queue: QueueName
    gpus: float | None = Field(
        default=None, description="A fraction in (0, 1) or a whole number >= 1, per replica."
    )
    gpu_memory_mib: int | None = Field(default=None, ge=1, le=10_000_000)
    cpu_millis: int = Field(default=0, ge=0, le=100_000_000)
    memory_mib: int = Field(default=0, ge=0, le=1_000_000_000)
    replicas: int = Field(default=1, ge=1, le=10_000)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    preemptible: bool = True
    requeue: bool = True
    command: list[str] = Field(min_length=1, max_length=10_000)
    env: dict[str, str] = Field(default_factory=dict, max_length=1_000)
    name: str = Field(default="", max_length=128)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus_is_number(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{_GPUS_RULE}; got {value!r}")
        return value

    @field_validator("gpus")
    @classmethod
    def _gpus_shape(cls, value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{_GPUS_RULE}; got {value}")
        if value > 1 and value != int(value):
            raise ValueError(f"{_GPUS_RULE}; {value} is more than one GPU but not whole")
        if value > 100_000:
            raise ValueError(f"gpus per replica is at most 100000; got {value}")
        if abs(value * 1000 - round(value * 1000)) > 1e-6:
            raise ValueError(f"gpus is counted in thousandths of a GPU; {value} is finer")
        return value

    @field_validator("command")
    @classmethod
    def _command_program(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("command[0] (the program) must not be empty")
        return value

    @model_validator(mode="after")
    def _asks_for_gpu(self) -> JobCreate:
        if self.gpus is None and self.gpu_memory_mib is None:
            raise ValueError(f"give gpus ({_GPUS_RULE}) or gpu_memory_mib")
        return self


class AllocationPublic(BaseModel):
    replica: int
    node: str
    gpu_index: int
    gpu_uuid: str
    gpu_fraction: float


class JobPublic(BaseModel):
    """A job as the API shows it; `reason` is set while it waits."""

    id: str
    queue: str
    name: str
    user: str
    status: JobStatusName
    gpus: float
    gpu_memory_mib: int | None
    cpu_millis: int
    memory_mib: int
    replicas: int
    priority: int
    preemptible: bool
    requeue: bool
    command: list[str]
    env: dict[str, str]
    created_at: float
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    message: str
    attempts: int
    reason: dict[str, Any] | None
    allocations: list[AllocationPublic]


class ExplainPublic(BaseModel):
    """Why a job is where it is, with the numbers of its queue."""

    id: str
    status: JobStatusName
    summary: str
    reason: dict[str, Any] | None
    queue: str
    queue_deserved_gpus: float
    queue_fair_share_gpus: float
    queue_allocated_gpus: float
    allocations: list[AllocationPublic]


class EventPublic(BaseModel):
    """One entry of a job's event log."""

    kind: str = Field(description="What happened: job.submitted, job.bound, job.started, ...")
    at: float = Field(description="When, in seconds since the epoch.")
    node: str | None = Field(description="The node it happened on, where one did.")
    data: dict[str, Any] = Field(
        description="Details: the nodes and GPU shares of a bind, the status and message of an "
        "end, who cancelled."
    )
