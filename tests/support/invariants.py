"""An invariant walker over the store: what must hold after any crash, at any moment."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.store.tables import (
    AllocationRow,
    EventRow,
    GpuRow,
    HeldRow,
    JobRow,
    NodeRow,
    ReplicaRow,
)

STATUSES = {"pending", "running", "succeeded", "failed", "preempted", "cancelled"}


def violations(session: Session) -> list[str]:
    """Every broken invariant, as a sentence; empty when the store is consistent."""
    found: list[str] = []
    held: dict[tuple[str, int], int] = defaultdict(int)
    shares = session.execute(
        select(AllocationRow.job_id, AllocationRow.replica, AllocationRow.node,
               AllocationRow.gpu_index, AllocationRow.milli)
    ).all()
    for _, _, node, index, milli in shares:
        held[(node, index)] += milli
    # Shares of stopping replicas stay charged until their processes are gone.
    stopping = session.execute(
        select(HeldRow.job_id, HeldRow.node, HeldRow.gpus, HeldRow.replica, HeldRow.attempt)
    ).all()
    for _, node, grants, _, _ in stopping:
        for index, milli in grants:
            held[(node, int(index))] += int(milli)
    gpus = set()
    for node, index, allocated in session.execute(
        select(GpuRow.node, GpuRow.index, GpuRow.allocated_milli)
    ).all():
        gpus.add((node, index))
        total = held.get((node, index), 0)
        if total > 1000:
            found.append(f"GPU {node}/{index} is allocated {total} milli (> 1000)")
        if total != allocated:
            found.append(f"GPU {node}/{index} counts {allocated} milli but holds {total}")
    for node, index in held.keys() - gpus:
        found.append(f"{held[(node, index)]} milli are allocated on unknown GPU {node}/{index}")
    status_of = dict(session.execute(select(JobRow.id, JobRow.status)).all())
    for job_id, status in status_of.items():
        if status not in STATUSES:
            found.append(f"job {job_id} has unknown status {status!r}")
    # What foreign keys would guarantee (PostgreSQL checks them in the bind statement instead).
    node_names = set(session.scalars(select(NodeRow.name)).all())
    replicas: dict[str, int] = defaultdict(int)
    replica_keys = set()
    for job_id, replica, node in session.execute(
        select(ReplicaRow.job_id, ReplicaRow.replica, ReplicaRow.node)
    ).all():
        replicas[job_id] += 1
        replica_keys.add((job_id, replica))
        if job_id not in status_of:
            found.append(f"replica {replica} of unknown job {job_id}")
        if node not in node_names:
            found.append(f"replica {replica} of job {job_id} is on unknown node {node}")
    for job_id, replica, node, index, _ in shares:
        if (job_id, replica) not in replica_keys:
            found.append(f"a share of GPU {node}/{index} belongs to no replica ({job_id}/{replica})")
    for job_id, count in replicas.items():
        if status_of.get(job_id) != "running":
            found.append(f"job {job_id} ({status_of.get(job_id)}) still holds {count} replica(s)")
    wanted = dict(
        session.execute(select(JobRow.id, JobRow.replicas).where(JobRow.status == "running")).all()
    )
    for job_id, count in wanted.items():
        if replicas.get(job_id, 0) != count:
            found.append(f"running job {job_id} has {replicas.get(job_id, 0)} of {count} replicas")
    for (job_id,) in session.execute(select(AllocationRow.job_id).distinct()).all():
        if status_of.get(job_id) != "running":
            found.append(f"job {job_id} ({status_of.get(job_id)}) still holds GPU shares")
    bound = set(session.execute(
        select(ReplicaRow.job_id, ReplicaRow.replica, ReplicaRow.attempt)
    ).all())
    for job_id, node, _, replica, attempt in stopping:
        if job_id not in status_of:
            found.append(f"a share held on {node} belongs to unknown job {job_id}")
        if (job_id, replica, attempt) in bound:
            found.append(f"replica {replica} of job {job_id} (attempt {attempt}) is both bound "
                         "and held")
    submitted = session.scalar(
        select(func.count(func.distinct(EventRow.job_id))).where(EventRow.kind == "job.submitted")
    )
    if submitted != len(status_of):
        found.append(f"{len(status_of)} jobs but {submitted} job.submitted events")
    return found
