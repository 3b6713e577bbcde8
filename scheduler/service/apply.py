"""Commit one cycle's decisions to the store in one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, Table, any_, bindparam, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from scheduler.core.decisions import Bind, CycleResult, Evict, PendingReason
from scheduler.service.snapshot import StoreState
from scheduler.store import allocations, bulk, events, jobs
from scheduler.store.allocations import Share
from scheduler.store.tables import JobRow, QueueRow

_jobs: Table = JobRow.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class Applied:
    """What a commit changed: bound and evicted job ids, and the wait time of each bound job."""

    bound: list[str] = field(default_factory=list)
    evicted: list[tuple[str, str]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    skipped: int = 0
    """Decisions about jobs that changed since the snapshot (e.g. cancelled): not applied."""


def reason_json(reason: PendingReason) -> dict[str, Any]:
    """A pending reason as stored in jobs.reason and shown by the API."""
    return {
        "kind": str(reason.kind),
        "summary": reason.summary,
        "items": [
            {"code": item.code, "message": item.message, "data": _plain(item.data)}
            for item in reason.items
        ],
        "node_failures": dict(reason.node_failures),
    }


def commit_decisions(
    session: Session,
    *,
    result: CycleResult,
    state: StoreState,
    now: float,
    reasons_seen: dict[str, str],
) -> Applied:
    """Write evictions, binds, pending reasons and fair shares; the caller commits.

    `reasons_seen` (job id → stored reason JSON) spares rewriting reasons that did not change.
    """
    applied = Applied()
    evicts = [d for d in result.decisions if isinstance(d, Evict)]
    binds = [d for d in result.decisions if isinstance(d, Bind)]
    for evict in evicts:
        job = session.get(JobRow, evict.job_id, with_for_update=True)
        if job is None or job.status != "running":
            applied.skipped += 1
            continue
        message = evict.message or f"evicted by {evict.action}"
        jobs.stop_running(session, job, now=now, outcome="preempted", message=message)
        applied.evicted.append((job.id, evict.action))
    _apply_binds(session, binds, state=state, now=now, applied=applied)
    _store_reasons(session, result.reasons, reasons_seen)
    _store_fair_shares(session, result)
    return applied


def _apply_binds(
    session: Session, binds: list[Bind], *, state: StoreState, now: float, applied: Applied
) -> None:
    if not binds:
        return
    wanted = [b.job_id for b in binds]
    still_pending: set[str] = set()
    size = _chunk_size(session)
    for chunk in _chunks(wanted, size):
        still_pending.update(
            session.scalars(
                select(JobRow.id)
                .where(_ids_match(session, _jobs.c.id, chunk), JobRow.status == "pending")
                .with_for_update()
            )
        )
    replicas: list[tuple[str, int, str]] = []
    shares: list[Share] = []
    bound_events = []
    for bind in binds:
        if bind.job_id not in still_pending:
            applied.skipped += 1
            continue
        for placement in bind.placements:
            replicas.append((bind.job_id, placement.replica, placement.node))
            shares.extend(
                Share(bind.job_id, placement.replica, placement.node, grant.gpu_index, grant.milli)
                for grant in placement.gpus
                if grant.milli > 0
            )
        nodes = sorted({p.node for p in bind.placements})
        bound_events.append(
            {"at": now, "kind": "job.bound", "job_id": bind.job_id, "data": {"nodes": nodes}}
        )
        applied.bound.append(bind.job_id)
        applied.waits.append(now - state.created_at.get(bind.job_id, now))
    allocations.bind(session, replicas=replicas, shares=shares, uuids=state.gpu_uuids)
    for chunk in _chunks(applied.bound, size):
        session.execute(
            update(_jobs)
            .where(_ids_match(session, _jobs.c.id, chunk))
            .values(
                status="running",
                reason=None,
                message="",
                updated_at=now,
                started_at=None,
                attempts=_jobs.c.attempts + 1,
            )
        )
    events.record_many(session, bound_events)


def _store_reasons(
    session: Session, reasons: Mapping[str, PendingReason], seen: dict[str, str]
) -> None:
    changed: dict[str, Any] = {}
    for job_id, reason in reasons.items():
        stored = reason_json(reason)
        key = json.dumps(stored, sort_keys=True)
        if seen.get(job_id) != key:
            seen[job_id] = key
            changed[job_id] = stored
    bulk.set_json_by_id(session, _jobs, column="reason", values=changed, where_status="pending")


def _store_fair_shares(session: Session, result: CycleResult) -> None:
    if not result.fair_shares:
        return
    current = dict(session.execute(select(QueueRow.name, QueueRow.fair_share_milli)).all())
    for name, share in result.fair_shares.items():
        if name in current and current[name] != share.gpu_milli:
            session.execute(
                update(QueueRow)
                .where(QueueRow.name == name)
                .values(fair_share_milli=share.gpu_milli)
            )


def _chunk_size(session: Session) -> int:
    """Ids per statement: SQLite caps bound parameters; PostgreSQL takes them as one array."""
    return 1 << 30 if _is_postgresql(session) else 1000


def _ids_match(session: Session, column: ColumnElement[str], ids: list[str]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL one text[] parameter instead of a placeholder per id
    (thousands of placeholders cost more to render and parse than the statement's work)."""
    if _is_postgresql(session):
        return column == any_(bindparam(None, ids, type_=postgresql.ARRAY(String)))
    return column.in_(ids)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


_SCALARS = (str, int, float, bool, type(None))


def _plain(data: Mapping[str, object]) -> dict[str, Any]:
    """Make reason data JSON-safe (tuples, sets and dataclasses become lists and dicts)."""
    # Most reason data is flat scalars: copying it skips a JSON round trip per item per cycle.
    if all(type(k) is str and type(v) in _SCALARS for k, v in data.items()):
        return dict(data)
    plain: dict[str, Any] = json.loads(json.dumps(dict(data), default=_fallback))
    return plain


def _fallback(value: object) -> object:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    try:
        return asdict(value)  # type: ignore[call-overload]
    except TypeError:
        return str(value)
