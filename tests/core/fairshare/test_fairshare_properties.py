"""Properties of the division that must hold for every queue tree."""

from __future__ import annotations

import dataclasses
import random

from fairshare_strategies import Case, cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import RESOURCE_NAMES, divide_fair_share
from scheduler.core.model import Queue, Resources

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _divide(case: Case) -> dict[str, Resources]:
    return divide_fair_share(
        queues=case.queues, demand=case.demand, capacity=case.capacity, usage=case.usage
    )


def _children(case: Case) -> dict[str | None, list[str]]:
    kids: dict[str | None, list[str]] = {}
    for q in case.queues:
        kids.setdefault(q.parent, []).append(q.name)
    return kids


def _capped_demand(case: Case, name: str, resource: str) -> int:
    queue = case.by_name()[name]
    kids = _children(case).get(name, [])
    raw = (
        sum(_capped_demand(case, k, resource) for k in kids)
        if kids
        else getattr(case.demand.get(name, Resources()), resource)
    )
    return raw if queue.limit is None else min(raw, getattr(queue.limit, resource))


@FAST
@given(cases(with_usage=True))
def test_shares_never_exceed_capacity_parent_or_demand(case: Case) -> None:
    shares = _divide(case)
    assert set(shares) == {q.name for q in case.queues}
    for parent, kids in _children(case).items():
        for resource in RESOURCE_NAMES:
            total = sum(getattr(shares[k], resource) for k in kids)
            above = getattr(case.capacity if parent is None else shares[parent], resource)
            assert total <= above
    for name, share in shares.items():
        for resource in RESOURCE_NAMES:
            assert 0 <= getattr(share, resource) <= _capped_demand(case, name, resource)


@FAST
@given(cases(with_usage=True))
def test_no_queue_above_its_limit(case: Case) -> None:
    shares = _divide(case)
    for queue in case.queues:
        if queue.limit is not None:
            assert shares[queue.name].fits_in(queue.limit)


@FAST
@given(cases())
def test_capacity_is_not_left_idle_while_demand_is_unmet(case: Case) -> None:
    # Work conservation: only rounding (under one unit per top-level queue) may stay unassigned.
    shares = _divide(case)
    tops = _children(case)[None]
    for resource in RESOURCE_NAMES:
        wanted = sum(_capped_demand(case, name, resource) for name in tops)
        given = sum(getattr(shares[name], resource) for name in tops)
        assert given > min(wanted, getattr(case.capacity, resource)) - len(tops)


@FAST
@given(cases(with_limits=False, with_usage=True))
def test_deserved_quota_is_guaranteed_when_quotas_fit(case: Case) -> None:
    # Make every level's deserved quotas fit what is above it by shrinking children's quotas.
    kids = _children(case)
    queues = {q.name: q for q in case.queues}
    capacity = case.capacity

    def fit(parent: str | None) -> None:
        above = capacity if parent is None else queues[parent].deserved
        names = kids.get(parent, [])
        for resource in RESOURCE_NAMES:
            budget = getattr(above, resource)
            for name in names:
                wanted = getattr(queues[name].deserved, resource)
                granted = min(wanted, budget)
                budget -= granted
                deserved = dataclasses.replace(queues[name].deserved, **{resource: granted})
                queues[name] = dataclasses.replace(queues[name], deserved=deserved)
        for name in names:
            fit(name)

    fit(None)
    fitted = Case(
        queues=tuple(queues.values()), demand=case.demand, capacity=capacity, usage=case.usage
    )
    shares = _divide(fitted)
    for name in fitted.leaves():
        for resource in RESOURCE_NAMES:
            deserved = getattr(queues[name].deserved, resource)
            if _capped_demand(fitted, name, resource) >= deserved:
                assert getattr(shares[name], resource) >= deserved, (name, resource)


@FAST
@given(cases(with_usage=True), st.data())
def test_more_weight_never_means_a_smaller_share(case: Case, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from([q.name for q in case.queues]))
    bump = data.draw(st.sampled_from([0.5, 1.0, 2.5, 10.0]))
    heavier = tuple(
        dataclasses.replace(q, over_quota_weight=q.over_quota_weight + bump)
        if q.name == target
        else q
        for q in case.queues
    )
    before = _divide(case)[target]
    after = _divide(dataclasses.replace(case, queues=heavier))[target]
    for resource in RESOURCE_NAMES:
        assert getattr(after, resource) >= getattr(before, resource)


@FAST
@given(cases(with_usage=True), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_queue_order(case: Case, rnd: random.Random) -> None:
    shuffled = list(case.queues)
    rnd.shuffle(shuffled)
    demand = list(case.demand.items())
    rnd.shuffle(demand)
    usage = None if case.usage is None else dict(reversed(list(case.usage.items())))
    again = divide_fair_share(
        queues=shuffled, demand=dict(demand), capacity=case.capacity, usage=usage
    )
    assert again == _divide(case)


@FAST
@given(cases(max_queues=5))
def test_a_higher_priority_sibling_is_served_first(case: Case) -> None:
    # A queue gets anything over its deserved quota only if every higher-priority sibling
    # already has its whole (capped) demand.
    shares = _divide(case)
    queues = case.by_name()
    for kids in _children(case).values():
        for low in kids:
            for high in kids:
                if queues[high].priority <= queues[low].priority:
                    continue
                for resource in RESOURCE_NAMES:
                    deserved = getattr(queues[low].deserved, resource)
                    if getattr(shares[low], resource) > deserved:
                        unmet = _capped_demand(case, high, resource) - getattr(
                            shares[high], resource
                        )
                        assert unmet == 0, (low, high, resource)


def test_queue_order_is_irrelevant_for_a_fixed_example() -> None:
    queues = [Queue("b", deserved=Resources(gpu_milli=1000)), Queue("a", over_quota_weight=2.0)]
    demand = {"a": Resources(gpu_milli=5000), "b": Resources(gpu_milli=5000)}
    capacity = Resources(gpu_milli=4000)
    forward = divide_fair_share(queues=queues, demand=demand, capacity=capacity)
    backward = divide_fair_share(queues=queues[::-1], demand=demand, capacity=capacity)
    # b: deserved 1; 3 left by weight 2:1 → a 2, b 1 more
    assert (
        forward
        == backward
        == {
            "a": Resources(gpu_milli=2000),
            "b": Resources(gpu_milli=2000),
        }
    )
