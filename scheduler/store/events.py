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


def attempt_nodes(session: Session, job_id: str, attempt: int) -> list[str]:
    """The nodes attempt `attempt` of a job was bound to, from its `job.bound` events (events from
    before attempts were recorded count as the n-th bind being attempt n); [] if none."""
    for number, data in enumerate(bind_data(session, job_id), start=1):
        if int((data or {}).get("attempt", number)) == attempt:
            return [str(node) for node in (data or {}).get("nodes", [])]
    return []


def bind_data(session: Session, job_id: str) -> list[dict[str, Any] | None]:
    """The data of each `job.bound` event of a job, in order (the n-th bind is attempt n)."""
    return list(
        session.scalars(
            select(EventRow.data)
            .where(EventRow.job_id == job_id, EventRow.kind == "job.bound")
            .order_by(EventRow.id)
        ).all()
    )
