"""Read the store into the core's Snapshot (the store's column reads, translated here)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from scheduler.core.model import (
    GPU,
    GpuGrant,
    HeldShare,
    Job,
    JobStatus,
    Node,
    Queue,
    ReplicaPlacement,
    ReplicaRequest,
    Resources,
    Snapshot,
)
from scheduler.store import cluster
from scheduler.store.db import Session

_STATUS = {status.value: status for status in JobStatus}

UNLIMITED = 1 << 60
"""CPU and memory have no queue limit (quotas here are GPUs); this stands for 'no limit'."""


@dataclass(frozen=True, slots=True)
class StoreState:
    """A snapshot plus the store facts the commit step needs to turn decisions into rows."""

    snapshot: Snapshot
    gpu_uuids: dict[tuple[str, int], str]
    created_at: dict[str, float]


def load(session: Session) -> StoreState:
    """Nodes with GPUs, queues, and every pending and running job with its placements."""
    # Core rows fetched all at once (scheduler.store.cluster), not ORM rows one by one: the
    # per-row bookkeeping costs more than the query itself.
    gpus_by_node: dict[str, list[GPU]] = defaultdict(list)
    uuids: dict[tuple[str, int], str] = {}
    for node, index, model, memory, uuid, healthy, present in cluster.gpus(session):
        gpus_by_node[node].append(
            GPU(
                index=index,
                model=model,
                memory_mib=memory,
                uuid=uuid,
                healthy=bool(healthy and present),
            )
        )
        uuids[(node, index)] = uuid
    nodes = tuple(
        Node(
            name=name,
            cpu_millis=cpu,
            memory_mib=memory,
            gpus=tuple(gpus_by_node.get(name, ())),
            ready=bool(ready),
            cordoned=bool(cordoned),
            labels=dict(labels or {}),
        )
        for name, cpu, memory, ready, cordoned, labels in cluster.nodes(session)
    )
    queues = tuple(
        Queue(
            name=name,
            parent=parent,
            deserved=Resources(gpu_milli=deserved),
            limit=None if limit is None else Resources(UNLIMITED, UNLIMITED, limit),
            over_quota_weight=weight,
            priority=priority,
        )
        for name, parent, deserved, limit, weight, priority in cluster.queues(session)
    )
    placements = _placements(session)
    requests: dict[tuple[int, int, int, int], ReplicaRequest] = {}
    jobs = []
    created: dict[str, float] = {}
    for row in cluster.live_jobs(session):
        (
            job_id,
            queue,
            status,
            cpu,
            memory,
            gpu_milli,
            gpu_memory,
            replicas,
            priority,
            preemptible,
            created_at,
            user,
            started_at,
            updated_at,
            checkpoint,
        ) = row
        running = status == JobStatus.RUNNING
        shape = (cpu, memory, gpu_milli, gpu_memory)
        request = requests.get(shape)
        if request is None:  # jobs come in few shapes: one (immutable) request object per shape
            request = requests[shape] = ReplicaRequest(
                cpu_millis=cpu, memory_mib=memory, gpu_milli=gpu_milli, gpu_memory_mib=gpu_memory
            )
        jobs.append(
            Job(
                id=job_id,
                queue=queue,
                request=request,
                replicas=replicas,
                priority=priority,
                preemptible=bool(preemptible),
                created_at=created_at,
                user=user,
                status=_STATUS[status],
                placements=placements.get(job_id, ()) if running else (),
                # A job counts as started when it was bound, even before its agent reports.
                started_at=(started_at or updated_at) if running else None,
                last_checkpoint_at=checkpoint,
            )
        )
        created[job_id] = created_at
    return StoreState(
        snapshot=Snapshot(nodes=nodes, jobs=tuple(jobs), queues=queues, held=_held(session)),
        gpu_uuids=uuids,
        created_at=created,
    )


def _held(session: Session) -> tuple[HeldShare, ...]:
    """Shares of replicas still stopping (scheduler.store.held): the core places nothing there."""
    return tuple(
        HeldShare(
            owner=job_id,
            node=node,
            gpus=tuple(GpuGrant(gpu_index=int(i), milli=int(m)) for i, m in gpus or ()),
            cpu_millis=cpu,
            memory_mib=memory,
            stopping_until=until,
        )
        for job_id, node, gpus, cpu, memory, until in cluster.held_shares(session)
    )


def _placements(session: Session) -> dict[str, tuple[ReplicaPlacement, ...]]:
    grants: dict[tuple[str, int], list[GpuGrant]] = defaultdict(list)
    for job_id, replica, index, milli in cluster.grants(session):
        grants[(job_id, replica)].append(GpuGrant(gpu_index=index, milli=milli))
    placed: dict[str, list[ReplicaPlacement]] = defaultdict(list)
    for job_id, replica, node in cluster.replica_nodes(session):
        placed[job_id].append(
            ReplicaPlacement(
                replica=replica, node=node, gpus=tuple(grants.get((job_id, replica), ()))
            )
        )
    return {job_id: tuple(items) for job_id, items in placed.items()}
