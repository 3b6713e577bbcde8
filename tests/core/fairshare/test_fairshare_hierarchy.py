"""Ordering through the tree: sorting by path keys picks the same leaf as walking the tree."""

from __future__ import annotations

from fairshare_strategies import Case, cases
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import (
    QueueTree,
    build_tree,
    queue_order_key,
    queue_path,
    queue_path_order_key,
    subtree_allocated,
)
from scheduler.core.model import Queue, Resources


def walk_the_tree(
    tree: QueueTree,
    *,
    allocated_by_leaf: dict[str, Resources],
    fair_shares: dict[str, Resources],
    eligible: set[str],
) -> str | None:
    """The reference the path keys must agree with: from the top of the tree down, the child
    furthest below its fair share (ties by name) among those with an eligible leaf below."""
    held = subtree_allocated(tree, allocated_by_leaf)
    has_eligible: dict[str, bool] = {}
    for name in reversed(tree.top_down()):
        kids = tree.children.get(name, ())
        has_eligible[name] = any(has_eligible[k] for k in kids) if kids else name in eligible
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


@settings(max_examples=200, deadline=None)
@given(cases(max_queues=7), st.data())
def test_path_keys_agree_with_the_tree_walk(case: Case, data: st.DataObject) -> None:
    tree = build_tree(case.queues)
    leaves = sorted(case.leaves())
    held = {
        leaf: Resources(gpu_milli=data.draw(st.integers(0, 8)) * 500, cpu_millis=data.draw(st.integers(0, 3)))
        for leaf in leaves
    }
    shares = {q.name: Resources(gpu_milli=data.draw(st.integers(0, 8)) * 500) for q in case.queues}
    eligible = data.draw(st.sets(st.sampled_from(leaves)))
    walked = walk_the_tree(tree, allocated_by_leaf=held, fair_shares=shares, eligible=eligible)
    everyone = subtree_allocated(tree, held)
    by_key = min(
        eligible,
        key=lambda leaf: queue_path_order_key(queue_path(tree, leaf), allocated=everyone, fair_shares=shares),
        default=None,
    )
    assert walked == by_key


def test_queue_path_runs_from_the_top() -> None:
    tree = build_tree([Queue("org"), Queue("team", parent="org"), Queue("leaf", parent="team")])
    assert queue_path(tree, "leaf") == ("org", "team", "leaf")
