"""From a snapshot to the division's inputs: capacity, demand and allocation per queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from scheduler.core.fairshare.division import divide_fair_share
from scheduler.core.fairshare.tree import build_tree
from scheduler.core.model import MILLI_PER_GPU, Job, JobStatus, Node, Resources, Snapshot


def cluster_capacity(nodes: Iterable[Node]) -> Resources:
    """What the ready nodes offer: their CPU, memory and healthy GPUs.

    Cordoned nodes count: their running jobs still hold resources that the queues' allocations
    include, and leaving them out would make allocations exceed the capacity.
    """
    total = Resources()
    for node in nodes:
        if not node.ready:
            continue
        healthy = sum(1 for gpu in node.gpus if gpu.healthy)
        total += Resources(node.cpu_millis, node.memory_mib, healthy * MILLI_PER_GPU)
    return total


def allocated_by_queue(jobs: Iterable[Job]) -> dict[str, Resources]:
    """What each queue's running jobs hold."""
    held: dict[str, Resources] = defaultdict(Resources)
    for job in jobs:
        if job.status == JobStatus.RUNNING:
            held[job.queue] += job.total_request
    return dict(held)


def demand_by_queue(jobs: Iterable[Job]) -> dict[str, Resources]:
    """What each queue's running and pending jobs ask for together."""
    wanted: dict[str, Resources] = defaultdict(Resources)
    for job in jobs:
        if job.status in (JobStatus.RUNNING, JobStatus.PENDING):
            wanted[job.queue] += job.total_request
    return dict(wanted)


def snapshot_fair_shares(
    snapshot: Snapshot, *, usage: Mapping[str, Resources] | None = None
) -> dict[str, Resources]:
    """Fair share of every queue of `snapshot` over its ready nodes.

    Jobs of queues that are unknown or not leaves are left out of the demand (they cannot be
    scheduled, and one bad job must not stop the cycle); the same goes for their usage.
    """
    tree = build_tree(snapshot.queues)

    def leaf_only(amounts: Mapping[str, Resources]) -> dict[str, Resources]:
        return {q: a for q, a in amounts.items() if q in tree.queues and tree.is_leaf(q)}

    return divide_fair_share(
        queues=snapshot.queues,
        demand=leaf_only(demand_by_queue(snapshot.jobs)),
        capacity=cluster_capacity(snapshot.nodes),
        usage=None if usage is None else leaf_only(usage),
    )
