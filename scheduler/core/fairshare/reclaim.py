"""The fair-share rule of reclaim: who may take resources from whom.

The two halves match the session's two reclaim hooks: `may_reclaim_for` gates the job that
needs room, `may_be_reclaimed` vetoes each candidate victim. A reclaim needs both: the reclaimer
stays within its fair share once its job runs, and the victim queue keeps at least its fair
share of what the evicted job gives back. Each permitted reclaim thus moves resources only from
above a share to at-or-below one, so the victim can never take them back: there is no
evict/allocate ping-pong between queues.
"""

from __future__ import annotations

from scheduler.core.model import Resources


def _deciding(request: Resources) -> str:
    """The resource a reclaim is judged on: GPUs, or CPU for a job that asks for no GPU.

    Judging every resource would forbid reclaim whenever CPU or memory is plentiful: each queue's
    share of an uncontended resource equals its demand, so any eviction takes it "below" it.
    """
    return "gpu_milli" if request.gpu_milli > 0 else "cpu_millis"


def may_reclaim_for(*, allocated: Resources, fair_share: Resources, request: Resources) -> bool:
    """True when a queue holding `allocated` stays within `fair_share` with `request` placed."""
    resource = _deciding(request)
    held: int = getattr(allocated + request, resource)
    share: int = getattr(fair_share, resource)
    return held <= share


def may_be_reclaimed(*, allocated: Resources, fair_share: Resources, request: Resources) -> bool:
    """True when a queue keeps at least its fair share of what a job (`request`) gives back."""
    resource = _deciding(request)
    kept: int = getattr(allocated - request, resource)
    share: int = getattr(fair_share, resource)
    return kept >= share
