"""Which queue goes next: the one furthest below its fair share."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fractions import Fraction

from scheduler.core.model import Resources

Ratio = Callable[[int, int], "Fraction | int"]
"""held, share → held / share as an exactly comparable value (share > 0)."""

QueueOrderKey = tuple[int, "Fraction | int", "Fraction | int"]


def share_ratio(
    allocated: Resources, fair_share: Resources, ratio: Ratio = Fraction
) -> Fraction | int | None:
    """allocated / fair share of the dominant resource; None if something is held beyond a 0 share.

    The dominant resource is the one the queue holds the largest fraction of its share of (as in
    dominant resource fairness), so a queue cannot look starved on GPUs while hogging CPUs.
    Resources the queue neither holds nor is owed are ignored. `ratio` makes the quotients (see
    `scaled_ratio` for a faster one with the same order).
    """
    worst: Fraction | int = 0
    for held, share in (
        (allocated.gpu_milli, fair_share.gpu_milli),
        (allocated.cpu_millis, fair_share.cpu_millis),
        (allocated.memory_mib, fair_share.memory_mib),
    ):
        if held <= 0:
            continue
        if share <= 0:
            return None
        worst = max(worst, ratio(held, share))
    return ratio(0, 1) if worst == 0 else worst


def queue_order_key(
    allocated: Resources, fair_share: Resources, ratio: Ratio = Fraction
) -> QueueOrderKey:
    """Sort key: smaller means further below its fair share, so it should be served first.

    Compares (1) whether the queue holds something it has no share of (last), (2) the dominant
    share ratio, (3) the GPU ratio alone, so GPU starvation breaks ties. Add the queue's name
    after this key for a total, deterministic order. Keys compare only with keys made by the
    same `ratio`.
    """
    found = share_ratio(allocated, fair_share, ratio)
    gpu_ratio = ratio(allocated.gpu_milli, fair_share.gpu_milli if fair_share.gpu_milli > 0 else 1)
    if found is None:
        return (1, ratio(0, 1), gpu_ratio)
    return (0, found, gpu_ratio)


def scaled_ratio(shares: Iterable[Resources]) -> Ratio | None:
    """A `ratio` that orders like Fraction but makes plain integers: held × (L / share).

    L is the least common multiple of every share that can be a denominator (the resources of
    `shares`, and 1), so a/b < c/d exactly when a·(L/b) < c·(L/d). Integers compare in C, which
    matters when the allocate loop compares queue keys for every job. None when L grows past a
    size where big-integer arithmetic would cost more than Fraction saves.
    """
    common = 1
    for share in shares:
        for amount in (share.gpu_milli, share.cpu_millis, share.memory_mib):
            if amount > 0:
                common = math.lcm(common, amount)
                if common.bit_length() > _MAX_SCALE_BITS:
                    return None
    multiplier: dict[int, int] = {}

    def ratio(held: int, share: int) -> int:
        factor = multiplier.get(share)
        if factor is None:
            if share <= 0 or common % share:
                raise ValueError(f"share {share} is not one of the shares the scale was made for")
            factor = multiplier[share] = common // share
        return held * factor

    return ratio


_MAX_SCALE_BITS = 1024
