"""Job repository: submit, read, and the state changes, each with its event."""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, TextClause, func, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from scheduler.protocol import JobStatus
from scheduler.store import bulk, events, held
from scheduler.store.tables import EventRow, JobRow, ReplicaRow


def new_id() -> str:
    """A fresh job id: 16 random hex digits."""
    with _ids_lock:
        if not _ids:
            # One system call per 512 ids: a submit storm otherwise makes one per request, and
            # each gives up the GIL (which another thread may then hold for a switch interval).
            digits = secrets.token_hex(8 * 512)
            _ids.extend(digits[i : i + 16] for i in range(0, len(digits), 16))
        return _ids.pop()


_ids: list[str] = []
_ids_lock = threading.Lock()


def get(session: Session, job_id: str) -> JobRow | None:
    return session.get(JobRow, job_id)


def get_for_update(session: Session, job_id: str) -> JobRow | None:
    """The job, row-locked until commit and re-read (a concurrent cycle may have just bound it)."""
    return session.get(JobRow, job_id, with_for_update=True, populate_existing=True)


def by_idempotency_key(session: Session, token_id: int, key: str) -> JobRow | None:
    return by_idempotency_keys(session, token_id, [key]).get(key)


# Core (table) INSERTs run on the session's connection: the ORM's bulk-insert path costs
# more Python per row than the round trip itself.
_JOBS: Table = JobRow.__table__  # type: ignore[assignment]
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
_INSERT_EVENT = insert(_EVENTS)


def _submitted(job_id: str, queue: str, at: float) -> dict[str, Any]:
    """The `job.submitted` event row of a new job (PostgreSQL's add_many builds it in SQL)."""
    return {"at": at, "kind": "job.submitted", "job_id": job_id, "node": None,
            "data": {"queue": queue}}


