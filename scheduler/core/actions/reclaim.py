"""Reclaim: a queue below its fair share takes back GPUs lent to queues above theirs."""

from __future__ import annotations

from scheduler.core.actions.victims import make_room, waiting_jobs
from scheduler.core.decisions import ReasonItem
from scheduler.core.model import Job
from scheduler.core.session import Session
from scheduler.core.statement import Statement


def _may_take(session: Session, job: Job, victim: Job) -> bool:
    return not any(veto(job, victim) for veto in session.reclaim_vetoes)


def _describe(job: Job, victim: Job) -> str:
    return (f"reclaimed for job {job.id}: queue {job.queue} is below its fair share and "
            f"queue {victim.queue} is above its own")


def reclaim(session: Session, statement: Statement) -> None:
    """For each waiting job whose queue is below its fair share, evict borrowers to fit it."""
    if not session.reclaim_gates:
        return  # no fair share configured: nothing is lent, nothing is reclaimed
    for job in waiting_jobs(session):
        if session.waiting[job.id]:
            continue  # vetoed by its own queue (limit, quota): reclaim would not help
        gate = session.reclaim_gate(job)
        if gate is not None:
            session.note(job, gate)
            continue
        if make_room(session, statement, job, allowed=lambda j, v: _may_take(session, j, v),
                     action="reclaim", describe=_describe):
            session.waiting.pop(job.id, None)
            session.notes.pop(job.id, None)
        else:
            session.note(job, ReasonItem(
                "reclaim",
                "reclaim cannot help: no preemptible job of a queue above its fair share "
                "(and running longer than the minimum runtime) frees a place it fits",
                {},
            ))
