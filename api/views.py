"""Store rows → public schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from api.schemas.jobs import AllocationPublic, EventPublic, JobPublic
from api.schemas.nodes import GpuPublic, NodePublic
from api.schemas.queues import QueuePublic
from scheduler.core.model import milli_to_gpus
from scheduler.protocol import JobStatus
from scheduler.store.queues import QueueUsage
from scheduler.store.tables import AllocationRow, EventRow, GpuRow, JobRow, NodeRow, QueueRow


def allocation_public(row: AllocationRow) -> AllocationPublic:
    return AllocationPublic(
        replica=row.replica,
        node=row.node,
        gpu_index=row.gpu_index,
        gpu_uuid=row.gpu_uuid,
        gpu_fraction=milli_to_gpus(row.milli),
    )


def job_public(row: JobRow, allocations: Sequence[AllocationRow] = ()) -> JobPublic:
    return JobPublic(
        id=row.id,
        queue=row.queue,
        name=row.name,
        user=row.user,
        status=row.status,  # type: ignore[arg-type]
        gpus=milli_to_gpus(row.gpu_milli),
        gpu_memory_mib=row.gpu_memory_mib or None,
        cpu_millis=row.cpu_millis,
        memory_mib=row.memory_mib,
        replicas=row.replicas,
        priority=row.priority,
        preemptible=row.preemptible,
        requeue=row.requeue,
        command=[str(part) for part in row.command],
        env={str(k): str(v) for k, v in (row.env or {}).items()},
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        message=row.message or "",
        attempts=row.attempts or 0,
        reason=row.reason if row.status == JobStatus.PENDING else None,
        allocations=[allocation_public(a) for a in allocations],
    )


def event_public(row: EventRow) -> EventPublic:
    return EventPublic(kind=row.kind, at=row.at, node=row.node, data=dict(row.data or {}))


def queue_public(row: QueueRow, usage: QueueUsage) -> QueuePublic:
    return QueuePublic(
        name=row.name,
        parent=row.parent,
        deserved_gpus=milli_to_gpus(row.deserved_milli),
        limit_gpus=None if row.limit_milli is None else milli_to_gpus(row.limit_milli),
        over_quota_weight=row.over_quota_weight,
        priority=row.priority,
        fair_share_gpus=milli_to_gpus(row.fair_share_milli or 0),
        allocated_gpus=milli_to_gpus(usage.allocated_milli),
        pending_jobs=usage.pending_jobs,
        running_jobs=usage.running_jobs,
    )


def gpu_public(row: GpuRow, live: Mapping[str, Any] | None = None) -> GpuPublic:
    """One GPU; `live` (its latest sample from Redis) replaces the stored readings."""
    telemetry: Mapping[str, Any] = live if live is not None else (row.telemetry or {})
    utilization = live.get("utilization") if live is not None else row.utilization
    memory_used = _number(live.get("memory_used_mib") if live is not None else row.memory_used_mib)
    return GpuPublic(
        index=row.index,
        uuid=row.uuid,
        model=row.model,
        memory_mib=row.memory_mib,
        allocated_fraction=milli_to_gpus(row.allocated_milli),
        utilization=_number(utilization),
        memory_used_mib=None if memory_used is None else int(memory_used),
        temperature_c=_number(telemetry.get("temperature_c")),
        power_w=_number(telemetry.get("power_w")),
        healthy=row.healthy and row.present,
        health_reason=row.health_reason if row.present else "GPU no longer reported by the agent",
        present=row.present,
    )


def node_public(
    row: NodeRow, gpus: Sequence[GpuRow], live: Mapping[int, Mapping[str, Any]] | None = None
) -> NodePublic:
    """A node; `live` holds its GPUs' latest samples from Redis by index (if any)."""
    return NodePublic(
        name=row.name,
        ready=row.ready,
        cordoned=row.cordoned,
        enforcement=row.enforcement,
        cpu_millis=row.cpu_millis,
        memory_mib=row.memory_mib,
        labels={str(k): str(v) for k, v in (row.labels or {}).items()},
        last_heartbeat_at=row.last_heartbeat_at,
        gpus=[gpu_public(g, (live or {}).get(g.index)) for g in gpus],
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