def add_many(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert new pending jobs and a `job.submitted` event for each; returns the ids inserted.

    Each row holds the same job columns (all but `reason`, left NULL). Rows are skipped, not
    refused, when their (token_id, idempotency_key) is already stored (the caller looks the
    earlier job up) or, on PostgreSQL, when their queue has child queues (the caller re-checks
    them). Any other conflict raises. On PostgreSQL it is one statement, atomic even on an
    autocommit connection; elsewhere one multi-row INSERT for jobs and one for events.
    """
    if not rows:
        return set()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        result = connection.execute(_submit_statement(tuple(rows[0])), {"rows": json.dumps(rows)})
        return {str(job_id) for (job_id,) in result}
    statement = sqlite.insert(_JOBS).on_conflict_do_nothing(
        index_elements=["token_id", "idempotency_key"]
    )
    result = connection.execute(statement.returning(_JOBS.c.id), list(rows))
    inserted = {str(job_id) for (job_id,) in result}
    events = [
        _submitted(row["id"], row["queue"], row["created_at"]) for row in rows if row["id"] in inserted
    ]
    if events:
        connection.execute(_INSERT_EVENT, events)
    return inserted


@functools.cache
def _submit_statement(columns: tuple[str, ...]) -> TextClause:
    # The rows travel as one JSON parameter; a data-modifying WITH inserts the jobs and their
    # events in one statement (one round trip, one implicit transaction under autocommit).
    names = ", ".join(f'"{name}"' for name in columns)
    return text(
        f"WITH input AS (SELECT {names} "
        "FROM json_populate_recordset(NULL::jobs, CAST(:rows AS json))), "
        f"new AS (INSERT INTO jobs ({names}) SELECT {names} FROM input "
        "WHERE NOT EXISTS (SELECT 1 FROM queues AS child WHERE child.parent = input.queue) "
        "ON CONFLICT (token_id, idempotency_key) DO NOTHING RETURNING id, queue, created_at), "
        "submitted AS (INSERT INTO events (at, kind, job_id, data) "
        "SELECT created_at, 'job.submitted', id, json_build_object('queue', queue) FROM new) "
        "SELECT id FROM new"
    )


def by_idempotency_keys(
    session: Session, token_id: int, keys: Sequence[str]
) -> dict[str, JobRow]:
    """The stored jobs of one token under any of `keys`, by key."""
    if not keys:
        return {}
    query = select(JobRow).where(
        JobRow.token_id == token_id, JobRow.idempotency_key.in_(list(keys))
    )
    return {str(job.idempotency_key): job for job in session.scalars(query)}


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


def cancel(session: Session, job: JobRow, *, now: float, by: str, grace: float) -> None:
    """Cancel a pending or running job; a running job's shares are held until the agent reports
    its processes gone (it stops them within `grace` seconds)."""
    was = job.status
    if was == JobStatus.RUNNING:
        held.end_run(session, job, now=now, grace=grace)
    job.status = JobStatus.CANCELLED.value
    job.reason = None
    job.finished_at = now
    job.updated_at = now
    events.record(session, "job.cancelled", at=now, job_id=job.id, data={"from": was, "by": by})


def stop_running(
    session: Session,
    job: JobRow,
    *,
    now: float,
    outcome: str,
    message: str,
    grace: float,
    gone_nodes: Collection[str] = (),
) -> str:
    """End a running job's run; `outcome` lost/preempted requeue or not per policy.

    Returns the job's new status. `outcome` is one of succeeded, failed, lost, preempted.
    Replicas still running (not reported finished, not on `gone_nodes`) keep their shares held
    until their agent reports them gone (scheduler.store.held).
    """
    held.end_run(session, job, now=now, grace=grace, gone_nodes=gone_nodes)
    status: JobStatus
    if outcome in ("succeeded", "failed"):
        status = JobStatus(outcome)
    elif job.requeue:
        status = JobStatus.PENDING
    else:
        status = JobStatus.PREEMPTED if outcome == "preempted" else JobStatus.FAILED
    job.status = status.value
    job.message = message
    job.updated_at = now
    if status is JobStatus.PENDING:
        job.started_at = None
    else:
        job.finished_at = now
    events.record(
        session,
        f"job.{outcome}",
        at=now,
        job_id=job.id,
        data={"status": status.value, "message": message},
    )
    return status.value


def set_reasons(session: Session, reasons: Mapping[str, str]) -> None:
    """Store each job's pending reason (JSON text) on the jobs still pending; no commit."""
    bulk.set_json_by_id(session, _JOBS, column="reason", values=reasons, where_status="pending")


def running_on_for_update(session: Session, nodes: Sequence[str]) -> list[JobRow]:
    """Running jobs with a replica bound to one of `nodes`, row-locked until commit."""
    return list(
        session.scalars(
            select(JobRow)
            .where(
                JobRow.status == JobStatus.RUNNING.value,
                JobRow.id.in_(select(ReplicaRow.job_id).where(ReplicaRow.node.in_(nodes))),
            )
            .with_for_update()
        )
    )


def replica(session: Session, job_id: str, replica: int) -> ReplicaRow | None:
    """One replica's binding, re-read from the database (the caller holds its job's lock)."""
    return session.get(ReplicaRow, (job_id, replica), populate_existing=True)


def replicas_of(session: Session, job_id: str) -> Sequence[ReplicaRow]:
    """Every replica binding of a job."""
    return session.scalars(select(ReplicaRow).where(ReplicaRow.job_id == job_id)).all()


def running_replicas_on(session: Session, node: str) -> list[tuple[ReplicaRow, JobRow]]:
    """Every replica bound to `node` of a running job, with its job, by job and replica."""
    rows = session.execute(
        select(ReplicaRow, JobRow)
        .join(JobRow, JobRow.id == ReplicaRow.job_id)
        .where(ReplicaRow.node == node, JobRow.status == JobStatus.RUNNING.value)
        .order_by(ReplicaRow.job_id, ReplicaRow.replica)
    ).all()
    return [(replica, job) for replica, job in rows]


def master_nodes(session: Session, job_ids: Sequence[str]) -> dict[str, str]:
    """Job id → the node its replica 0 is bound to (the gang's rendezvous)."""
    rows = session.execute(
        select(ReplicaRow.job_id, ReplicaRow.node).where(
            ReplicaRow.job_id.in_(job_ids), ReplicaRow.replica == 0
        )
    ).all()
    return {job_id: node for job_id, node in rows}
