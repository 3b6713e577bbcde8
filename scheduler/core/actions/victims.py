"""Making room by eviction: choose victims that lose least work, keep a scenario only if it helps.

Every scenario runs on the statement: victims are evicted tentatively, the job is placed if it
now fits, and everything is rolled back otherwise. Reclaim and preempt differ only in which
running jobs they may take.
"""

from __future__ import annotations

from collections.abc import Callable

from scheduler.core.actions.allocate import find_placements, pending_jobs
from scheduler.core.model import Job, JobStatus
from scheduler.core.session import Session
from scheduler.core.statement import Statement

VictimFilter = Callable[[Job, Job], bool]
"""(job that needs room, running job) → may this running job be evicted for it?"""


def work_lost(job: Job, now: float) -> float:
    """Seconds of work an eviction throws away: since the last checkpoint, or since the start."""
    since = max(job.started_at or now, job.last_checkpoint_at or float("-inf"))
    return max(0.0, now - since)


def victim_key(job: Job, now: float) -> tuple[int, float, str]:
    """Cheapest victim first: lower priority, then less work lost."""
    return (job.priority, work_lost(job, now), job.id)


def candidates(session: Session, job: Job, allowed: VictimFilter) -> list[Job]:
    """Running, preemptible jobs old enough to evict that `allowed` lets `job` take."""
    now, minimum = session.now, session.config.min_runtime_seconds
    found = []
    for job_id in list(session.placements):
        victim = session.jobs.get(job_id)
        if victim is None or victim.status is not JobStatus.RUNNING or not victim.preemptible:
            continue
        if victim.started_at is not None and now - victim.started_at < minimum:
            continue
        if allowed(job, victim):
            found.append(victim)
    found.sort(key=lambda victim: victim_key(victim, now))
    return found


def _nodes_of(session: Session, victim: Job) -> set[int]:
    index = session.state.index
    return {index[p.node] for p in session.placements.get(victim.id, ()) if p.node in index}


def _evict_until_fits_on(
    session: Session, statement: Statement, job: Job, node: int, victims: list[Job],
    allowed: VictimFilter, action: str,
) -> list[Job] | None:
    """Evict victims holding `node`, cheapest first, until one replica of `job` fits there."""
    evicted = []
    for victim in victims:
        if victim.id not in session.placements or not allowed(job, victim):
            continue  # gone already, or no longer allowed now that its queue gave something up
        statement.evict(victim, action=action, message="", for_job=job.id)
        evicted.append(victim)
        if session.feasible(job.request)[node]:
            return evicted
    return None


def make_room(
    session: Session, statement: Statement, job: Job, *, allowed: VictimFilter, action: str,
    describe: Callable[[Job, Job], str],
) -> bool:
    """Evict the cheapest victims that let every replica of `job` fit, and bind it; or change nothing."""
    victims = candidates(session, job, allowed)
    if not victims:
        return False
    start = statement.checkpoint()
    if job.replicas > 1:
        # A gang: evict cheapest first until the whole gang fits, or undo everything.
        for victim in victims:
            if victim.id in session.placements and allowed(job, victim):
                statement.evict(victim, action=action, message=describe(job, victim), for_job=job.id)
                placements = find_placements(session, job)
                if placements is not None:
                    statement.bind(job, placements)
                    return True
        statement.rollback(start)
        return False
    # One replica: try each node victims hold and keep the one that loses least work.
    by_node: dict[int, list[Job]] = {}
    for victim in victims:
        for node in _nodes_of(session, victim):
            by_node.setdefault(node, []).append(victim)
    chosen: list[Job] | None = None
    best_cost: tuple[int, float, int] | None = None
    for node in sorted(by_node):
        evicted = _evict_until_fits_on(session, statement, job, node, by_node[node], allowed, action)
        statement.rollback(start)
        if evicted is None:
            continue
        cost = (max(v.priority for v in evicted),
                sum(work_lost(v, session.now) for v in evicted), len(evicted))
        if best_cost is None or cost < best_cost:
            best_cost, chosen = cost, evicted
    if chosen is None:
        return False
    for victim in chosen:
        statement.evict(victim, action=action, message=describe(job, victim), for_job=job.id)
    placements = find_placements(session, job)
    if placements is None:
        statement.rollback(start)
        return False
    statement.bind(job, placements)
    return True


def waiting_jobs(session: Session) -> list[Job]:
    """Pending jobs allocate could not place, in the session's queue and job order."""
    jobs = [job for job in pending_jobs(session) if job.id in session.waiting]
    return sorted(jobs, key=lambda job: (session.queue_key(job.queue), session.job_key(job)))
