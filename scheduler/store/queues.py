"""Queue repository: the queue tree and the numbers `GET /v1/queues` shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from scheduler.protocol import JobStatus
from scheduler.store.tables import AllocationRow, JobRow, QueueRow


@dataclass(frozen=True, slots=True)
class QueueUsage:
    """Live numbers of one queue."""

    allocated_milli: int = 0
    pending_jobs: int = 0
    running_jobs: int = 0


def leaf_status(session: Session, name: str) -> bool | None:
    """None when the queue does not exist, else whether it is a leaf (has no children)."""
    return leaf_statuses(session, [name]).get(name)


def leaf_statuses(session: Session, names: Sequence[str]) -> dict[str, bool]:
    """Of `names`, the queues that exist, each mapped to whether it is a leaf (one query)."""
    if not names:
        return {}
    child = aliased(QueueRow)
    has_children = select(child.name).where(child.parent == QueueRow.name).exists()
    query = select(QueueRow.name, has_children).where(QueueRow.name.in_(list(names)))
    return {str(name): not parent for name, parent in session.execute(query)}


def get(session: Session, name: str) -> QueueRow | None:
    return session.get(QueueRow, name)


def list_all(session: Session) -> list[QueueRow]:
    return list(session.scalars(select(QueueRow).order_by(QueueRow.name)))


def children(session: Session, name: str) -> list[str]:
    return list(session.scalars(select(QueueRow.name).where(QueueRow.parent == name)))


def is_ancestor(session: Session, ancestor: str, of: str) -> bool:
    """True when `ancestor` is `of` or above it in the tree (guards against cycles)."""
    seen: set[str] = set()
    current: str | None = of
    while current is not None and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        row = session.get(QueueRow, current)
        current = row.parent if row else None
    return False


def usage(session: Session) -> dict[str, QueueUsage]:
    """Allocated GPU milli and pending/running job counts per leaf queue."""
    allocated = dict(
        session.execute(
            select(JobRow.queue, func.sum(AllocationRow.milli))
            .join(AllocationRow, AllocationRow.job_id == JobRow.id)
            .group_by(JobRow.queue)
        ).all()
    )
    counts: dict[tuple[str, str], int] = {
        (queue, status): count
        for queue, status, count in session.execute(
            select(JobRow.queue, JobRow.status, func.count())
            .where(JobRow.status.in_((JobStatus.PENDING.value, JobStatus.RUNNING.value)))
            .group_by(JobRow.queue, JobRow.status)
        )
    }
    names = set(allocated) | {queue for queue, _ in counts}
    return {
        name: QueueUsage(
            allocated_milli=int(allocated.get(name) or 0),
            pending_jobs=counts.get((name, "pending"), 0),
            running_jobs=counts.get((name, "running"), 0),
        )
        for name in names
    }


def subtree_usage(rows: list[QueueRow], leaf_usage: dict[str, QueueUsage]) -> dict[str, QueueUsage]:
    """Roll leaf numbers up the tree so a parent shows the sum of its children."""
    parent_of = {row.name: row.parent for row in rows}
    totals = {row.name: [0, 0, 0] for row in rows}
    for leaf, use in leaf_usage.items():
        current: str | None = leaf
        seen: set[str] = set()
        while current is not None and current in totals and current not in seen:
            seen.add(current)
            total = totals[current]
            total[0] += use.allocated_milli
            total[1] += use.pending_jobs
            total[2] += use.running_jobs
            current = parent_of.get(current)
    return {name: QueueUsage(*values) for name, values in totals.items()}


def store_fair_shares(session: Session, shares: Mapping[str, int]) -> None:
    """Write each queue's fair share (GPU milli) where it changed; unknown queues are skipped."""
    if not shares:
        return
    current = dict(session.execute(select(QueueRow.name, QueueRow.fair_share_milli)).all())
    for name, share in shares.items():
        if name in current and current[name] != share:
            session.execute(
                update(QueueRow).where(QueueRow.name == name).values(fair_share_milli=share)
            )


def jobs_in(session: Session, name: str) -> int:
    """How many jobs (of any status) name `name` as their queue."""
    return session.scalar(select(func.count()).select_from(JobRow).where(JobRow.queue == name)) or 0
