"""Fair share between queues and between users: pure functions over plain data.

divide_fair_share splits the cluster among the queue tree (deserved, then priority, then
over-quota weight, recursively); queue_order_key and order_pending_jobs give the allocate action
its order; decay_usage and usage_adjusted_weights add time-based fairness.
"""

from scheduler.core.fairshare.accounting import (
    allocated_by_queue,
    cluster_capacity,
    demand_by_queue,
    snapshot_fair_shares,
)
from scheduler.core.fairshare.division import (
    RESOURCE_NAMES,
    SiblingClaim,
    divide_among_siblings,
    divide_fair_share,
)
from scheduler.core.fairshare.ordering import (
    above_fair_share,
    below_fair_share,
    queue_order_key,
    share_ratio,
)
from scheduler.core.fairshare.tree import QueueTree, QueueTreeError, build_tree
from scheduler.core.fairshare.usage import decay_usage, usage_adjusted_weights, usage_factor
from scheduler.core.fairshare.users import order_pending_jobs, user_shares
from scheduler.core.fairshare.waterfill import Claim, water_fill

__all__ = [
    "RESOURCE_NAMES",
    "Claim",
    "QueueTree",
    "QueueTreeError",
    "SiblingClaim",
    "above_fair_share",
    "allocated_by_queue",
    "below_fair_share",
    "build_tree",
    "cluster_capacity",
    "decay_usage",
    "demand_by_queue",
    "divide_among_siblings",
    "divide_fair_share",
    "order_pending_jobs",
    "queue_order_key",
    "share_ratio",
    "snapshot_fair_shares",
    "usage_adjusted_weights",
    "usage_factor",
    "user_shares",
    "water_fill",
]
