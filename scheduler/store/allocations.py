"""GPU shares: bind replicas to GPUs and release them, keeping `gpus.allocated_milli` exact."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from scheduler.store.tables import AllocationRow, GpuRow, ReplicaRow

_gpus: Table = GpuRow.__table__  # type: ignore[assignment]
_ADD_MILLI = (
    update(_gpus)
    .where(_gpus.c.node == bindparam("b_node"), _gpus.c.index == bindparam("b_index"))
    .values(allocated_milli=_gpus.c.allocated_milli + bindparam("b_milli"))
)


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
) -> None:
    """Insert replicas (job, replica, node) and their GPU shares; the GPU check rejects overflow."""
    if replicas:
        session.execute(
            insert(ReplicaRow),
            [{"job_id": j, "replica": r, "node": n, "state": "assigned"} for j, r, n in replicas],
        )
    if shares:
        session.execute(
            insert(AllocationRow),
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
        _move_milli(session, ((s.node, s.gpu_index, s.milli) for s in shares))


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
    _move_milli(session, ((node, index, -milli) for node, index, milli in held))
    session.execute(delete(AllocationRow).where(AllocationRow.job_id.in_(ids)))
    session.execute(delete(ReplicaRow).where(ReplicaRow.job_id.in_(ids)))


def _move_milli(session: Session, changes: Iterable[tuple[str, int, int]]) -> None:
    per_gpu: dict[tuple[str, int], int] = defaultdict(int)
    for node, index, milli in changes:
        per_gpu[(node, index)] += milli
    if per_gpu:
        session.execute(
            _ADD_MILLI,
            [{"b_node": n, "b_index": i, "b_milli": m} for (n, i), m in per_gpu.items() if m],
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
