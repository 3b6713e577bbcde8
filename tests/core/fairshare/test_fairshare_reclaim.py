"""The reclaim rule: the reclaimer stays within its share, the victim keeps its share."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import may_be_reclaimed, may_reclaim_for
from scheduler.core.model import Resources


def gpus(milli: int) -> Resources:
    return Resources(gpu_milli=milli)


def reclaim_allowed(
    *,
    reclaimer_allocated: Resources,
    reclaimer_share: Resources,
    request: Resources,
    victim_allocated: Resources,
    victim_share: Resources,
    victim_request: Resources,
) -> bool:
    """Both halves of the rule, as the proportion plugin's reclaim gate and veto apply them."""
    return may_reclaim_for(
        allocated=reclaimer_allocated, fair_share=reclaimer_share, request=request
    ) and may_be_reclaimed(allocated=victim_allocated, fair_share=victim_share, request=victim_request)


def allowed(held: int, share: int, request: int, victim_held: int, victim_share: int,
            victim_job: int) -> bool:  # fmt: skip
    return reclaim_allowed(
        reclaimer_allocated=gpus(held),
        reclaimer_share=gpus(share),
        request=gpus(request),
        victim_allocated=gpus(victim_held),
        victim_share=gpus(victim_share),
        victim_request=gpus(victim_job),
    )


def test_the_reclaimer_must_stay_within_its_share() -> None:
    # A holds 2 of its 4: a 2-GPU job brings it to 4 ≤ 4 → allowed; a 3-GPU job to 5 > 4 → not
    assert allowed(2000, 4000, 2000, victim_held=6000, victim_share=4000, victim_job=2000)
    assert not allowed(2000, 4000, 3000, victim_held=6000, victim_share=4000, victim_job=2000)


def test_the_victim_keeps_its_share() -> None:
    # B holds 6 of its 4: giving back a 2-GPU job leaves 4 ≥ 4 → allowed; a 3-GPU job 3 < 4 → not
    assert allowed(0, 4000, 1000, victim_held=6000, victim_share=4000, victim_job=2000)
    assert not allowed(0, 4000, 1000, victim_held=6000, victim_share=4000, victim_job=3000)


def test_resources_the_victim_job_does_not_hold_do_not_count() -> None:
    # the victim is below its CPU share, but the evicted job holds no CPU: only GPUs matter
    assert reclaim_allowed(
        reclaimer_allocated=Resources(),
        reclaimer_share=gpus(2000),
        request=gpus(1000),
        victim_allocated=Resources(cpu_millis=1000, gpu_milli=5000),
        victim_share=Resources(cpu_millis=8000, gpu_milli=4000),
        victim_request=gpus(1000),
    )


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
            if j >= r and allowed(sum(running[q]), shares[q], r, sum(running[v]), shares[v], j)
        ]
        if not moves:
            return
        q, r, v, j = rnd.choice(sorted(moves))
        running[v].remove(j)
        pending[v].append(j)
        pending[q].remove(r)
        running[q].append(r)
    raise AssertionError("reclaims did not come to rest within 500 steps")


def test_plentiful_cpu_does_not_block_a_gpu_reclaim() -> None:
    # CPU is uncontended, so the victim's CPU share equals its CPU demand (8000): evicting any job
    # "goes below" it on CPU. GPUs decide: 5 − 1 = 4 ≥ 4 → allowed.
    assert reclaim_allowed(
        reclaimer_allocated=Resources(),
        reclaimer_share=gpus(2000),
        request=Resources(cpu_millis=1000, gpu_milli=1000),
        victim_allocated=Resources(cpu_millis=8000, gpu_milli=5000),
        victim_share=Resources(cpu_millis=8000, gpu_milli=4000),
        victim_request=Resources(cpu_millis=1000, gpu_milli=1000),
    )
