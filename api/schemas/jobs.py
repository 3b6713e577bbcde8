"""Job bodies: JobCreate (submit), JobPublic (read), Explain, EventPublic (history)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from api.schemas.common import (
    ENV_NAME,
    GPU_STEP,
    EnvName,
    QueueName,
    StrictBody,
    check_thousandths,
)
from scheduler.protocol import JobStatus
from scheduler.protocol_types import Text, Whole, as_whole

_GPUS_RULE = "gpus must be a fraction in (0, 1) or a whole number >= 1"
_MAX_GPUS_PER_REPLICA = 100_000
_GPUS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": GPU_STEP, "maximum": 1, "multipleOf": GPU_STEP},
        {"type": "integer", "minimum": 1, "maximum": _MAX_GPUS_PER_REPLICA},
        {"type": "null"},
    ],
    "default": None,
    "description": "A fraction in (0, 1) in thousandths, or a whole number >= 1, per replica.",
}
# What `_asks_for_gpu` requires, said in the schema: a GPU count or GPU memory, not null.
_ASKS_FOR_GPU: dict[str, Any] = {
    "anyOf": [
        {"required": ["gpus"], "properties": {"gpus": {"type": "number"}}},
        {"required": ["gpu_memory_mib"], "properties": {"gpu_memory_mib": {"type": "integer"}}},
    ]
}


class JobCreate(StrictBody):
    """A job to submit; the request (`gpus`, memory, CPU) is per replica."""

    model_config = ConfigDict(json_schema_extra=_ASKS_FOR_GPU)

    queue: QueueName
    gpus: Annotated[float | None, WithJsonSchema(_GPUS_SCHEMA)] = None
    gpu_memory_mib: Annotated[int, Field(ge=1, le=10_000_000), as_whole] | None = None
    cpu_millis: Whole = Field(default=0, ge=0, le=100_000_000)
    memory_mib: Whole = Field(default=0, ge=0, le=1_000_000_000)
    replicas: Whole = Field(default=1, ge=1, le=10_000)
    priority: Whole = Field(default=0, ge=-1_000_000, le=1_000_000)
    preemptible: bool = True
    requeue: bool = True
    command: list[Text] = Field(
        min_length=1,
        max_length=10_000,
        description="The program and its arguments; the program (the first item) is not empty.",
        json_schema_extra={"prefixItems": [{"type": "string", "minLength": 1}]},
    )
    env: dict[EnvName, Text] = Field(
        default_factory=dict,
        max_length=1_000,
        description="Environment variables: names match [A-Za-z_][A-Za-z0-9_]*.",
        json_schema_extra={"propertyNames": {"pattern": ENV_NAME, "maxLength": 256}},
    )
    name: Text = Field(default="", max_length=128)

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
        if value > _MAX_GPUS_PER_REPLICA:
            raise ValueError(f"gpus per replica is at most {_MAX_GPUS_PER_REPLICA}; got {value}")
        return check_thousandths(value)

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
    status: JobStatus
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
    status: JobStatus
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
