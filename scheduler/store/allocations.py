"""GPU shares: bind replicas to GPUs and release them, keeping `gpus.allocated_milli` exact."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.store import bulk
from scheduler.store.tables import AllocationRow, EventRow, GpuRow, ReplicaRow

_gpus: Table = GpuRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Share:
    """`milli` thousandths of GPU `gpu_index` on `node` for replica `replica` of `job_id`."""

    job_id: str
    replica: int
    node: str
    gpu_index: int
    milli: int


def bind(
    session: Session,
    *,
    replicas: Sequence[tuple[str, int, str]],
    shares: Sequence[Share],
    uuids: dict[tuple[str, int], str],
    attempts: Mapping[str, int] | None = None,
) -> None:
    """Insert replicas (job, replica, node) of attempt `attempts[job]` (default 1) and their GPU
    shares; the GPU check rejects overflow."""
    if replicas:
        attempt = attempts or {}
        insert_rows(
            session,
            ReplicaRow.__table__,  # type: ignore[arg-type]
            [
                {"job_id": j, "replica": r, "node": n, "state": "assigned",
                 "attempt": attempt.get(j, 1)}
                for j, r, n in replicas
            ],
        )
    if shares:
        insert_rows(
            session,
            AllocationRow.__table__,  # type: ignore[arg-type]
            [
                {
                    "job_id": s.job_id,
                    "replica": s.replica,
                    "node": s.node,
                    "gpu_index": s.gpu_index,
                    "gpu_uuid": uuids.get((s.node, s.gpu_index), ""),
                    "milli": s.milli,
                }
                for s in shares
            ],
        )
        move_milli(session, ((s.node, s.gpu_index, s.milli) for s in shares))


def release(session: Session, job_ids: Iterable[str]) -> None:
    """Free every GPU share of these jobs and forget their replicas."""
    ids = list(job_ids)
    if not ids:
        return
    held = session.execute(
        select(AllocationRow.node, AllocationRow.gpu_index, AllocationRow.milli).where(
            AllocationRow.job_id.in_(ids)
        )
    )
    move_milli(session, ((node, index, -milli) for node, index, milli in held))
    session.execute(delete(AllocationRow).where(AllocationRow.job_id.in_(ids)))
    session.execute(delete(ReplicaRow).where(ReplicaRow.job_id.in_(ids)))


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) in bulk."""
    bulk.insert_many(session, table, rows)


def move_milli(session: Session, changes: Iterable[tuple[str, int, int]]) -> None:
    """Add each change to its GPU's allocated_milli (the check constraint guards the sum).

    A share of a GPU the store does not know is refused (on PostgreSQL no foreign key does it).
    """
    per_gpu: dict[tuple[str, int], int] = defaultdict(int)
    for node, index, milli in changes:
        per_gpu[(node, index)] += milli
    moved = [(n, i, d) for (n, i), d in per_gpu.items() if d]
    if bulk.add_to_gpus(session, _gpus, moved) != len(moved):
        raise IntegrityError(
            "move allocated_milli", None, LookupError("a share names a GPU the store lacks")
        )


def of_jobs(session: Session, job_ids: Sequence[str]) -> dict[str, list[AllocationRow]]:
    """The GPU shares held by each of `job_ids` (absent: none)."""
    result: dict[str, list[AllocationRow]] = defaultdict(list)
    if job_ids:
        query = (
            select(AllocationRow)
            .where(AllocationRow.job_id.in_(list(job_ids)))
            .order_by(AllocationRow.replica, AllocationRow.node, AllocationRow.gpu_index)
        )
        for row in session.scalars(query):
            result[row.job_id].append(row)
    return result


def last_bound(session: Session, job_ids: Sequence[str]) -> dict[str, list[AllocationRow]]:
    """Where each of `job_ids` last ran: the GPU shares of its latest `job.bound` event.

    The rows are detached copies (not in the session): history, not shares anyone holds.
    Events written before the event named its shares give none.
    """
    result: dict[str, list[AllocationRow]] = {}
    if not job_ids:
        return result
    query = (
        select(EventRow.job_id, EventRow.data)
        .where(EventRow.job_id.in_(list(job_ids)), EventRow.kind == "job.bound")
        .order_by(EventRow.id)
    )
    for job_id, data in session.execute(query):
        grants = (data or {}).get("allocations") or []
        result[str(job_id)] = [  # a later bind replaces an earlier one
            AllocationRow(
                job_id=job_id,
                replica=int(grant["replica"]),
                node=str(grant["node"]),
                gpu_index=int(grant["gpu_index"]),
                gpu_uuid=str(grant.get("gpu_uuid") or ""),
                milli=int(grant["milli"]),
            )
            for grant in grants
        ]
    return {job_id: rows for job_id, rows in result.items() if rows}


def on_node_with_gpus(
    session: Session, job_ids: Sequence[str], node: str
) -> list[tuple[AllocationRow, GpuRow]]:
    """The shares these jobs hold on `node`, each with its GPU, by GPU index."""
    rows = session.execute(
        select(AllocationRow, GpuRow)
        .join(
            GpuRow, (GpuRow.node == AllocationRow.node) & (GpuRow.index == AllocationRow.gpu_index)
        )
        .where(AllocationRow.job_id.in_(job_ids), AllocationRow.node == node)
        .order_by(AllocationRow.gpu_index)
    ).all()
    return [(alloc, gpu) for alloc, gpu in rows]
