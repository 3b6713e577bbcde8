"""Commit one cycle's decisions to the store in one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from scheduler.core.decisions import Bind, CycleResult, Evict, PendingReason
from scheduler.service.snapshot import StoreState
from scheduler.store import binds as binds_store
from scheduler.store import bulk, jobs
from scheduler.store.binds import ReplicaStart
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
    reasons_seen: dict[str, PendingReason],
) -> Applied:
    """Write evictions, binds, pending reasons and fair shares; the caller commits.

    `reasons_seen` (job id → the reason last stored) spares rewriting reasons that did not change;
    it is updated in place (and forgets jobs that no longer wait).
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
    starts = {
        bind.job_id: [
            ReplicaStart(
                p.replica, p.node, tuple((g.gpu_index, g.milli) for g in p.gpus if g.milli > 0)
            )
            for p in bind.placements
        ]
        for bind in binds
    }
    started = binds_store.start_pending(session, starts, uuids=state.gpu_uuids, now=now)
    created_at = state.created_at
    for bind in binds:
        if bind.job_id not in started:
            applied.skipped += 1
            continue
        applied.bound.append(bind.job_id)
        applied.waits.append(now - created_at.get(bind.job_id, now))


def _store_reasons(
    session: Session, reasons: Mapping[str, PendingReason], seen: dict[str, PendingReason]
) -> None:
    # Reasons are plain frozen data: comparing them costs less than serialising every one.
    changed: dict[str, Any] = {}
    for job_id, reason in reasons.items():
        if seen.get(job_id) != reason:
            seen[job_id] = reason
            changed[job_id] = reason_json(reason)
    for gone in seen.keys() - reasons.keys():
        del seen[gone]
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
