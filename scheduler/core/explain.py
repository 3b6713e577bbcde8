"""Why a job waits: which filter stopped how many nodes, the best near-miss, in ranked sentences."""

from __future__ import annotations

import numpy as np

from scheduler.core.decisions import PendingReason, ReasonItem, WaitKind
from scheduler.core.model import MILLI_PER_GPU, Job
from scheduler.core.session import Session
from scheduler.core.state import BoolArray


def _gpus(milli: int) -> str:
    return f"{milli / MILLI_PER_GPU:g}"


def _filters(session: Session, job: Job) -> list[tuple[str, BoolArray]]:
    """(code, nodes that pass) in the order a node is checked; a node fails at its first miss."""
    state, request = session.state, job.request
    nodes = state.nodes
    ready = np.array([node.ready for node in nodes], dtype=np.bool_)
    uncordoned = np.array([not node.cordoned for node in nodes], dtype=np.bool_)
    models = state.model_mask(request.gpu_models)
    model_ok = models[state.model_id] if models is not None else np.ones(len(nodes), np.bool_)
    if request.wants_gpu:
        model_ok = model_ok & (np.array(state.gpu_count) > 0)
    filters = [
        ("node-not-ready", ready),
        ("node-cordoned", uncordoned),
        ("gpu-model", model_ok),
        ("cpu", state.cpu_free_arr >= request.cpu_millis),
        ("memory", state.mem_free_arr >= request.memory_mib),
        ("pods", state.pods_free_arr >= 1),
    ]
    if request.whole_gpus:
        filters.append(("gpus", state.whole_free >= request.whole_gpus))
    elif request.wants_gpu:
        filters.append(("gpu-share", state.feasible(request, None) | ~state.usable))
    return filters


def _near_miss(session: Session, job: Job, code: str, candidates: BoolArray) -> ReasonItem:
    state, request = session.state, job.request
    idx = np.flatnonzero(candidates)
    model = "/".join(sorted(request.gpu_models)) + " " if request.gpu_models else ""
    if code == "gpus":
        best = int(idx[state.whole_free[idx].argmax()]) if len(idx) else -1
        have = int(state.whole_free[best]) if best >= 0 else 0
        where = f" (best: {state.nodes[best].name} with {have})" if best >= 0 else ""
        return ReasonItem(
            "gpus",
            f"no node has {request.whole_gpus} free {model}GPUs{where}",
            {"needed": request.whole_gpus, "best_node": state.nodes[best].name if best >= 0 else None,
             "best_free": have},
        )
    if code == "gpu-share":
        best = int(idx[state.max_share_free[idx].argmax()]) if len(idx) else -1
        have = int(state.max_share_free[best]) if best >= 0 else 0
        need = request.gpu_milli or request.gpu_memory_mib
        what = f"{_gpus(need)} of a {model}GPU" if request.gpu_milli else f"{need} MiB of a {model}GPU"
        where = f" (best: {state.nodes[best].name} with {_gpus(have)} free)" if best >= 0 else ""
        return ReasonItem(
            "gpu-share",
            f"no GPU has {what} free{where}",
            {"needed_milli": request.gpu_milli, "best_node": state.nodes[best].name if best >= 0 else None,
             "best_free_milli": have},
        )
    arrays = {"cpu": (state.cpu_free_arr, request.cpu_millis, "m CPU"),
              "memory": (state.mem_free_arr, request.memory_mib, " MiB of memory"),
              "pods": (state.pods_free_arr, 1, " pod slot")}
    if code in arrays:
        values, need, unit = arrays[code]
        best = int(idx[values[idx].argmax()]) if len(idx) else -1
        have = int(values[best]) if best >= 0 else 0
        where = f" (best: {state.nodes[best].name} with {have}{unit})" if best >= 0 else ""
        return ReasonItem(code, f"no node has {need}{unit} free{where}", {"needed": need, "best_free": have})
    messages = {
        "node-not-ready": "every node that could hold it is not ready",
        "node-cordoned": "every node that could hold it is cordoned",
        "gpu-model": f"no node has {model.strip() or 'a'} GPU",
    }
    return ReasonItem(code, messages.get(code, code), {})


def _could_ever_fit(session: Session, job: Job) -> bool:
    state, request = session.state, job.request
    models = state.model_mask(request.gpu_models)
    ok = models[state.model_id] if models is not None else np.ones(len(state), np.bool_)
    ok = ok & (np.array([n.cpu_millis for n in state.nodes]) >= request.cpu_millis)
    ok = ok & (np.array([n.memory_mib for n in state.nodes]) >= request.memory_mib)
    counts = np.array(state.gpu_count)
    if request.whole_gpus:
        ok = ok & (counts >= request.whole_gpus)
    elif request.gpu_memory_mib and not request.gpu_milli:
        ok = ok & (counts > 0) & (state.gpu_memory >= request.gpu_memory_mib)
    elif request.wants_gpu:
        ok = ok & (counts > 0)
    return bool(ok.any())


def explain(session: Session, job: Job) -> PendingReason:
    """Ranked causes with numbers for a job left pending this cycle."""
    items: list[ReasonItem] = []
    queue_items = session.waiting.get(job.id, [])
    vetoed = [item for item in queue_items if item.code != "jobs-ahead"]
    items.extend(vetoed)
    failures: dict[str, int] = {}
    if not _could_ever_fit(session, job):
        items.insert(0, ReasonItem(
            "too-large",
            "no node could ever hold one replica as requested (CPU, memory, GPU count or model)",
            {},
        ))
        return PendingReason(WaitKind.UNRESOLVABLE, tuple(items))
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
    items.extend(item for item in queue_items if item.code == "jobs-ahead")
    return PendingReason(WaitKind.UNSCHEDULABLE, tuple(items), failures)
