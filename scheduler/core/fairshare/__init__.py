"""Fair share between queues and between users: pure functions over plain data.

divide_fair_share splits the cluster among the queue tree (deserved, then priority, then
over-quota weight, recursively); queue_order_key, queue_path_order_key and order_pending_jobs give
the allocate action its order; may_reclaim_for and may_be_reclaimed are the reclaim rule;
decay_usage and usage_adjusted_weights add time-based fairness. See docs/fairshare.md.
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
from scheduler.core.fairshare.hierarchy import (
    queue_path,
    queue_path_order_key,
    subtree_allocated,
)
from scheduler.core.fairshare.ordering import (
    queue_order_key,
    share_ratio,
)
from scheduler.core.fairshare.reclaim import may_be_reclaimed, may_reclaim_for
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
    "allocated_by_queue",
    "build_tree",
    "cluster_capacity",
    "decay_usage",
    "demand_by_queue",
    "divide_among_siblings",
    "divide_fair_share",
    "may_be_reclaimed",
    "may_reclaim_for",
    "order_pending_jobs",
    "queue_order_key",
    "queue_path",
    "queue_path_order_key",
    "share_ratio",
    "snapshot_fair_shares",
    "subtree_allocated",
    "usage_adjusted_weights",
    "usage_factor",
    "user_shares",
    "water_fill",
]
