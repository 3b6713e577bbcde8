"""Fair-share division: each queue's share of every resource, from quotas, weights and demand.

The rule, applied to each resource on its own and at each level of the tree (the cluster's
capacity among the top-level queues, then each queue's share among its children):

1. Deserved: every queue gets min(deserved, demand), where a queue's demand is its jobs' demand
   (a leaf) or the sum of its children's demands (a parent), in both cases capped by its limit.
   When these guaranteed parts do not all fit, the capacity is water-filled in proportion to
   the deserved quotas: every quota is scaled down by one common factor, and a queue that needs
   less than its scaled quota keeps only its need, the rest going to the others.
2. Over quota: what is left goes to queues with unmet demand, higher priority first and
   completely; among equal priority by water-filling in proportion to over_quota_weight (a
   queue whose demand or limit is reached drops out and its part goes to the others). A weight
   of 0 takes only what the weighted queues of its priority leave.

Arithmetic is exact (fractions) within a level; each queue's share is then rounded down to a
whole unit (a thousandth of a GPU, a milli-CPU, a MiB), so shares never sum above what their
parent has: at most one unit per sibling stays unassigned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from scheduler.core.fairshare.tree import QueueTree, QueueTreeError, build_tree
from scheduler.core.fairshare.usage import usage_adjusted_weights
from scheduler.core.fairshare.waterfill import Claim, water_fill
from scheduler.core.model import Queue, Resources

RESOURCE_NAMES = ("gpu_milli", "cpu_millis", "memory_mib")
"""The fields of Resources divided, each independently of the others."""


@dataclass(frozen=True, slots=True)
class SiblingClaim:
    """What one queue brings to the division of its parent's share, for one resource."""

    deserved: int
    demand: int
    """Demand already capped by the queue's limit."""
    weight: Fraction
    priority: int


def divide_fair_share(
    *,
    queues: Sequence[Queue],
    demand: Mapping[str, Resources],
    capacity: Resources,
    usage: Mapping[str, Resources] | None = None,
) -> dict[str, Resources]:
    """Fair share of every queue (parents too) of `capacity`, given each leaf queue's demand.

    `usage` (decayed past usage per leaf, see usage.decay_usage) turns on time-based fairness:
    it lowers the over-quota weight of queues that used more than their share. Raises
    QueueTreeError on an invalid tree or on demand/usage for an unknown or non-leaf queue.
    """
    tree = build_tree(queues)
    _check_leaf_amounts(tree, demand, "demand")
    if usage is not None:
        _check_leaf_amounts(tree, usage, "usage")
    _check_capacity(capacity)
    per_resource = {
        resource: _divide_resource(
            tree,
            resource=resource,
            capacity=getattr(capacity, resource),
            demand={name: getattr(amount, resource) for name, amount in demand.items()},
            usage=None
            if usage is None
            else {name: getattr(amount, resource) for name, amount in usage.items()},
        )
        for resource in RESOURCE_NAMES
    }
    return {
        name: Resources(**{resource: per_resource[resource][name] for resource in RESOURCE_NAMES})
        for name in tree.top_down()
    }


def divide_among_siblings(amount: int, claims: Sequence[SiblingClaim]) -> list[int]:
    """Split `amount` of one resource among sibling queues by deserved, priority, then weight."""
    exact_amount = Fraction(amount)
    guaranteed = water_fill(
        exact_amount,
        [
            Claim(weight=Fraction(c.deserved), cap=Fraction(min(c.deserved, c.demand)))
            for c in claims
        ],
    )
    left = exact_amount - sum(guaranteed, Fraction(0))
    extra = [Fraction(0)] * len(claims)
    for priority in sorted({c.priority for c in claims}, reverse=True):
        group = [i for i, c in enumerate(claims) if c.priority == priority]
        filled = water_fill(
            left,
            [Claim(weight=claims[i].weight, cap=claims[i].demand - guaranteed[i]) for i in group],
        )
        for i, part in zip(group, filled, strict=True):
            extra[i] = part
        left -= sum(filled, Fraction(0))
    return [math.floor(g + e) for g, e in zip(guaranteed, extra, strict=True)]


def _divide_resource(
    tree: QueueTree,
    *,
    resource: str,
    capacity: int,
    demand: Mapping[str, int],
    usage: Mapping[str, int] | None,
) -> dict[str, int]:
    order = tree.top_down()
    capped_demand: dict[str, int] = {}
    subtree_usage: dict[str, int] = {}
    for name in reversed(order):  # children before parents
        queue = tree.queues[name]
        kids = tree.children.get(name, ())
        raw = sum(capped_demand[k] for k in kids) if kids else demand.get(name, 0)
        limit = None if queue.limit is None else int(getattr(queue.limit, resource))
        capped_demand[name] = raw if limit is None else min(raw, limit)
        if usage is not None:
            subtree_usage[name] = (
                sum(subtree_usage[k] for k in kids) if kids else usage.get(name, 0)
            )
    shares: dict[str, int] = {}
    for parent in [None, *order]:
        kids = tree.children.get(parent, ())
        if not kids:
            continue
        amount = capacity if parent is None else shares[parent]
        weights = [Fraction(tree.queues[k].over_quota_weight) for k in kids]
        if usage is not None:
            weights = usage_adjusted_weights(weights, [subtree_usage[k] for k in kids])
        claims = [
            SiblingClaim(
                deserved=_deserved(tree.queues[k], resource),
                demand=capped_demand[k],
                weight=weight,
                priority=tree.queues[k].priority,
            )
            for k, weight in zip(kids, weights, strict=True)
        ]
        for kid, share in zip(kids, divide_among_siblings(amount, claims), strict=True):
            shares[kid] = share
    return shares


def _deserved(queue: Queue, resource: str) -> int:
    # A deserved quota above the queue's own limit could never be used: the limit wins.
    deserved = int(getattr(queue.deserved, resource))
    return deserved if queue.limit is None else min(deserved, int(getattr(queue.limit, resource)))


def _check_leaf_amounts(tree: QueueTree, amounts: Mapping[str, Resources], what: str) -> None:
    for name, amount in amounts.items():
        if name not in tree.queues:
            raise QueueTreeError(f"{what} given for unknown queue {name!r}")
        if not tree.is_leaf(name):
            raise QueueTreeError(
                f"{what} given for queue {name!r}, which has children: only leaf queues hold jobs"
            )
        for resource in RESOURCE_NAMES:
            if getattr(amount, resource) < 0:
                raise QueueTreeError(f"queue {name!r}: {what}.{resource} is negative")


def _check_capacity(capacity: Resources) -> None:
    for resource in RESOURCE_NAMES:
        if getattr(capacity, resource) < 0:
            raise QueueTreeError(f"capacity.{resource} is negative")
