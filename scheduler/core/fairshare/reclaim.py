"""The fair-share rule of reclaim: who may take resources from whom."""

from __future__ import annotations

from scheduler.core.model import Resources


def reclaim_allowed(
    *,
    reclaimer_allocated: Resources,
    reclaimer_share: Resources,
    request: Resources,
    victim_allocated: Resources,
    victim_share: Resources,
    victim_request: Resources,
) -> bool:
    """True when a queue may evict a job (`victim_request`) of another queue to place `request`.

    The reclaimer must stay within its fair share once its job runs, and the victim queue must
    keep at least its fair share of every resource the evicted job gives back. Each permitted
    reclaim moves resources only from above a share to at-or-below one, so the victim can never
    take them back: there is no evict/allocate ping-pong between queues.
    """
    if not (reclaimer_allocated + request).fits_in(reclaimer_share):
        return False
    left = victim_allocated - victim_request
    return all(
        given <= 0 or kept >= share
        for given, kept, share in (
            (victim_request.gpu_milli, left.gpu_milli, victim_share.gpu_milli),
            (victim_request.cpu_millis, left.cpu_millis, victim_share.cpu_millis),
            (victim_request.memory_mib, left.memory_mib, victim_share.memory_mib),
        )
    )
