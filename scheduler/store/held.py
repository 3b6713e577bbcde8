"""Shares of stopping replicas: a run that ends keeps each live replica's share until it is gone.

A GPU share is free only when its process is gone. When a run ends (cancel, eviction, a gang's
failed sibling, a lost node), each replica the agent has not reported finished may still run
through its grace: its GPU shares move from `allocations` to `held` and stay counted in
`gpus.allocated_milli`, so the GPU check refuses any bind onto them. The agent's report of that
(job, replica, attempt) finished, or a full report that no longer lists it, or the node being
declared lost (its agent has fenced itself by then) gives them back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from scheduler.protocol import FINISHED_STATES
from scheduler.store import allocations
from scheduler.store.tables import AllocationRow, HeldRow, JobRow, ReplicaRow

Key = tuple[str, int, int]
"""(job id, replica, attempt)."""


def end_run(
    session: Session,
    job: JobRow,
    *,
    now: float,
    grace: float,
    gone_nodes: Collection[str] = (),
) -> int:
    """Forget the job's replicas: shares of finished ones (or on `gone_nodes`) are freed, the
    others held until `now + grace` at least; returns how many replicas are held."""
    replicas = session.scalars(
        select(ReplicaRow).where(ReplicaRow.job_id == job.id).order_by(ReplicaRow.replica)
    ).all()
    grants: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for alloc in session.scalars(select(AllocationRow).where(AllocationRow.job_id == job.id)):
        grants[alloc.replica].append((alloc.node, alloc.gpu_index, alloc.milli))
    freed: list[tuple[str, int, int]] = []
    held: list[HeldRow] = []
    for rep in replicas:
        if rep.state in FINISHED_STATES or rep.node in gone_nodes:
            freed.extend((node, index, -milli) for node, index, milli in grants[rep.replica])
            continue
        held.append(
            HeldRow(
                job_id=job.id,
                replica=rep.replica,
                attempt=rep.attempt,
                node=rep.node,
                gpus=[[index, milli] for _, index, milli in grants[rep.replica]],
                cpu_millis=job.cpu_millis,
                memory_mib=job.memory_mib,
                since=now,
                stopping_until=now + grace,
            )
        )
    allocations.move_milli(session, freed)
    session.execute(delete(AllocationRow).where(AllocationRow.job_id == job.id))
    session.execute(delete(ReplicaRow).where(ReplicaRow.job_id == job.id))
    # An older attempt of the same key can still be held (a requeue re-bound it, and it ended
    # again): the newer attempt is a different key, so nothing collides.
    session.add_all(held)
    session.flush()
    return len(held)


def on_node(session: Session, node: str) -> list[HeldRow]:
    """The shares held on `node`, row-locked (two heartbeats must not free one twice)."""
    return list(
        session.scalars(
            select(HeldRow).where(HeldRow.node == node).order_by(HeldRow.job_id).with_for_update()
        )
    )


def release_gone(session: Session, node: str, *, reports: Iterable[tuple[Key, str]]) -> int:
    """Free what `node` holds for replicas its agent's full report says are gone; returns how
    many. `reports` are (key, state) of every replica the agent still knows."""
    states = dict(reports)
    gone = [
        row for row in on_node(session, node)
        if states.get((row.job_id, row.replica, row.attempt), "absent") != "running"
    ]
    _free(session, gone)
    return len(gone)


def release_nodes(session: Session, nodes: Sequence[str]) -> int:
    """Free every share held on `nodes` (declared lost: their agents have fenced themselves)."""
    if not nodes:
        return 0
    rows = list(
        session.scalars(select(HeldRow).where(HeldRow.node.in_(list(nodes))).with_for_update())
    )
    _free(session, rows)
    return len(rows)


def all_held(session: Session) -> list[HeldRow]:
    return list(session.scalars(select(HeldRow).order_by(HeldRow.node, HeldRow.job_id)))


def _free(session: Session, rows: Sequence[HeldRow]) -> None:
    if not rows:
        return
    allocations.move_milli(
        session,
        ((row.node, int(index), -int(milli)) for row in rows for index, milli in row.gpus),
    )
    keys = [(row.job_id, row.replica, row.attempt) for row in rows]
    session.execute(
        delete(HeldRow).where(tuple_(HeldRow.job_id, HeldRow.replica, HeldRow.attempt).in_(keys))
    )
