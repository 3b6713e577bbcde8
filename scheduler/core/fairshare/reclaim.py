"""Fair-share rules for reclaim: who may take from whom, and which jobs to stop first."""

from __future__ import annotations

from scheduler.core.fairshare.ordering import above_fair_share
from scheduler.core.model import MILLI_PER_GPU, Job, Resources


def reclaim_allowed(
    *,
    reclaimer_allocated: Resources,
    reclaimer_share: Resources,
    request: Resources,
    victim_allocated: Resources,
    victim_share: Resources,
) -> bool:
    """True when a queue may evict from another queue to place `request`.

    The reclaimer must stay within its fair share once the job runs, and the victim queue must
    be above its own. Every permitted reclaim thus lowers the total excess over fair shares and
    never puts the reclaimer above its share, so the victim cannot take the resources back:
    there is no evict/allocate ping-pong between queues.
    """
    return (reclaimer_allocated + request).fits_in(reclaimer_share) and above_fair_share(
        victim_allocated, victim_share
    )


def protected_by_min_runtime(job: Job, *, now: float, min_runtime_seconds: float) -> bool:
    """True for a running job younger than `min_runtime_seconds` (never evicted: avoids churn)."""
    return job.started_at is not None and now - job.started_at < min_runtime_seconds


def seconds_lost(job: Job, *, now: float) -> float:
    """Seconds of progress lost if `job` stops now: since its last checkpoint, else its start."""
    if job.started_at is None:
        return 0.0
    since = job.started_at
    if job.last_checkpoint_at is not None and job.last_checkpoint_at > since:
        since = job.last_checkpoint_at
    return max(0.0, now - since)


def victim_order_key(job: Job, *, now: float) -> tuple[int, float, float, str]:
    """Sort key of eviction candidates: lower priority, then least work lost, first.

    Work lost is counted in GPU-seconds (a gang of 8 loses 8 times a single GPU's work), then in
    plain seconds for CPU-only jobs.
    """
    lost = seconds_lost(job, now=now)
    return (job.priority, lost * job.gpu_milli_total / MILLI_PER_GPU, lost, job.id)
