"""Ordering through the tree: sorting by path keys picks the same leaf as walking the tree."""

from __future__ import annotations

from fairshare_strategies import Case, cases
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import (
    build_tree,
    pick_leaf_queue,
    queue_path,
    queue_path_order_key,
    subtree_allocated,
)
from scheduler.core.model import Queue, Resources


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
    walked = pick_leaf_queue(tree, allocated_by_leaf=held, fair_shares=shares, eligible=eligible)
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
