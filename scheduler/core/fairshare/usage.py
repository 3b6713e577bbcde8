"""Time-based fairness: decayed past usage, and the over-quota weight it leaves a queue.

A queue's usage is its allocation integrated over time with exponential decay of half-life H:
usage weighs an allocation held t seconds ago by 2^(-t/H). Among siblings, a queue's usage share
U = usage / total usage is compared with its weight share S = weight / total weight, and its
over-quota weight becomes

    effective weight = weight * 2^(-U/S)

(Slurm's classic fair-share factor). Queues that used exactly their share all keep half their
weight, so the split between them does not change; a queue that used more than its share gets
less of the idle capacity, one that used less gets more. Deserved quotas are never affected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from scheduler.core.model import Resources

MAX_PENALTY_EXPONENT = 60
"""The factor is at least 2^-60, so a heavy user keeps a tiny positive weight (never 0)."""


def usage_factor(usage_share: Fraction, weight_share: Fraction) -> Fraction:
    """The fair-share factor 2^(-U/S) in (0, 1] for usage share U and weight share S > 0."""
    if weight_share <= 0:
        raise ValueError("the weight share must be positive")
    exponent = min(usage_share / weight_share, Fraction(MAX_PENALTY_EXPONENT))
    # A float power is exact enough for a weight and the same on every IEEE machine; the
    # Fraction of it keeps the rest of the division exact.
    return Fraction(math.pow(2.0, -float(exponent)))


def usage_adjusted_weights(weights: Sequence[Fraction], usages: Sequence[int]) -> list[Fraction]:
    """Over-quota weights of sibling queues lowered by their decayed usage (see module doc)."""
    if len(weights) != len(usages):
        raise ValueError("one usage per weight is needed")
    if any(u < 0 for u in usages):
        raise ValueError("usage cannot be negative")
    total_weight = sum(weights, Fraction(0))
    total_usage = sum(usages)
    if total_weight <= 0 or total_usage <= 0:
        return list(weights)
    return [
        weight * usage_factor(Fraction(usage, total_usage), weight / total_weight)
        if weight > 0
        else weight
        for weight, usage in zip(weights, usages, strict=True)
    ]


def decay_usage(
    usage: Resources, *, allocated: Resources, seconds: float, half_life_seconds: float
) -> Resources:
    """Decayed usage (resource-seconds) after holding `allocated` for `seconds` more.

    The old usage decays by 2^(-t/H); the new allocation adds its exact decayed integral
    ∫0..t a·2^(-s/H) ds = a·H/ln2·(1 - 2^(-t/H)). Results are rounded to whole units.
    """
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
    if half_life_seconds <= 0 or not math.isfinite(half_life_seconds):
        raise ValueError(f"half_life_seconds must be a finite number > 0, got {half_life_seconds}")
    decay = math.pow(2.0, -seconds / half_life_seconds)
    gain = half_life_seconds / math.log(2) * (1.0 - decay)

    def step(old: int, held: int) -> int:
        if old < 0 or held < 0:
            raise ValueError("usage and allocation cannot be negative")
        return round(old * decay + held * gain)

    return Resources(
        cpu_millis=step(usage.cpu_millis, allocated.cpu_millis),
        memory_mib=step(usage.memory_mib, allocated.memory_mib),
        gpu_milli=step(usage.gpu_milli, allocated.gpu_milli),
    )
