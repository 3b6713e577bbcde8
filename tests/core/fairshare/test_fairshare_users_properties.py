"""Properties of the user order inside one queue: a permutation, always the most starved user."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.fairshare import order_pending_jobs, user_shares
from scheduler.core.model import Job, JobStatus, ReplicaRequest, Resources

USERS = ("ann", "bob", "cyd")


@st.composite
def queue_jobs(draw: st.DrawFn) -> list[Job]:
    jobs = []
    for i in range(draw(st.integers(0, 14))):
        jobs.append(
            Job(
                id=f"j{i}",
                queue="q",
                user=draw(st.sampled_from(USERS)),
                request=ReplicaRequest(gpu_milli=draw(st.sampled_from([500, 1000, 2000]))),
                priority=draw(st.integers(0, 2)),
                created_at=draw(st.integers(0, 5)),
                status=draw(st.sampled_from([JobStatus.PENDING] * 3 + [JobStatus.RUNNING])),
            )
        )
    return jobs


@settings(max_examples=150, deadline=None)
@given(queue_jobs(), st.integers(0, 12_000))
def test_each_next_job_belongs_to_the_user_furthest_below_their_part(
    jobs: list[Job], share_milli: int
) -> None:
    share = Resources(gpu_milli=share_milli)
    order = order_pending_jobs(jobs, queue_share=share)
    pending = [j for j in jobs if j.status == JobStatus.PENDING]
    assert Counter(j.id for j in order) == Counter(j.id for j in pending)
    demand: dict[str, Resources] = {}
    held = dict.fromkeys(USERS, 0)
    for job in jobs:
        if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
            demand[job.user] = demand.get(job.user, Resources()) + job.total_request
        if job.status == JobStatus.RUNNING:
            held[job.user] += job.gpu_milli_total
    parts = {u: s.gpu_milli for u, s in user_shares(share, demand).items()}

    def ratio(user: str) -> tuple[int, Fraction]:
        # holding something with a zero part sorts after every finite ratio
        if parts[user] == 0:
            return (1, Fraction(0)) if held[user] else (0, Fraction(0))
        return (0, Fraction(held[user], parts[user]))

    left = Counter(j.user for j in pending)
    for job in order:
        waiting = [u for u in USERS if left[u]]
        assert ratio(job.user) <= min(ratio(u) for u in waiting)
        held[job.user] += job.gpu_milli_total
        left[job.user] -= 1
    # a user's own jobs keep priority, then age
    for user in USERS:
        mine = [j for j in order if j.user == user]
        keys = [(-j.priority, j.created_at, j.id) for j in mine]
        assert keys == sorted(keys)
