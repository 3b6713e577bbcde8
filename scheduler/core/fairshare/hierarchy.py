"""Queue order through the tree: at every level, the child furthest below its fair share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from scheduler.core.fairshare.ordering import Ratio, queue_order_key
from scheduler.core.fairshare.tree import QueueTree
from scheduler.core.model import Resources


def subtree_allocated(
    tree: QueueTree, allocated_by_leaf: Mapping[str, Resources]
) -> dict[str, Resources]:
    """What every queue holds: a leaf its own jobs, a parent the sum over its subtree."""
    held: dict[str, Resources] = {}
    for name in reversed(tree.top_down()):  # children before parents
        kids = tree.children.get(name, ())
        if kids:
            total = Resources()
            for kid in kids:
                total += held[kid]
            held[name] = total
        else:
            held[name] = allocated_by_leaf.get(name, Resources())
    return held


def queue_path(tree: QueueTree, name: str) -> tuple[str, ...]:
    """The queue's ancestors from the top of the tree down to the queue itself."""
    path = [name]
    parent = tree.queues[name].parent
    while parent is not None:
        path.append(parent)
        parent = tree.queues[parent].parent
    return tuple(reversed(path))


def queue_path_order_key(
    path: Sequence[str],
    *,
    allocated: Mapping[str, Resources],
    fair_shares: Mapping[str, Resources],
    ratio: Ratio = Fraction,
) -> tuple[object, ...]:
    """Sort key of a leaf by its whole path: the smallest key is the leaf to serve next.

    Sorting by it walks the tree: from the top, the child furthest below its fair share (see
    queue_order_key; ties by name), down to a leaf, so a team that is owed GPUs is served
    before a busy sub-team of a team that already has its share.

    `path` comes from queue_path; `allocated` holds every queue's allocation, parents included
    (see subtree_allocated). Each level contributes its queue_order_key, then its name.
    """
    key: list[object] = []
    none = Resources()
    for name in path:
        key.append(
            queue_order_key(allocated.get(name, none), fair_shares.get(name, none), ratio)
        )
        key.append(name)
    return tuple(key)
