"""The division agrees with the brute-force stepping reference on random small trees."""

from __future__ import annotations

from fairshare_reference import RefQueue, reference_shares
from fairshare_strategies import Case, cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import divide_fair_share
from scheduler.core.model import Queue, Resources

# The reference steps 1/64 of a unit at a time, so it is off by a few steps; the division rounds
# each share down at every level (less than one unit per level of depth).
REFERENCE_SLACK = 0.25

SMALL = cases(max_queues=5, max_amount=12, weights=st.sampled_from([0.0, 1.0, 1.0, 2.0, 3.0]))


def _depth(queues: dict[str, Queue], name: str) -> int:
    depth = 1
    while (parent := queues[name].parent) is not None:
        depth += 1
        name = parent
    return depth


def _as_reference(case: Case) -> list[RefQueue]:
    return [
        RefQueue(
            name=q.name,
            parent=q.parent,
            deserved=q.deserved.gpu_milli,
            limit=None if q.limit is None else q.limit.gpu_milli,
            weight=q.over_quota_weight,
            priority=q.priority,
            demand=case.demand.get(q.name, Resources()).gpu_milli,
        )
        for q in case.queues
    ]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SMALL)
def test_division_matches_the_stepping_reference(case: Case) -> None:
    # Whole-unit numbers stand in as "GPU milli" here: the rule is the same at any unit.
    shares = divide_fair_share(queues=case.queues, demand=case.demand, capacity=case.capacity)
    expected = reference_shares(_as_reference(case), case.capacity.gpu_milli)
    queues = case.by_name()
    for name, share in shares.items():
        depth = _depth(queues, name)
        slack = REFERENCE_SLACK * depth
        assert expected[name] - depth - slack < share.gpu_milli <= expected[name] + slack, (
            name,
            share.gpu_milli,
            expected[name],
        )


def test_reference_itself_on_a_hand_worked_example() -> None:
    # capacity 10; a deserves 2, b deserves 2; c deserves 0 and wants 1; weights 1:3:1.
    # deserved: a 2, b 2 → 6 left; level 6/5 = 1.2 ≥ c's need 1 → c 1; 5 left by 1:3 → a 1.25,
    # b 3.75 → a 3.25, b 5.75, c 1.
    queues = [
        RefQueue("a", None, deserved=2, limit=None, weight=1.0, priority=0, demand=10),
        RefQueue("b", None, deserved=2, limit=None, weight=3.0, priority=0, demand=10),
        RefQueue("c", None, deserved=0, limit=None, weight=1.0, priority=0, demand=1),
    ]
    assert reference_shares(queues, 10) == {"a": 3.25, "b": 5.75, "c": 1.0}
