"""Table tests for the division, each with its arithmetic in a comment."""

from __future__ import annotations

from fractions import Fraction

import pytest

from scheduler.core.fairshare import (
    Claim,
    QueueTreeError,
    SiblingClaim,
    divide_among_siblings,
    divide_fair_share,
    water_fill,
)
from scheduler.core.model import Queue, Resources


def gpus(milli: int) -> Resources:
    return Resources(gpu_milli=milli)


def claim(deserved: int, demand: int, weight: float = 1.0, priority: int = 0) -> SiblingClaim:
    return SiblingClaim(
        deserved=deserved, demand=demand, weight=Fraction(weight), priority=priority
    )


@pytest.mark.parametrize(
    ("amount", "claims", "expected"),
    [
        # everyone fits: each gets its cap
        (10, [(1, 3), (1, 4)], [3, 4]),
        # level 9/3 = 3 per weight: 3 and 6
        (9, [(1, 100), (2, 100)], [3, 6]),
        # a capped at 1 drops out; 8 left for b alone
        (9, [(1, 1), (1, 100)], [1, 8]),
        # weight 0 gets only what the weighted claims leave: a takes its 4, b the other 6
        (10, [(1, 4), (0, 100)], [4, 6]),
        # two weight-0 claims share equally what is left
        (10, [(1, 4), (0, 100), (0, 100)], [4, 3, 3]),
    ],
)
def test_water_fill(amount: int, claims: list[tuple[float, int]], expected: list[int]) -> None:
    got = water_fill(
        Fraction(amount), [Claim(weight=Fraction(w), cap=Fraction(c)) for w, c in claims]
    )
    assert got == [Fraction(e) for e in expected]


def test_water_fill_is_exact_with_thirds() -> None:
    # 1 split three ways: exactly 1/3 each, summing to exactly 1
    got = water_fill(Fraction(1), [Claim(weight=Fraction(1), cap=Fraction(5))] * 3)
    assert got == [Fraction(1, 3)] * 3 and sum(got) == 1


@pytest.mark.parametrize(
    ("amount", "claims", "expected"),
    [
        # deserved first: 3 and 2; 5 left split 1:1 → 5.5, 4.5 → floor 5, 4 (1 unit unassigned)
        (10, [claim(3, 100), claim(2, 100)], [5, 4]),
        # a wants less than deserved: keeps 2; b deserved 3, then all 5 left → 8
        (10, [claim(5, 2), claim(3, 100)], [2, 8]),
        # priority 1 takes all it wants over quota (6 more → 7) before priority 0 sees any
        (10, [claim(1, 7, priority=1), claim(1, 100)], [7, 3]),
        # priority 1 wants more than there is: priority 0 keeps only its deserved
        (10, [claim(1, 100, priority=1), claim(2, 100)], [8, 2]),
        # oversubscribed deserved 8 + 8 on 10: scaled by 10/16 → 5 and 5
        (10, [claim(8, 100), claim(8, 100)], [5, 5]),
        # oversubscribed 6 + 12 on 9: scaled by 9/18 → 3 and 6
        (9, [claim(6, 100), claim(12, 100)], [3, 6]),
        # oversubscribed but a needs only 1 of its scaled 4.5: b gets the other 8
        (9, [claim(6, 1), claim(6, 100)], [1, 8]),
        # weights 1:2 over quota after deserved 0: 3000 milli → 1000, 2000
        (3000, [claim(0, 9000), claim(0, 9000, weight=2.0)], [1000, 2000]),
    ],
)
def test_divide_among_siblings(
    amount: int, claims: list[SiblingClaim], expected: list[int]
) -> None:
    assert divide_among_siblings(amount, claims) == expected


