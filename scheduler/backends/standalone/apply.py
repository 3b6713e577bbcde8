"""Commit one cycle to the store: its decisions in one transaction, then the pending reasons."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from pydantic import TypeAdapter

from scheduler.backends.standalone.snapshot import StoreState
from scheduler.core.decisions import Bind, CycleResult, Evict, PendingReason, ReasonItem, WaitKind
from scheduler.ports import Applied
from scheduler.protocol import JobStatus, ReasonItemJson
from scheduler.settings import Settings
from scheduler.store import binds as binds_store
from scheduler.store import jobs, queues
from scheduler.store.binds import ReplicaStart
from scheduler.store.db import Session

DEFAULT_GRACE = Settings.model_fields["grace_seconds"].default


def write_decisions(
    session: Session,
    *,
    result: CycleResult,
    state: StoreState,
    now: float,
    grace: float = DEFAULT_GRACE,
) -> Applied:
    """Write evictions, binds and fair shares; the caller commits. An evicted job's replicas keep
    their shares held until their agents report them stopped (within `grace` seconds)."""
    applied = Applied()
    evicts = [d for d in result.decisions if isinstance(d, Evict)]
    binds = [d for d in result.decisions if isinstance(d, Bind)]
    if evicts:
        binds = _off_evicted(binds, evicts, state=state, applied=applied)
    for evict in evicts:
        job = jobs.get_for_update(session, evict.job_id)
        if job is None or job.status != JobStatus.RUNNING:
            applied.skipped += 1
            continue
        message = evict.message or f"evicted by {evict.action}"
        jobs.stop_running(
            session, job, now=now, outcome="preempted", message=message, grace=grace
        )
        applied.evicted.append((job.id, evict.action))
    _apply_binds(session, binds, state=state, now=now, applied=applied)
    _store_fair_shares(session, result)
    return applied


def write_reasons(
    session: Session, reasons: Mapping[str, PendingReason], seen: dict[str, PendingReason]
) -> None:
    """Store the reason of every job still pending; the caller commits.

    `seen` (job id → the reason last stored) spares rewriting reasons that did not change; it is
    updated in place and forgets jobs that no longer wait. Reasons are plain frozen data:
    comparing them costs less than serialising every one.
    """
    changed: dict[str, PendingReason] = {}
    for job_id, reason in reasons.items():
        if seen.get(job_id) != reason:
            seen[job_id] = reason
            changed[job_id] = reason
    for gone in seen.keys() - reasons.keys():
        del seen[gone]
    jobs.set_reasons(session, reason_texts(changed))


def reason_texts(reasons: Mapping[str, PendingReason]) -> dict[str, str]:
    """Each reason as the JSON of scheduler.protocol.PendingReasonJson (what the API shows)."""
    writer = _ReasonWriter()
    return {job_id: writer.text(reason) for job_id, reason in reasons.items()}


class _ReasonWriter:
    """PendingReasonJson's JSON, assembled from parts that pydantic encodes once each.

    One cycle's reasons share most of their parts (explain memoises by job shape), so caching by
    object identity, while the reasons are alive, turns thousands of encodings into dozens; a
    model built and dumped per reason costs several times more (benchmarks/reason_json.py).
    The parts are joined in the model's field order with its separators, so the text is
    exactly `PendingReasonJson(...).model_dump_json()` (tests/service/test_reasons.py).
    """

    def __init__(self) -> None:
        self._parts: dict[int, tuple[object, bytes]] = {}

    def text(self, reason: PendingReason) -> str:
        items = b",".join(self._part(item, _item_json) for item in reason.items)
        return b"".join((
            b'{"kind":', self._part(reason.kind, _KIND.dump_json),
            b',"summary":', self._part(reason.summary, _SUMMARY.dump_json),
            b',"items":[', items,
            b'],"node_failures":', self._part(reason.node_failures, _node_failures_json),
            b"}",
        )).decode()

    def _part(self, value: Any, encode: Callable[[Any], bytes]) -> bytes:
        known = self._parts.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        encoded = encode(value)
        self._parts[id(value)] = (value, encoded)  # holding `value` keeps its id unique
        return encoded


_KIND = TypeAdapter(WaitKind)
_SUMMARY = TypeAdapter(str)
_NODE_FAILURES = TypeAdapter(dict[str, int])


def _node_failures_json(failures: Mapping[str, int]) -> bytes:
    return _NODE_FAILURES.dump_json(dict(failures))


def _item_json(item: ReasonItem) -> bytes:
    model = ReasonItemJson(code=item.code, message=item.message, data=_plain(item.data))
    return model.model_dump_json().encode()


def _off_evicted(
    binds: list[Bind], evicts: list[Evict], *, state: StoreState, applied: Applied
) -> list[Bind]:
    """The binds that land on none of the nodes where this cycle's victims run; the others are
    deferred. The core planned them on what the victims free, but the victims keep their GPU
    shares, CPU and memory held until their processes are gone; the next cycle sees those as
    held and places (or explains) the deferred jobs again."""
    victims = {evict.job_id for evict in evicts}
    nodes = {
        placement.node
        for job in state.snapshot.jobs
        if job.id in victims
        for placement in job.placements
    }
    kept = []
    for bind in binds:
        if any(placement.node in nodes for placement in bind.placements):
            applied.deferred.append(bind.job_id)
        else:
            kept.append(bind)
    return kept


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


def _store_fair_shares(session: Session, result: CycleResult) -> None:
    shares = {name: share.gpu_milli for name, share in result.fair_shares.items()}
    queues.store_fair_shares(session, shares)


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
