"""Why a job waits: which filter stopped how many nodes, the best near-miss, in ranked sentences."""

from __future__ import annotations

import numpy as np

from scheduler.core import held
from scheduler.core.decisions import PendingReason, ReasonItem, WaitKind
from scheduler.core.filters import FILTERS, filter_named
from scheduler.core.model import MILLI_PER_GPU, Job, ReplicaRequest
from scheduler.core.session import Session
from scheduler.core.state import BoolArray, IntArray
from scheduler.core.whatif import ReleasedRows, rows_when_empty

NO_NODES = ReasonItem("no-nodes", "no node has joined the cluster yet (start one: gpusched agent)", {})


def _gpus(milli: int) -> str:
    return f"{milli / MILLI_PER_GPU:.1f}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _filters(session: Session, job: Job) -> list[tuple[str, BoolArray]]:
    """(code, nodes that pass) in the order a node is checked; a node fails at its first miss."""
    state, request = session.state, job.request
    passing = ((f.code, f.mask(state, request)) for f in FILTERS)
    return [(code, ok) for code, ok in passing if ok is not None]


def _best(session: Session, candidates: BoolArray, values: IntArray) -> tuple[str | None, int]:
    """The candidate node with the most of `values` (earliest on ties), and that amount."""
    idx = np.flatnonzero(candidates)
    if not len(idx):
        return None, 0
    best = int(idx[values[idx].argmax()])
    return session.state.nodes[best].name, int(values[best])


def _near_miss(session: Session, job: Job, code: str, candidates: BoolArray) -> ReasonItem:
    state, request = session.state, job.request
    model = "/".join(sorted(request.gpu_models)) + " " if request.gpu_models else ""
    if code == "gpus":
        node, have = _best(session, candidates, state.whole_free)
        where = f" (best: {node} with {have})" if node else ""
        return ReasonItem(
            "gpus",
            f"no node has {_plural(request.whole_gpus, 'free ' + model + 'GPU')}{where}",
            {"needed": request.whole_gpus, "best_node": node, "best_free": have},
        )
    if code == "gpu-share":
        node, have = _best(session, candidates, state.max_share_free)
        need = request.gpu_milli or request.gpu_memory_mib
        amount = f"{need / MILLI_PER_GPU:g}" if request.gpu_milli else f"{need} MiB"
        where = f" (best: {node} with {have / MILLI_PER_GPU:g} free)" if node else ""
        return ReasonItem(
            "gpu-share",
            f"no GPU has {amount} of a {model}GPU free{where}",
            {"needed_milli": request.gpu_milli, "best_node": node, "best_free_milli": have},
        )
    arrays = {"cpu": (state.cpu_free_arr, request.cpu_millis, "m CPU"),
              "memory": (state.mem_free_arr, request.memory_mib, " MiB of memory"),
              "pods": (state.pods_free_arr, 1, " pod slot")}
    if code in arrays:
        values, need, unit = arrays[code]
        node, have = _best(session, candidates, values)
        where = f" (best: {node} with {have}{unit})" if node else ""
        return ReasonItem(code, f"no node has {need}{unit} free{where}", {"needed": need, "best_free": have})
    messages = {
        "node-not-ready": "every node that could hold it is not ready",
        "node-cordoned": "every node that could hold it is cordoned",
        "gpu-model": f"no node has {model.strip() or 'a'} GPU",
    }
    return ReasonItem(code, messages.get(code, code), {})


_SIZES = {"cpu": ("cpu", "m CPU"), "memory": ("memory", " MiB of memory"), "gpus": ("gpus", " GPUs"),
          "gpu-share": ("gpu-memory", " MiB of GPU memory")}
"""Filters that measure size: their code → the resource a too-large reason names, and its unit."""


def _size(empty: ReleasedRows, request: ReplicaRequest, code: str) -> tuple[IntArray, int]:
    """What an empty node has of the resource filter `code` checks, and what one replica needs."""
    if code == "cpu":
        return empty.cpu_free_arr, request.cpu_millis
    if code == "memory":
        return empty.mem_free_arr, request.memory_mib
    if code == "gpus":
        return empty.whole_free, request.whole_gpus
    return empty.gpu_memory, request.gpu_memory_mib  # a share only fails here by GPU memory


