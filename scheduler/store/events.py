"""The append-only event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from scheduler.store import bulk
from scheduler.store.tables import EventRow


def record(
    session: Session,
    kind: str,
    *,
    at: float,
    job_id: str | None = None,
    node: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction."""
    session.execute(
        insert(EventRow).values(at=at, kind=kind, job_id=job_id, node=node, data=data or {})
    )


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append events given as dicts of at/kind/job_id/node/data (one executemany)."""
    bulk.insert_many(
        session,
        EventRow.__table__,  # type: ignore[arg-type]
        [{"job_id": None, "node": None, "data": {}, **row} for row in rows],
    )


def for_job(session: Session, job_id: str) -> list[EventRow]:
    """The events of one job, oldest first."""
    query = select(EventRow).where(EventRow.job_id == job_id).order_by(EventRow.id)
    return list(session.scalars(query))


def bind_data(session: Session, job_id: str) -> list[dict[str, Any] | None]:
    """The data of each `job.bound` event of a job, in order (the n-th bind is attempt n)."""
    return list(
        session.scalars(
            select(EventRow.data)
            .where(EventRow.job_id == job_id, EventRow.kind == "job.bound")
            .order_by(EventRow.id)
        ).all()
    )
