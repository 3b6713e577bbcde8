"""Job repository: submit, read, and the state changes, each with its event."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from scheduler.store import allocations, events
from scheduler.store.tables import EventRow, JobRow

ACTIVE = ("pending", "running")
FINAL = ("succeeded", "failed", "preempted", "cancelled")


def new_id() -> str:
    """A fresh job id: 16 hex digits."""
    return secrets.token_hex(8)


def get(session: Session, job_id: str) -> JobRow | None:
    return session.get(JobRow, job_id)


def get_for_update(session: Session, job_id: str) -> JobRow | None:
    """The job, row-locked until commit and re-read (a concurrent cycle may have just bound it)."""
    return session.get(JobRow, job_id, with_for_update=True, populate_existing=True)


def by_idempotency_key(session: Session, token_id: int, key: str) -> JobRow | None:
    query = select(JobRow).where(JobRow.token_id == token_id, JobRow.idempotency_key == key)
    return session.scalars(query).first()


# Core (table) INSERTs run on the session's connection: the ORM's bulk-insert path costs
# more Python per row than the round trip itself.
_JOBS: Table = JobRow.__table__  # type: ignore[assignment]
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
_INSERT_JOB = insert(_JOBS)
_INSERT_EVENT = insert(_EVENTS)


def add(session: Session, job: JobRow) -> None:
    """Insert a new pending job and its `job.submitted` event (two prepared INSERTs)."""
    # Unset attributes are left out so that the columns' defaults apply.
    values = {
        column.key: getattr(job, column.key)
        for column in JobRow.__table__.columns
        if getattr(job, column.key) is not None
    }
    connection = session.connection()
    connection.execute(_INSERT_JOB, values)
    connection.execute(
        _INSERT_EVENT,
        {
            "at": job.created_at,
            "kind": "job.submitted",
            "job_id": job.id,
            "node": None,
            "data": {"queue": job.queue},
        },
    )


def search(
    session: Session,
    *,
    queues: Sequence[str] | None,
    queue: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[JobRow], int]:
    """Jobs newest first, filtered; `queues` None means every queue. Returns (page, total)."""
    conditions: list[Any] = []
    if queues is not None:
        conditions.append(JobRow.queue.in_(list(queues)))
    if queue is not None:
        conditions.append(JobRow.queue == queue)
    if status is not None:
        conditions.append(JobRow.status == status)
    total = session.scalar(select(func.count()).select_from(JobRow).where(*conditions)) or 0
    page = session.scalars(
        select(JobRow)
        .where(*conditions)
        .order_by(JobRow.created_at.desc(), JobRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(page), int(total)


def cancel(session: Session, job: JobRow, *, now: float, by: str) -> None:
    """Cancel a pending or running job; a running job's GPUs are freed (the agent stops it)."""
    was = job.status
    if was == "running":
        allocations.release(session, [job.id])
    job.status = "cancelled"
    job.reason = None
    job.finished_at = now
    job.updated_at = now
    events.record(session, "job.cancelled", at=now, job_id=job.id, data={"from": was, "by": by})


def stop_running(session: Session, job: JobRow, *, now: float, outcome: str, message: str) -> str:
    """End a running job's run; `outcome` lost/preempted requeue or not per policy.

    Returns the job's new status. `outcome` is one of succeeded, failed, lost, preempted.
    """
    allocations.release(session, [job.id])
    if outcome in ("succeeded", "failed"):
        status = outcome
    elif job.requeue:
        status = "pending"
    else:
        status = "preempted" if outcome == "preempted" else "failed"
    job.status = status
    job.message = message
    job.updated_at = now
    if status == "pending":
        job.started_at = None
    else:
        job.finished_at = now
    events.record(
        session,
        f"job.{outcome}",
        at=now,
        job_id=job.id,
        data={"status": status, "message": message},
    )
    return status


def set_running(session: Session, job_ids: Sequence[str], *, now: float) -> int:
    """Move still-pending jobs to running; returns how many moved (others changed meanwhile)."""
    if not job_ids:
        return 0
    result = session.execute(
        update(JobRow)
        .where(JobRow.id.in_(list(job_ids)), JobRow.status == "pending")
        .values(
            status="running",
            reason=None,
            updated_at=now,
            attempts=JobRow.attempts + 1,
            message="",
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
