"""Node repository: inventory from agents, latest telemetry per GPU, readiness, cordons."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from scheduler.protocol import NodeSpec
from scheduler.store import events
from scheduler.store.tables import GpuRow, NodeRow

_TELEMETRY_COLUMNS = ("utilization", "memory_used_mib")


def get(session: Session, name: str) -> NodeRow | None:
    return session.get(NodeRow, name)


def get_for_update(session: Session, name: str) -> NodeRow | None:
    """The node's row, locked until commit (PostgreSQL; SQLite writers queue anyway)."""
    return session.get(NodeRow, name, with_for_update=True, populate_existing=True)


def upsert(session: Session, inventory: NodeSpec, *, now: float) -> tuple[NodeRow, bool]:
    """Store the inventory; returns the row and whether anything the scheduler uses changed.

    A GPU that vanished is kept (its allocations still point at it) but marked absent.
    """
    node = session.get(NodeRow, inventory.name)
    changed = False
    if node is None:
        node = NodeRow(name=inventory.name, created_at=now, ready=True, cordoned=False, labels={})
        session.add(node)
        events.record(session, "node.joined", at=now, node=inventory.name)
        changed = True
    for attr in ("cpu_millis", "memory_mib", "labels", "enforcement"):
        value = getattr(inventory, attr)
        if getattr(node, attr) != value:
            setattr(node, attr, value)
            changed = True
    session.flush()
    existing = {gpu.index: gpu for gpu in gpus_of(session, [inventory.name])[inventory.name]}
    seen = set()
    for seen_gpu in inventory.gpus:
        seen.add(seen_gpu.index)
        gpu = existing.get(seen_gpu.index)
        if gpu is None:
            gpu = GpuRow(node=inventory.name, index=seen_gpu.index, allocated_milli=0)
            gpu.healthy, gpu.health_reason, gpu.telemetry = True, "", {}
            session.add(gpu)
            changed = True
        for attr in ("uuid", "model", "memory_mib", "compute_capability", "mig_mode"):
            value = getattr(seen_gpu, attr)
            if getattr(gpu, attr) != value:
                setattr(gpu, attr, value)
                changed = True
        if not gpu.present:
            gpu.present = True
            changed = True
    for index, gpu in existing.items():
        if index not in seen and gpu.present:
            gpu.present = False
            changed = True
            events.record(
                session, "gpu.vanished", at=now, node=inventory.name, data={"index": index}
            )
    return node, changed


def apply_telemetry(
    session: Session,
    node: str,
    samples: Sequence[dict[str, Any]],
    *,
    now: float,
    store_every: float = 0.0,
) -> bool:
    """Keep the latest sample per GPU; returns True when a GPU's health changed.

    Readings are written when the stored copy is at least `store_every` seconds old (0: every
    time; more when Redis holds the live values); health is always written at once.
    """
    by_index = {gpu.index: gpu for gpu in gpus_of(session, [node])[node]}
    health_changed = False
    for sample in samples:
        gpu = by_index.get(int(sample["index"]))
        if gpu is None:
            continue
        if gpu.telemetry_at is None or now - gpu.telemetry_at >= store_every:
            gpu.utilization = sample.get("utilization")
            gpu.memory_used_mib = sample.get("memory_used_mib")
            gpu.telemetry = finite(
                {k: v for k, v in sample.items() if k not in _TELEMETRY_COLUMNS}
            )
            gpu.telemetry_at = now
        healthy = bool(sample.get("healthy", True))
        if healthy != gpu.healthy:
            health_changed = True
            events.record(
                session,
                "gpu.healthy" if healthy else "gpu.unhealthy",
                at=now,
                node=node,
                data={"index": gpu.index, "reason": sample.get("health_reason", "")},
            )
        gpu.healthy = healthy
        gpu.health_reason = str(sample.get("health_reason") or "")
    return health_changed


def list_all(session: Session) -> list[NodeRow]:
    return list(session.scalars(select(NodeRow).order_by(NodeRow.name)))


def gpus_of(session: Session, names: Sequence[str] | None = None) -> dict[str, list[GpuRow]]:
    """GPUs per node (every node when `names` is None), ordered by index."""
    query = select(GpuRow).order_by(GpuRow.node, GpuRow.index)
    if names is not None:
        query = query.where(GpuRow.node.in_(list(names)))
    result: dict[str, list[GpuRow]] = defaultdict(list)
    for gpu in session.scalars(query):
        result[gpu.node].append(gpu)
    return result


@dataclass(frozen=True, slots=True)
class Largest:
    """The biggest node in each dimension (for 'larger than any node' checks)."""

    nodes: int
    gpus: int
    gpu_memory_mib: int
    cpu_millis: int
    memory_mib: int


def largest(session: Session) -> Largest:
    """Largest GPU count, GPU memory, CPU and memory over all nodes (each on its own)."""
    nodes, cpu, memory = session.execute(
        select(func.count(), func.max(NodeRow.cpu_millis), func.max(NodeRow.memory_mib))
    ).one()
    per_node = (
        select(func.count().label("n"))
        .select_from(GpuRow)
        .where(GpuRow.present.is_(True))
        .group_by(GpuRow.node)
        .subquery()
    )
    gpus = session.scalar(select(func.max(per_node.c.n))) or 0
    gpu_memory = session.scalar(select(func.max(GpuRow.memory_mib))) or 0
    return Largest(int(nodes or 0), int(gpus), int(gpu_memory), int(cpu or 0), int(memory or 0))


def finite(value: Any) -> Any:
    """JSON columns refuse NaN and infinity (PostgreSQL): keep such readings as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def silent_ready(session: Session, *, cutoff: float) -> list[NodeRow]:
    """Ready nodes whose last heartbeat (or, never heard from, whose joining) is before `cutoff`."""
    return list(
        session.scalars(
            select(NodeRow).where(
                NodeRow.ready.is_(True),
                or_(
                    NodeRow.last_heartbeat_at < cutoff,
                    NodeRow.last_heartbeat_at.is_(None) & (NodeRow.created_at < cutoff),
                ),
            )
        )
    )


def all_gpus(session: Session) -> Sequence[GpuRow]:
    """Every GPU row (for the gauges)."""
    return session.scalars(select(GpuRow)).all()
