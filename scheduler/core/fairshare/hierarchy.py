"""Queue order through the tree: at every level, the child furthest below its fair share."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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


def pick_leaf_queue(
    tree: QueueTree,
    *,
    allocated_by_leaf: Mapping[str, Resources],
    fair_shares: Mapping[str, Resources],
    eligible: Collection[str],
) -> str | None:
    """The eligible leaf to serve next, or None when no leaf is eligible.

    From the top of the tree down, take the child furthest below its fair share (see
    queue_order_key; ties by name) among those with an eligible leaf below them, so a team that
    is owed GPUs is served before a busy sub-team of a team that already has its share.
    """
    held = subtree_allocated(tree, allocated_by_leaf)
    wanted = set(eligible)
    has_eligible: dict[str, bool] = {}
    for name in reversed(tree.top_down()):
        kids = tree.children.get(name, ())
        has_eligible[name] = any(has_eligible[k] for k in kids) if kids else name in wanted
    level = tree.children.get(None, ())
    chosen: str | None = None
    while level:
        candidates = [k for k in level if has_eligible[k]]
        if not candidates:
            return None
        chosen = min(
            candidates,
            key=lambda k: (queue_order_key(held[k], fair_shares.get(k, Resources())), k),
        )
        level = tree.children.get(chosen, ())
    return chosen


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
    """Sort key of a leaf by its whole path: the smallest key is the leaf pick_leaf_queue picks.

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
