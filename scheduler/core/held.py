"""Capacity held by what the scheduler may not move (stopping replicas): charged, and explained."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.core.decisions import ReasonItem
from scheduler.core.model import MILLI_PER_GPU, HeldShare, Job, ReplicaRequest
from scheduler.core.state import ClusterState

if TYPE_CHECKING:
    from scheduler.core.session import Session


def _as_request(share: HeldShare) -> ReplicaRequest:
    """The request whose `take` charges exactly what `share` holds (its GPU class for tags)."""
    milli = [grant.milli for grant in share.gpus]
    if len(milli) == 1 and milli[0] <= MILLI_PER_GPU:
        gpu_milli = milli[0]
    elif milli and all(m == MILLI_PER_GPU for m in milli):
        gpu_milli = MILLI_PER_GPU * len(milli)
    else:
        gpu_milli = 0
    return ReplicaRequest(share.cpu_millis, share.memory_mib, gpu_milli)


def charge(state: ClusterState, held: Sequence[HeldShare]) -> None:
    """Take what each held share holds from its node's free capacity (nodes gone: nothing)."""
    for share in held:
        i = state.index.get(share.node)
        if i is not None:
            state.take(i, _as_request(share), share.gpus)


def waiting_item(session: Session, job: Job) -> ReasonItem | None:
    """'waiting for J to stop' when `job` would fit on a node if its held shares were gone."""
    held, state = session.held, session.state
    if not held:
        return None
    before = session.feasible(job.request)
    if before.any() and not job.is_gang:
        return None  # it fits somewhere already: what holds it back is not a stopping replica
    # What-if: give the held capacity back, ask the same filters, take it again.
    releases = state.releases
    for share in held:
        i = state.index.get(share.node)
        if i is not None:
            state.give_back(i, _as_request(share), share.gpus)
    try:
        after = session.feasible(job.request)
    finally:
        charge(state, held)
        state.releases = releases
    freed = after & ~before
    by_node: dict[str, list[HeldShare]] = {}
    for share in held:
        i = state.index.get(share.node)
        if i is not None and freed[i]:
            by_node.setdefault(share.node, []).append(share)
    if not by_node:
        return None
    # The node that frees first frees when its last holder has stopped.
    node, shares = min(
        by_node.items(), key=lambda item: (max(s.stopping_until for s in item[1]), item[0])
    )
    last = max(shares, key=lambda s: (s.stopping_until, s.owner))
    left = max(0, math.ceil(last.stopping_until - session.now))
    return ReasonItem(
        "held",
        f"waiting for {last.owner} to stop (grace {left} s)",
        {"owner": last.owner, "node": node, "grace_left_seconds": left,
         "owners": sorted({s.owner for s in shares})},
    )
