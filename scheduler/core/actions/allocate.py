"""Allocate: place pending jobs in queue order, each gang whole or not at all."""

from __future__ import annotations

import heapq

from scheduler.core.decisions import ReasonItem
from scheduler.core.model import GpuGrant, Job, JobStatus, ReplicaPlacement
from scheduler.core.session import Session
from scheduler.core.statement import Statement


def find_placements(session: Session, job: Job) -> tuple[ReplicaPlacement, ...] | None:
    """Where every replica of `job` would go now, or None if not all fit (nothing is kept)."""
    state = session.state
    request = job.request
    if job.replicas == 1:
        choice = session.choose(request)
        if choice is None:
            session.replicas_fit[job.id] = 0
            return None
        i, grants = choice
        return (ReplicaPlacement(0, state.nodes[i].name, grants),)
    taken: list[tuple[int, tuple[GpuGrant, ...]]] = []
    try:
        for _ in range(job.replicas):
            choice = session.choose(request)
            if choice is None:
                session.replicas_fit[job.id] = len(taken)
                return None
            state.take(choice[0], request, choice[1])  # later replicas see this one's usage
            taken.append(choice)
    finally:
        for i, grants in reversed(taken):
            state.give_back(i, request, grants)
    return tuple(
        ReplicaPlacement(replica, state.nodes[i].name, grants)
        for replica, (i, grants) in enumerate(taken)
    )


def try_allocate(session: Session, statement: Statement, job: Job) -> bool:
    """Bind `job` on the statement if its queue allows it and every replica fits."""
    reason = session.veto(job)
    if reason is not None:
        session.waiting.setdefault(job.id, []).append(reason)
        return False
    placements = find_placements(session, job)
    if placements is None:
        return False
    statement.bind(job, placements)
    session.waiting.pop(job.id, None)
    return True


def pending_jobs(session: Session) -> list[Job]:
    return [
        job
        for job in session.jobs.values()
        if job.status is JobStatus.PENDING and job.id not in session.placements
    ]


def allocate(session: Session, statement: Statement) -> None:
    """Queue furthest below its fair share first; inside a queue by the job order hooks."""
    by_queue: dict[str, list[Job]] = {}
    for job in pending_jobs(session):
        by_queue.setdefault(job.queue, []).append(job)
    heap: list[tuple[tuple[object, ...], str]] = []
    for queue, jobs in by_queue.items():
        jobs.sort(key=session.job_key, reverse=True)  # pop() from the end takes the first
        heap.append((session.queue_key(queue), queue))
    heapq.heapify(heap)
    # A shape that failed stays failed until something is given back (jobs only take space here).
    failed_shapes: dict[object, tuple[int, int]] = {}
    ahead: dict[str, int] = {}
    while heap:
        _, queue = heapq.heappop(heap)
        jobs = by_queue[queue]
        job = jobs.pop()
        shape = (job.request, job.replicas)
        known = failed_shapes.get(shape)
        if known is not None and known[0] == session.state.releases and session.veto(job) is None:
            session.waiting.setdefault(job.id, [])
            session.replicas_fit[job.id] = known[1]
        elif not try_allocate(session, statement, job) and job.id not in session.waiting:
            failed_shapes[shape] = (session.state.releases, session.replicas_fit.get(job.id, 0))
            session.waiting[job.id] = []
        if job.id in session.waiting:
            count = ahead.get(queue, 0)
            if count:
                session.note(job, ReasonItem(
                    "jobs-ahead",
                    f"{count} job{'s' if count != 1 else ''} of queue {queue} wait ahead of this one",
                    {"jobs_ahead": count},
                ))
            ahead[queue] = count + 1
        if jobs:
            heapq.heappush(heap, (session.queue_key(queue), queue))
