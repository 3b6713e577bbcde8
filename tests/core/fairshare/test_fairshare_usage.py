"""Time-based fairness: the usage factor, adjusted weights and decayed usage."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from scheduler.core.fairshare import (
    decay_usage,
    divide_fair_share,
    usage_adjusted_weights,
    usage_factor,
)
from scheduler.core.model import Queue, Resources


@pytest.mark.parametrize(
    ("usage_share", "weight_share", "factor"),
    [
        (Fraction(0), Fraction(1, 2), 1.0),  # no usage: full weight
        (Fraction(1, 2), Fraction(1, 2), 0.5),  # used exactly its share: 2^-1
        (Fraction(1), Fraction(1, 2), 0.25),  # used twice its share: 2^-2
        (Fraction(1, 4), Fraction(1, 2), 2**-0.5),  # used half its share
    ],
)
def test_usage_factor(usage_share: Fraction, weight_share: Fraction, factor: float) -> None:
    assert usage_factor(usage_share, weight_share) == pytest.approx(factor)


def test_usage_factor_stays_positive_for_extreme_usage() -> None:
    assert usage_factor(Fraction(1), Fraction(1, 10**9)) == Fraction(2.0**-60)


def test_equal_usage_to_share_keeps_the_split() -> None:
    # weights 1:3 with usage in the same 1:3 proportion: both factors are 2^-1, split unchanged
    adjusted = usage_adjusted_weights([Fraction(1), Fraction(3)], [100, 300])
    assert adjusted[1] / adjusted[0] == 3


def test_no_usage_changes_nothing() -> None:
    assert usage_adjusted_weights([Fraction(1), Fraction(2)], [0, 0]) == [1, 2]


def test_heavy_past_user_gets_less_of_the_idle_capacity() -> None:
    # equal weights; a used 300, b 100 → U = 3/4, 1/4; S = 1/2 → factors 2^-1.5 : 2^-0.5 = 1 : 2
    # 12 GPUs nobody deserves → a 4, b 8
    queues = [Queue("a"), Queue("b")]
    want = Resources(gpu_milli=12_000)
    shares = divide_fair_share(
        queues=queues,
        demand={"a": want, "b": want},
        capacity=want,
        usage={"a": Resources(gpu_milli=300), "b": Resources(gpu_milli=100)},
    )
    assert (shares["a"].gpu_milli, shares["b"].gpu_milli) == (4000, 8000)


def test_usage_never_touches_the_deserved_quota() -> None:
    # a deserves 6 of 12 and used everything in the past: it still gets its 6
    queues = [Queue("a", deserved=Resources(gpu_milli=6000)), Queue("b")]
    want = Resources(gpu_milli=12_000)
    shares = divide_fair_share(
        queues=queues,
        demand={"a": want, "b": want},
        capacity=want,
        usage={"a": Resources(gpu_milli=10**9)},
    )
    assert shares["a"].gpu_milli >= 6000


def test_decay_halves_usage_after_one_half_life() -> None:
    usage = Resources(cpu_millis=1000, memory_mib=4000, gpu_milli=8000)
    after = decay_usage(usage, allocated=Resources(), seconds=3600, half_life_seconds=3600)
    assert after == Resources(cpu_millis=500, memory_mib=2000, gpu_milli=4000)


def test_decay_adds_the_decayed_integral_of_the_allocation() -> None:
    # 1 GPU for one half-life H=100 s from zero: 1000 * 100/ln2 * (1 - 1/2) ≈ 72135 milli-seconds
    after = decay_usage(
        Resources(), allocated=Resources(gpu_milli=1000), seconds=100, half_life_seconds=100
    )
    assert after.gpu_milli == round(1000 * 100 / math.log(2) * 0.5)


def test_decay_in_steps_equals_one_long_step() -> None:
    # holding a constant allocation, two 50 s steps land where one 100 s step does (±rounding)
    held = Resources(gpu_milli=2000)
    once = decay_usage(Resources(gpu_milli=5000), allocated=held, seconds=100, half_life_seconds=60)
    half = decay_usage(Resources(gpu_milli=5000), allocated=held, seconds=50, half_life_seconds=60)
    twice = decay_usage(half, allocated=held, seconds=50, half_life_seconds=60)
    assert abs(once.gpu_milli - twice.gpu_milli) <= 1


@pytest.mark.parametrize(
    ("seconds", "half_life"), [(-1.0, 60.0), (10.0, 0.0), (float("inf"), 60.0), (1.0, -5.0)]
)
def test_decay_rejects_bad_times(seconds: float, half_life: float) -> None:
    with pytest.raises(ValueError):
        decay_usage(
            Resources(), allocated=Resources(), seconds=seconds, half_life_seconds=half_life
        )