def _too_large(session: Session, job: Job) -> ReasonItem | None:
    """Why no node could hold one replica even when empty, or None when some node could."""
    state, request = session.state, job.request
    model_ok = filter_named("gpu-model").mask(state, request)
    ok = model_ok if model_ok is not None else np.ones(len(state), np.bool_)
    if not ok.any():
        wanted = "/".join(sorted(request.gpu_models)) or "any"
        return ReasonItem("gpu-model", f"no node has a {wanted} GPU", {"models": sorted(request.gpu_models)})
    empty = rows_when_empty(state)
    for node_filter in FILTERS:
        passes = node_filter.mask(empty, request) if node_filter.code in _SIZES else None
        if passes is None:
            continue
        enough = ok & passes
        if not enough.any():
            resource, unit = _SIZES[node_filter.code]
            capacity, need = _size(empty, request, node_filter.code)
            largest = int(capacity[ok].max())
            return ReasonItem(
                "too-large",
                f"no node has {need}{unit} in all (largest: {largest}{unit})",
                {"resource": resource, "needed": need, "largest": largest},
            )
        ok = enough
    return None


def _share_item(session: Session, job: Job) -> tuple[ReasonItem, bool] | None:
    """Where the job's queue stands against its fair share (and whether it has reached it)."""
    status = session.queue_standing(job.queue)
    if status is None:
        return None
    ratio, held, share = status
    where = "above" if ratio > 1 else "at" if ratio == 1 else "below"
    item = ReasonItem(
        "fair-share",
        f"queue {job.queue} is {where} its fair share ({_gpus(held.gpu_milli)} of "
        f"{_gpus(share.gpu_milli)} GPUs)",
        {"queue": job.queue, "allocated_gpus": held.gpus, "fair_share_gpus": share.gpus},
    )
    return item, ratio >= 1


def explain_all(session: Session, jobs: list[Job]) -> dict[str, PendingReason]:
    """Reasons for every job in `jobs`; jobs that look alike to the filters share one diagnosis."""
    memo: dict[tuple[object, ...], PendingReason] = {}
    shares: dict[str, tuple[ReasonItem, bool] | None] = {}  # per queue: nothing moves meanwhile
    reasons = {}
    for job in jobs:
        vetoed = tuple(session.waiting.get(job.id, ()))
        notes = tuple(session.notes.get(job.id, ()))
        if job.queue not in shares:
            shares[job.queue] = _share_item(session, job)
        share = shares[job.queue]
        first: tuple[ReasonItem, ...] = ()
        if share is not None and share[1]:
            first = (share[0],)  # the queue's share, not the nodes, is what holds the job back
        elif share is not None:
            notes = (share[0], *notes)
        key = (job.request, job.replicas, session.replicas_fit.get(job.id, 0),
               tuple((item.code, item.message) for item in vetoed))
        reason = memo.get(key)
        if reason is None:
            reason = memo[key] = _with_held(session, job, explain(session, job, vetoed), vetoed)
        if notes or first:
            items = (*vetoed, *first, *reason.items[len(vetoed):], *notes)
            reason = PendingReason(reason.kind, items, reason.node_failures)
        reasons[job.id] = reason
    return reasons


def _with_held(
    session: Session, job: Job, reason: PendingReason, vetoed: tuple[ReasonItem, ...]
) -> PendingReason:
    """The reason, led by 'waiting for J to stop' when a stopping replica's share is the cause."""
    item = None if vetoed else held.waiting_item(session, job)
    if item is None:
        return reason
    return PendingReason(reason.kind, (item, *reason.items), reason.node_failures)


def explain(session: Session, job: Job, vetoed: tuple[ReasonItem, ...] = ()) -> PendingReason:
    """Ranked causes with numbers for a job left pending this cycle (queue vetoes first)."""
    items: list[ReasonItem] = []
    items.extend(vetoed)
    failures: dict[str, int] = {}
    if not len(session.state):  # nodes may still join: unschedulable, not unresolvable
        return PendingReason(WaitKind.UNSCHEDULABLE, (NO_NODES, *items))
    too_large = _too_large(session, job)
    if too_large is not None:
        return PendingReason(WaitKind.UNRESOLVABLE, (too_large, *items))
    if not vetoed:
        passing = np.ones(len(session.state), dtype=np.bool_)
        first_block: tuple[str, BoolArray] | None = None
        for code, ok in _filters(session, job):
            failed = int((passing & ~ok).sum())
            if failed:
                failures[code] = failed
            if first_block is None and not (passing & ok).any():
                first_block = (code, passing.copy())
            passing &= ok
        if job.is_gang:
            fit = session.replicas_fit.get(job.id, 0)
            items.append(ReasonItem(
                "gang",
                f"gang needs {job.replicas} replicas, {fit} fit",
                {"replicas": job.replicas, "fit": fit},
            ))
        if first_block is not None:
            items.append(_near_miss(session, job, *first_block))
        elif not job.is_gang:
            items.append(ReasonItem("placement", "capacity was taken by jobs placed earlier this cycle", {}))
    return PendingReason(WaitKind.UNSCHEDULABLE, tuple(items), failures)