def test_tree_division_with_fractional_gpus() -> None:
    # cluster 10.5 GPUs. research (deserved 6) has vision (deserved 4) and nlp (deserved 2);
    # prod (deserved 3, limit 3.5) wants 5. Demands: vision 4.25, nlp 9, prod 5.
    # top: research min(6, 13.25) = 6, prod 3 → 1.5 left, weights 1:1, prod capped at 0.5 more
    #   (limit 3.5) → prod 3.5, research 7.
    # research's 7: vision 4 and nlp 2 deserved → 1 left; vision needs 0.25 more → 4.25;
    #   nlp takes 0.75 → 2.75.
    queues = [
        Queue("research", deserved=gpus(6000)),
        Queue("vision", parent="research", deserved=gpus(4000)),
        Queue("nlp", parent="research", deserved=gpus(2000)),
        Queue("prod", deserved=gpus(3000), limit=gpus(3500)),
    ]
    demand = {"vision": gpus(4250), "nlp": gpus(9000), "prod": gpus(5000)}
    shares = divide_fair_share(queues=queues, demand=demand, capacity=gpus(10_500))
    assert {name: share.gpu_milli for name, share in shares.items()} == {
        "research": 7000,
        "vision": 4250,
        "nlp": 2750,
        "prod": 3500,
    }


def test_each_resource_is_divided_on_its_own() -> None:
    # GPUs: a deserves all 4; CPUs: b deserves all 8000 millis, both want everything.
    queues = [
        Queue("a", deserved=Resources(gpu_milli=4000)),
        Queue("b", deserved=Resources(cpu_millis=8000), over_quota_weight=0.0),
    ]
    want = Resources(cpu_millis=8000, gpu_milli=4000, memory_mib=100)
    shares = divide_fair_share(
        queues=queues, demand={"a": want, "b": want}, capacity=Resources(8000, 100, 4000)
    )
    # memory: nobody deserves any; a has weight 1, b weight 0 → a takes all 100 MiB
    assert shares == {"a": Resources(0, 100, 4000), "b": Resources(8000, 0, 0)}


def test_parent_limit_caps_its_children_together() -> None:
    # team limit 2 GPUs; its two leaves want 3 each; other wants 10 → team 2 (1 + 1), other 6
    queues = [
        Queue("team", limit=gpus(2000)),
        Queue("x", parent="team"),
        Queue("y", parent="team"),
        Queue("other"),
    ]
    demand = {"x": gpus(3000), "y": gpus(3000), "other": gpus(10_000)}
    shares = divide_fair_share(queues=queues, demand=demand, capacity=gpus(8000))
    assert [shares[n].gpu_milli for n in ("team", "x", "y", "other")] == [2000, 1000, 1000, 6000]


def test_no_demand_means_no_share() -> None:
    shares = divide_fair_share(
        queues=[Queue("idle", deserved=gpus(4000))], demand={}, capacity=gpus(8000)
    )
    assert shares == {"idle": Resources()}


@pytest.mark.parametrize(
    ("queues", "demand", "message"),
    [
        ([Queue("a"), Queue("a")], {}, "queue 'a' is defined twice"),
        ([Queue("a", parent="nope")], {}, "queue 'a' has unknown parent 'nope'"),
        ([Queue("a", parent="b"), Queue("b", parent="a")], {}, "parent cycle"),
        ([Queue("a", deserved=gpus(-1))], {}, "queue 'a': deserved.gpu_milli is negative"),
        ([Queue("a", over_quota_weight=-1.0)], {}, "queue 'a': over_quota_weight"),
        ([Queue("a", over_quota_weight=float("nan"))], {}, "queue 'a': over_quota_weight"),
        ([Queue("a")], {"b": gpus(1)}, "demand given for unknown queue 'b'"),
        ([Queue("a"), Queue("b", parent="a")], {"a": gpus(1)}, "queue 'a', which has children"),
        ([Queue("a")], {"a": gpus(-5)}, "queue 'a': demand.gpu_milli is negative"),
    ],
)
def test_invalid_trees_are_refused_with_the_queue_named(
    queues: list[Queue], demand: dict[str, Resources], message: str
) -> None:
    with pytest.raises(QueueTreeError, match=message.replace("(", r"\(")):
        divide_fair_share(queues=queues, demand=demand, capacity=gpus(1000))
