"""The fair-share rule of reclaim: who may take resources from whom.

The two halves match the session's two reclaim hooks: `may_reclaim_for` gates the job that
needs room, `may_be_reclaimed` vetoes each candidate victim.
"""

from __future__ import annotations

from scheduler.core.model import Resources


def may_reclaim_for(*, allocated: Resources, fair_share: Resources, request: Resources) -> bool:
    """True when a queue holding `allocated` stays within `fair_share` with `request` placed."""
    return (allocated + request).fits_in(fair_share)


def may_be_reclaimed(*, allocated: Resources, fair_share: Resources, request: Resources) -> bool:
    """True when a queue keeps at least its fair share of everything a job (`request`) gives back."""
    left = allocated - request
    return all(
        given <= 0 or kept >= share
        for given, kept, share in (
            (request.gpu_milli, left.gpu_milli, fair_share.gpu_milli),
            (request.cpu_millis, left.cpu_millis, fair_share.cpu_millis),
            (request.memory_mib, left.memory_mib, fair_share.memory_mib),
        )
    )


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
    return may_reclaim_for(
        allocated=reclaimer_allocated, fair_share=reclaimer_share, request=request
    ) and may_be_reclaimed(allocated=victim_allocated, fair_share=victim_share, request=victim_request)
