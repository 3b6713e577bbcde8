"""The column reads a cycle's snapshot is built from (Core rows, not ORM objects: 100k jobs stay
fast), and the counts the loop's gauges show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from scheduler.protocol import JobStatus
from scheduler.store.tables import (
    AllocationRow,
    GpuRow,
    HeldRow,
    JobRow,
    NodeRow,
    QueueRow,
    ReplicaRow,
)

Column = InstrumentedAttribute[Any]


def _rows(
    session: Session,
    columns: Sequence[Column],
    *,
    order_by: Sequence[Column],
    where: Sequence[ColumnElement[bool]] = (),
) -> Sequence[Any]:
    """`columns` of the rows matching `where`, in `order_by` order, as plain rows."""
    query = select(*columns).where(*where).order_by(*order_by)
    return session.connection().execute(query).all()


def gpus(session: Session) -> Sequence[Any]:
    """(node, index, model, memory_mib, uuid, healthy, present) of every GPU, by node and index."""
    columns = (GpuRow.node, GpuRow.index, GpuRow.model, GpuRow.memory_mib, GpuRow.uuid,
               GpuRow.healthy, GpuRow.present)
    return _rows(session, columns, order_by=(GpuRow.node, GpuRow.index))


def nodes(session: Session) -> Sequence[Any]:
    """(name, cpu_millis, memory_mib, ready, cordoned, labels) of every node, by name."""
    columns = (NodeRow.name, NodeRow.cpu_millis, NodeRow.memory_mib, NodeRow.ready,
               NodeRow.cordoned, NodeRow.labels)
    return _rows(session, columns, order_by=(NodeRow.name,))


def queues(session: Session) -> Sequence[Any]:
    """(name, parent, deserved_milli, limit_milli, over_quota_weight, priority), by name."""
    columns = (QueueRow.name, QueueRow.parent, QueueRow.deserved_milli, QueueRow.limit_milli,
               QueueRow.over_quota_weight, QueueRow.priority)
    return _rows(session, columns, order_by=(QueueRow.name,))


def live_jobs(session: Session) -> Sequence[Any]:
    """Pending and running jobs, oldest first: (id, queue, status, cpu_millis, memory_mib,
    gpu_milli, gpu_memory_mib, replicas, priority, preemptible, created_at, user, started_at,
    updated_at, last_checkpoint_at)."""
    columns = (JobRow.id, JobRow.queue, JobRow.status, JobRow.cpu_millis, JobRow.memory_mib,
               JobRow.gpu_milli, JobRow.gpu_memory_mib, JobRow.replicas, JobRow.priority,
               JobRow.preemptible, JobRow.created_at, JobRow.user, JobRow.started_at,
               JobRow.updated_at, JobRow.last_checkpoint_at)
    live = JobRow.status.in_((JobStatus.PENDING.value, JobStatus.RUNNING.value))
    return _rows(session, columns, where=(live,), order_by=(JobRow.created_at, JobRow.id))


def held_shares(session: Session) -> Sequence[Any]:
    """(job_id, node, gpus, cpu_millis, memory_mib, stopping_until) of every held share."""
    columns = (HeldRow.job_id, HeldRow.node, HeldRow.gpus, HeldRow.cpu_millis,
               HeldRow.memory_mib, HeldRow.stopping_until)
    order = (HeldRow.node, HeldRow.job_id, HeldRow.replica, HeldRow.attempt)
    return _rows(session, columns, order_by=order)


def grants(session: Session) -> Sequence[Any]:
    """(job_id, replica, gpu_index, milli) of every GPU share, by GPU index."""
    columns = (AllocationRow.job_id, AllocationRow.replica, AllocationRow.gpu_index,
               AllocationRow.milli)
    return _rows(session, columns, order_by=(AllocationRow.gpu_index,))


def replica_nodes(session: Session) -> Sequence[Any]:
    """(job_id, replica, node) of every bound replica, by job and replica."""
    columns = (ReplicaRow.job_id, ReplicaRow.replica, ReplicaRow.node)
    return _rows(session, columns, order_by=(ReplicaRow.job_id, ReplicaRow.replica))


def jobs_by_status(session: Session) -> dict[str, int]:
    """How many jobs are in each status (statuses without jobs are absent)."""
    counts = session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
    return {status: count for status, count in counts}
