"""Fairness between users inside one leaf queue: no single user starves the others."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction

from scheduler.core.fairshare.ordering import QueueOrderKey, queue_order_key
from scheduler.core.fairshare.waterfill import Claim, water_fill
from scheduler.core.model import Job, JobStatus, Resources


def user_shares(
    queue_share: Resources, user_demand: Mapping[str, Resources]
) -> dict[str, Resources]:
    """Split a queue's share equally among its users, water-filling on each user's demand.

    A user who needs less than an equal part keeps only the need; the rest is shared by the
    others. Shares are rounded down, so they never sum above the queue's share.
    """
    users = sorted(user_demand)
    split: dict[str, list[int]] = {}
    for resource in ("gpu_milli", "cpu_millis", "memory_mib"):
        filled = water_fill(
            Fraction(getattr(queue_share, resource)),
            [
                Claim(weight=Fraction(1), cap=Fraction(getattr(user_demand[u], resource)))
                for u in users
            ],
        )
        split[resource] = [int(part) for part in filled]  # int() floors a non-negative Fraction
    return {
        user: Resources(
            gpu_milli=split["gpu_milli"][i],
            cpu_millis=split["cpu_millis"][i],
            memory_mib=split["memory_mib"][i],
        )
        for i, user in enumerate(users)
    }


def order_pending_jobs(jobs: Sequence[Job], *, queue_share: Resources) -> list[Job]:
    """The pending jobs of one leaf queue in the order to try them.

    `jobs` are the queue's pending and running jobs (others are ignored). The next job always
    comes from the user furthest below their part of `queue_share` (counting the jobs already
    ordered as if they were placed); ties go to the higher job priority, then the older job.
    A user's own jobs keep their order: higher priority first, then older first.
    """
    demand: dict[str, Resources] = defaultdict(Resources)
    held: dict[str, Resources] = defaultdict(Resources)
    waiting: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.status == JobStatus.RUNNING:
            held[job.user] += job.total_request
        elif job.status == JobStatus.PENDING:
            waiting[job.user].append(job)
        else:
            continue
        demand[job.user] += job.total_request
    shares = user_shares(queue_share, demand)
    for user_jobs in waiting.values():
        user_jobs.sort(key=_job_key)
    heap = [_entry(user, held[user], shares[user], jobs_[0]) for user, jobs_ in waiting.items()]
    heapq.heapify(heap)
    position = dict.fromkeys(waiting, 0)
    ordered: list[Job] = []
    while heap:
        *_, user = heapq.heappop(heap)
        job = waiting[user][position[user]]
        ordered.append(job)
        held[user] += job.total_request
        position[user] += 1
        if position[user] < len(waiting[user]):
            next_job = waiting[user][position[user]]
            heapq.heappush(heap, _entry(user, held[user], shares[user], next_job))
    return ordered


def _job_key(job: Job) -> tuple[int, float, str]:
    return (-job.priority, job.created_at, job.id)


def _entry(
    user: str, held: Resources, share: Resources, head: Job
) -> tuple[QueueOrderKey, tuple[int, float, str], str]:
    return (queue_order_key(held, share), _job_key(head), user)
