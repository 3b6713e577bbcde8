"""Preempt: inside one queue, a higher-priority job evicts lower-priority preemptible ones."""

from __future__ import annotations

from scheduler.core.actions.victims import make_room, waiting_jobs
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
    for job in waiting_jobs(session):
        if session.waiting[job.id]:
            continue
        if make_room(session, statement, job, allowed=_lower_priority_same_queue,
                     action="preempt", describe=_describe):
            session.waiting.pop(job.id, None)
            session.notes.pop(job.id, None)
        elif job.priority > 0:
            session.note(job, ReasonItem(
                "preempt",
                f"no lower-priority preemptible job of queue {job.queue} frees a place it fits",
                {},
            ))
