"""Start pending jobs on their placements: the bulk of every scheduling commit.

For each job still pending: status running, its attempt counted, its replicas (of that attempt)
and GPU shares inserted, each GPU's `allocated_milli` moved (its CHECK rejects overflow), one
`job.bound` event. All in the caller's transaction. The event names the nodes, the attempt and
the GPU shares (`allocations`: replica, node, gpu_index, gpu_uuid, milli), so where a job last
ran outlives its share rows. On PostgreSQL the placements travel by COPY into a temporary table
and one set-based statement does the rest, so thousands of binds cost a COPY and one statement
instead of per-row Python and JSON; SQLite, in-process, runs the same steps as plain statements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.protocol import JobStatus
from scheduler.store import allocations, events
from scheduler.store.allocations import Share
from scheduler.store.tables import JobRow

_jobs: Table = JobRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ReplicaStart:
    """Replica `replica` on `node`, holding (GPU index, milli) shares there (milli > 0)."""

    replica: int
    node: str
    gpus: tuple[tuple[int, int], ...] = ()


def start_pending(
    session: Session,
    starts: Mapping[str, Sequence[ReplicaStart]],
    *,
    uuids: Mapping[tuple[str, int], str],
    now: float,
) -> set[str]:
    """Start every job of `starts` (job id → its replicas) that is still pending; returns their ids.

    Jobs that left `pending` since the snapshot (cancelled, say) are skipped untouched. Events are
    logged in the order of `starts`. `uuids` names GPUs for SQLite; PostgreSQL reads the table.
    """
    if not starts:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        return _start_on_postgresql(session, starts, now=now)
    return _start_stepwise(session, starts, uuids=uuids, now=now)


_SQL_TEMP = """
CREATE TEMPORARY TABLE _cycle_starts (
    seq integer NOT NULL, job_id text NOT NULL, replica integer NOT NULL, node text NOT NULL,
    gpu_index integer, milli integer, first boolean NOT NULL, nodes json
) ON COMMIT DROP
"""

# One statement: the UPDATE decides which jobs are still pending (and locks them), everything
# else joins on what it returned. The GPU CHECK and the primary keys hold as for any insert; the
# references that foreign keys would check row by row (migration 0002) are counted here at once:
# every GPU named must have been updated and every node named must exist, else the caller fails.
_SQL_START = """
WITH started AS (
    UPDATE jobs SET status = 'running', reason = NULL, message = '', updated_at = :now,
        started_at = NULL, attempts = jobs.attempts + 1
    WHERE jobs.status = 'pending' AND jobs.id IN (SELECT job_id FROM _cycle_starts)
    RETURNING jobs.id, jobs.attempts
), placed AS (
    SELECT s.*, started.attempts AS attempt
    FROM _cycle_starts AS s JOIN started ON started.id = s.job_id
), new_replicas AS (
    INSERT INTO replicas (job_id, replica, node, state, over_grant, message, attempt)
    SELECT DISTINCT job_id, replica, node, 'assigned', false, '', attempt FROM placed
), new_shares AS (
    INSERT INTO allocations (job_id, replica, node, gpu_index, gpu_uuid, milli)
    SELECT p.job_id, p.replica, p.node, p.gpu_index, coalesce(g.uuid, ''), p.milli
    FROM placed AS p LEFT JOIN gpus AS g ON g.node = p.node AND g."index" = p.gpu_index
    WHERE p.gpu_index IS NOT NULL
), per_gpu AS (
    SELECT node, gpu_index, sum(milli) AS milli FROM placed
    WHERE gpu_index IS NOT NULL GROUP BY node, gpu_index
), moved AS (
    UPDATE gpus SET allocated_milli = gpus.allocated_milli + d.milli
    FROM per_gpu AS d
    WHERE gpus.node = d.node AND gpus."index" = d.gpu_index
    RETURNING 1
), grants AS (
    SELECT p.job_id, json_agg(json_build_object(
        'replica', p.replica, 'node', p.node, 'gpu_index', p.gpu_index,
        'gpu_uuid', coalesce(g.uuid, ''), 'milli', p.milli
    ) ORDER BY p.replica, p.node, p.gpu_index) AS shares
    FROM placed AS p LEFT JOIN gpus AS g ON g.node = p.node AND g."index" = p.gpu_index
    WHERE p.gpu_index IS NOT NULL GROUP BY p.job_id
), logged AS (
    INSERT INTO events (at, kind, job_id, node, data)
    SELECT :now, 'job.bound', p.job_id, NULL, json_build_object(
        'nodes', coalesce(p.nodes, json_build_array(p.node)),
        'attempt', p.attempt,
        'allocations', coalesce(grants.shares, '[]'::json))
    FROM placed AS p LEFT JOIN grants ON grants.job_id = p.job_id WHERE p.first ORDER BY p.seq
)
SELECT
    (SELECT array_agg(id) FROM started),
    (SELECT count(*) FROM per_gpu) - (SELECT count(*) FROM moved),
    (SELECT count(*) FROM (SELECT DISTINCT node FROM placed) AS p
     WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.name = p.node))
