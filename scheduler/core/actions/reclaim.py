"""Reclaim: a queue below its fair share takes back GPUs lent to queues above theirs."""

from __future__ import annotations

from scheduler.core.actions.victims import Victims, make_room, shape_of, waiting_jobs
from scheduler.core.decisions import ReasonItem
from scheduler.core.model import Job
from scheduler.core.session import Session
from scheduler.core.statement import Statement

CANNOT_HELP = ReasonItem(
    "reclaim",
    "reclaim cannot help: no preemptible job of a queue above its fair share "
    "(and running longer than the minimum runtime) frees a place it fits",
    {},
)


def _describe(job: Job, victim: Job) -> str:
    return (f"reclaimed for job {job.id}: queue {job.queue} is below its fair share and "
            f"queue {victim.queue} is above its own")


def reclaim(session: Session, statement: Statement) -> None:
    """For each waiting job whose queue is below its fair share, evict borrowers to fit it."""
    if not session.reclaims:
        return  # no fair share configured: nothing is lent, nothing is reclaimed
    allowed = session.may_reclaim
    victims = Victims(session)
    failed: dict[tuple[object, ...], int] = {}  # shape → statement length when it failed
    for job in waiting_jobs(session):
        if session.waiting[job.id]:
            continue  # vetoed by its own queue (limit, quota): reclaim would not help
        gate = session.reclaim_gate(job)
        if gate is not None:
            session.note(job, gate)
            continue
        shape = shape_of(job)
        if failed.get(shape) == statement.checkpoint():
            session.note(job, CANNOT_HELP)  # an identical job just failed and nothing changed
            continue
        others = session.victim_queues(job, victims.by_queue)
        if make_room(session, statement, job, victims.for_job(job, allowed, others),
                     allowed=allowed, action="reclaim", describe=_describe):
            session.waiting.pop(job.id, None)
            session.notes.pop(job.id, None)
        else:
            failed[shape] = statement.checkpoint()
            session.note(job, CANNOT_HELP)
