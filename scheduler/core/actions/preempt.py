"""Preempt: inside one queue, a higher-priority job evicts lower-priority preemptible ones."""

from __future__ import annotations

from scheduler.core.actions.victims import Victims, make_room, shape_of, waiting_jobs
from scheduler.core.decisions import ReasonItem
from scheduler.core.model import Job
from scheduler.core.session import Session
from scheduler.core.statement import Statement


def _lower_priority_same_queue(job: Job, victim: Job) -> bool:
    return victim.queue == job.queue and victim.priority < job.priority


def _describe(job: Job, victim: Job) -> str:
    return (f"preempted by job {job.id} of priority {job.priority} "
            f"(this job has priority {victim.priority}) in queue {job.queue}")


def preempt(session: Session, statement: Statement) -> None:
    victims = Victims(session)
    lowest = {queue: min(v.priority for v in jobs) for queue, jobs in victims.by_queue.items()}
    failed: dict[tuple[object, ...], int] = {}
    for job in waiting_jobs(session):
        if session.waiting[job.id] or job.priority <= lowest.get(job.queue, job.priority):
            continue  # vetoed by its queue, or nothing of lower priority runs in it
        shape = shape_of(job)
        if failed.get(shape) != statement.checkpoint() and make_room(
            session, statement, job, victims.for_job(job, _lower_priority_same_queue, [job.queue]),
            allowed=_lower_priority_same_queue, action="preempt", describe=_describe,
        ):
            session.waiting.pop(job.id, None)
            session.notes.pop(job.id, None)
            continue
        failed[shape] = statement.checkpoint()
        session.note(job, ReasonItem(
            "preempt",
            f"no lower-priority preemptible job of queue {job.queue} frees a place it fits",
            {},
        ))