"""


def _start_on_postgresql(
    session: Session, starts: Mapping[str, Sequence[ReplicaStart]], *, now: float
) -> set[str]:
    session.execute(text(_SQL_TEMP))
    # One row per GPU share (or per replica without GPUs); the job's first row carries its event.
    rows: list[tuple[object, ...]] = []
    for seq, (job_id, replicas) in enumerate(starts.items()):
        nodes = sorted({start.node for start in replicas})
        spread = json.dumps(nodes) if len(nodes) > 1 else None  # else: the row's own node
        first = True
        for start in replicas:
            for gpu_index, milli in start.gpus or ((None, None),):
                rows.append((seq, job_id, start.replica, start.node, gpu_index, milli, first, spread))
                first = False
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        columns = "seq, job_id, replica, node, gpu_index, milli, first, nodes"
        with cursor.copy(f"COPY _cycle_starts ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    ids, unknown_gpus, unknown_nodes = session.execute(text(_SQL_START), {"now": now}).one()
    if unknown_gpus or unknown_nodes:
        raise IntegrityError(
            "start jobs",
            None,
            LookupError(
                f"placements name {unknown_gpus} unknown GPU(s) and {unknown_nodes} unknown "
                "node(s); nothing of this cycle is kept"
            ),
        )
    session.execute(text("DROP TABLE _cycle_starts"))
    return set(ids or ())


def _start_stepwise(
    session: Session,
    starts: Mapping[str, Sequence[ReplicaStart]],
    *,
    uuids: Mapping[tuple[str, int], str],
    now: float,
) -> set[str]:
    wanted = list(starts)
    attempts: dict[str, int] = {}  # the attempt each bind makes: the job's counter after it
    for chunk in _chunks(wanted):
        attempts.update(
            (job_id, done + 1)
            for job_id, done in session.execute(
                select(JobRow.id, JobRow.attempts)
                .where(JobRow.id.in_(chunk), JobRow.status == JobStatus.PENDING.value)
                .with_for_update()
            )
        )
    pending = set(attempts)
    replicas: list[tuple[str, int, str]] = []
    shares: list[Share] = []
    bound_events = []
    for job_id, starts_of_job in starts.items():
        if job_id not in pending:
            continue
        placed: list[tuple[int, str, int, int]] = []
        for start in starts_of_job:
            replicas.append((job_id, start.replica, start.node))
            placed.extend((start.replica, start.node, i, m) for i, m in start.gpus)
        shares.extend(Share(job_id, r, n, i, m) for r, n, i, m in placed)
        nodes = sorted({start.node for start in starts_of_job})
        grants = [
            {"replica": r, "node": n, "gpu_index": i, "gpu_uuid": uuids.get((n, i), ""), "milli": m}
            for r, n, i, m in sorted(placed)
        ]
        bound_events.append(
            {
                "at": now,
                "kind": "job.bound",
                "job_id": job_id,
                "data": {"nodes": nodes, "attempt": attempts[job_id], "allocations": grants},
            }
        )
    allocations.bind(
        session, replicas=replicas, shares=shares, uuids=dict(uuids), attempts=attempts
    )
    started = [job_id for job_id in wanted if job_id in pending]
    for chunk in _chunks(started):
        session.execute(
            update(_jobs)
            .where(_jobs.c.id.in_(bindparam("ids", expanding=True)))
            .values(
                status=JobStatus.RUNNING.value,
                reason=None,
                message="",
                updated_at=now,
                started_at=None,
                attempts=_jobs.c.attempts + 1,
            ),
            {"ids": chunk},
        )
    events.record_many(session, bound_events)
    return pending


def _chunks(items: list[str], size: int = 1000) -> list[list[str]]:
    """SQLite caps bound parameters per statement."""
    return [items[i : i + size] for i in range(0, len(items), size)]
