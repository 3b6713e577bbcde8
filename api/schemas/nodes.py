"""Node bodies as `GET /v1/nodes` shows them."""

from __future__ import annotations

from pydantic import BaseModel


class GpuPublic(BaseModel):
    index: int
    uuid: str
    model: str
    memory_mib: int
    allocated_fraction: float
    utilization: float | None
    memory_used_mib: int | None
    temperature_c: float | None
    power_w: float | None
    healthy: bool
    health_reason: str
    present: bool


class NodePublic(BaseModel):
    name: str
    ready: bool
    cordoned: bool
    enforcement: str
    cpu_millis: int
    memory_mib: int
    labels: dict[str, str]
    last_heartbeat_at: float | None
    gpus: list[GpuPublic]
