"""Which queue goes next: the one furthest below its fair share."""

from __future__ import annotations

from fractions import Fraction

from scheduler.core.model import Resources

QueueOrderKey = tuple[int, Fraction, Fraction]


def share_ratio(allocated: Resources, fair_share: Resources) -> Fraction | None:
    """allocated / fair share of the dominant resource; None if something is held beyond a 0 share.

    The dominant resource is the one the queue holds the largest fraction of its share of (as in
    dominant resource fairness), so a queue cannot look starved on GPUs while hogging CPUs.
    Resources the queue neither holds nor is owed are ignored.
    """
    worst = Fraction(0)
    for held, share in (
        (allocated.gpu_milli, fair_share.gpu_milli),
        (allocated.cpu_millis, fair_share.cpu_millis),
        (allocated.memory_mib, fair_share.memory_mib),
    ):
        if held <= 0:
            continue
        if share <= 0:
            return None
        worst = max(worst, Fraction(held, share))
    return worst


def queue_order_key(allocated: Resources, fair_share: Resources) -> QueueOrderKey:
    """Sort key: smaller means further below its fair share, so it should be served first.

    Compares (1) whether the queue holds something it has no share of (last), (2) the dominant
    share ratio, (3) the GPU ratio alone, so GPU starvation breaks ties. Add the queue's name
    after this key for a total, deterministic order.
    """
    ratio = share_ratio(allocated, fair_share)
    gpu_ratio = (
        Fraction(allocated.gpu_milli, fair_share.gpu_milli)
        if fair_share.gpu_milli > 0
        else Fraction(allocated.gpu_milli)
    )
    if ratio is None:
        return (1, Fraction(0), gpu_ratio)
    return (0, ratio, gpu_ratio)


def below_fair_share(allocated: Resources, fair_share: Resources) -> bool:
    """True when the queue holds less than its fair share of some resource it is owed.

    This is the test a reclaimer must pass: a queue at or above its share everywhere it is owed
    something has no claim on other queues' resources.
    """
    return any(
        held < share
        for held, share in (
            (allocated.gpu_milli, fair_share.gpu_milli),
            (allocated.cpu_millis, fair_share.cpu_millis),
            (allocated.memory_mib, fair_share.memory_mib),
        )
    )


def above_fair_share(allocated: Resources, fair_share: Resources) -> bool:
    """True when the queue holds more than its fair share of some resource (a reclaim victim)."""
    return any(
        held > share
        for held, share in (
            (allocated.gpu_milli, fair_share.gpu_milli),
            (allocated.cpu_millis, fair_share.cpu_millis),
            (allocated.memory_mib, fair_share.memory_mib),
        )
    )
