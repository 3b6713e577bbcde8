"""Reclaims permitted by reclaim_allowed always come to rest: no queue ping-pong."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import reclaim_allowed
from scheduler.core.model import Resources

SIZES = (500, 1000, 2000)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """Fair shares (GPU milli), running job sizes and pending job sizes of 2 to 4 queues."""
    count = draw(st.integers(2, 4))
    shares = [draw(st.integers(0, 8)) * 500 for _ in range(count)]
    running = [draw(st.lists(st.sampled_from(SIZES), max_size=6)) for _ in range(count)]
    pending = [draw(st.lists(st.sampled_from(SIZES), max_size=4)) for _ in range(count)]
    return shares, running, pending


@settings(max_examples=200, deadline=None)
@given(clusters(), st.randoms(use_true_random=False))
def test_any_sequence_of_permitted_reclaims_terminates_without_repeating(
    cluster: tuple[list[int], list[list[int]], list[list[int]]], rnd: random.Random
) -> None:
    # An adversarial scheduler applies ANY permitted reclaim, in random order, evicted jobs
    # going back to their queue's pending list. The rule must still stop it, and no allocation
    # state may ever come back (that would be a cycle).
    shares, running, pending = cluster
    seen: set[tuple[tuple[int, ...], ...]] = set()
    for _ in range(500):
        state = tuple(tuple(sorted(jobs)) for jobs in running)
        assert state not in seen, "an allocation state came back: reclaims cycled"
        seen.add(state)
        moves = [
            (q, r, v, j)
            for q in range(len(shares))
            for r in set(pending[q])
            for v in range(len(shares))
            if v != q
            for j in set(running[v])
            if j >= r
            and reclaim_allowed(
                reclaimer_allocated=Resources(gpu_milli=sum(running[q])),
                reclaimer_share=Resources(gpu_milli=shares[q]),
                request=Resources(gpu_milli=r),
                victim_allocated=Resources(gpu_milli=sum(running[v])),
                victim_share=Resources(gpu_milli=shares[v]),
            )
        ]
        if not moves:
            return
        q, r, v, j = rnd.choice(sorted(moves))
        running[v].remove(j)
        pending[v].append(j)
        pending[q].remove(r)
        running[q].append(r)
    raise AssertionError("reclaims did not come to rest within 500 steps")
