"""Making room by eviction: choose victims that lose least work, keep a scenario only if it helps.

Candidate nodes are screened with the ordinary node filters on what-if rows (what would be free
there once its victims go, see scheduler.core.whatif); the chosen scenario then runs on the
statement — victims evicted, the job placed — and is rolled back whole if it does not work.
Reclaim and preempt differ only in which running jobs they may take.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scheduler.core import held as held_shares
from scheduler.core.actions.allocate import find_placements, pending_jobs
from scheduler.core.filters import fits
from scheduler.core.model import MILLI_PER_GPU, Job, JobStatus
from scheduler.core.session import Session
from scheduler.core.statement import Statement
from scheduler.core.whatif import Releases, rows_after_release

VictimFilter = Callable[[Job, Job], bool]
"""(job that needs room, running job) → may this running job be evicted for it?"""


def work_lost(job: Job, now: float) -> float:
    """Seconds of work an eviction throws away: since the last checkpoint, or since the start."""
    since = max(job.started_at or now, job.last_checkpoint_at or float("-inf"))
    return max(0.0, now - since)


def victim_key(job: Job, now: float) -> tuple[int, float, str]:
    """Cheapest victim first: lower priority, then less work lost (in GPU-seconds)."""
    weight = max(job.total_request.gpu_milli / MILLI_PER_GPU, 1.0)
    return (job.priority, work_lost(job, now) * weight, job.id)


class Victims:
    """Running, preemptible jobs old enough to evict, indexed by queue, cheapest first."""

    def __init__(self, session: Session) -> None:
        self.session = session
        now, minimum = session.now, session.config.min_runtime_seconds
        by_queue: dict[str, list[Job]] = {}
        for job_id in session.placements:
            job = session.jobs.get(job_id)
            if job is None or job.status is not JobStatus.RUNNING or not job.preemptible:
                continue
            if job.started_at is not None and now - job.started_at < minimum:
                continue
            by_queue.setdefault(job.queue, []).append(job)
        for jobs in by_queue.values():
            jobs.sort(key=lambda job: victim_key(job, now))
        self.by_queue = by_queue

    def for_job(self, job: Job, allowed: VictimFilter, queues: list[str] | None = None) -> list[Job]:
        """Victims `allowed` lets `job` take, still holding resources, cheapest first."""
        placements = self.session.placements
        found = [
            victim
            for queue in (queues if queues is not None else list(self.by_queue))
            for victim in self.by_queue.get(queue, ())
            if victim.id in placements and allowed(job, victim)
        ]
        now = self.session.now
        found.sort(key=lambda victim: victim_key(victim, now))
        return found


def _fits_once_gone(
    session: Session, job: Job, by_node: dict[int, list[Job]], released: Releases
) -> dict[int, list[Job]]:
    """Per node: the shortest prefix of its victims (`released`: a group per victim and node)
    whose eviction lets one replica fit there."""
    rows = rows_after_release(session.state, released)
    taken: dict[int, list[Job]] = {}
    for row in np.flatnonzero(fits(rows, job.request)).tolist():
        node = int(rows.node[row])
        if node not in taken:  # rows of a node come shortest prefix first
            taken[node] = by_node[node][: int(rows.step[row]) + 1]
    return taken


def _apply(session: Session, statement: Statement, job: Job, victims: list[Job],
           allowed: VictimFilter, action: str, describe: Callable[[Job, Job], str]) -> bool:
    """Evict `victims` and bind `job` on the statement, or undo it all and return False."""
    start = statement.checkpoint()
    for victim in victims:
        if victim.id not in session.placements or not allowed(job, victim):
            statement.rollback(start)  # taking the earlier ones changed what this one may give
            return False
        statement.evict(victim, action=action, message=describe(job, victim), for_job=job.id)
    placements = find_placements(session, job)
    if placements is None:
        statement.rollback(start)
        return False
    statement.bind(job, placements)
    return True


def make_room(
    session: Session, statement: Statement, job: Job, victims: list[Job], *, allowed: VictimFilter,
    action: str, describe: Callable[[Job, Job], str],
) -> bool:
    """Evict the cheapest victims that let every replica of `job` fit, and bind it; or change nothing."""
    if not victims:
        return False
    if job.replicas > 1:
        # A gang: evict cheapest first until the whole gang fits, or undo everything.
        start = statement.checkpoint()
        for victim in victims:
            if victim.id not in session.placements or not allowed(job, victim):
                continue
            statement.evict(victim, action=action, message=describe(job, victim), for_job=job.id)
            placements = find_placements(session, job)
            if placements is not None:
                statement.bind(job, placements)
                return True
        statement.rollback(start)
        return False
    # One replica: on each node its victims hold, the cheapest prefix that makes room; best first.
    index = session.state.index
    by_node: dict[int, list[Job]] = {}
    released = Releases()
    group: dict[int, int] = {}  # node → the group of the victim last seen there
    for victim in victims:
        for placement in session.placements.get(victim.id, ()):
            node = index.get(placement.node)
            if node is None:
                continue
            held = by_node.setdefault(node, [])
            if not held or held[-1] is not victim:  # a victim's placements come together
                held.append(victim)
                group[node] = released.start(node)
            released.give_back(group[node], victim.request, placement.gpus)
    options = []
    now = session.now
    for node, taken in _fits_once_gone(session, job, by_node, released).items():
        cost = (max(v.priority for v in taken), sum(victim_key(v, now)[1] for v in taken),
                len(taken), node)
        options.append((cost, taken))
    options.sort(key=lambda option: option[0])
    return any(_apply(session, statement, job, taken, allowed, action, describe)
               for _, taken in options[:8])


def waiting_jobs(session: Session) -> list[Job]:
    """Pending jobs allocate could not place, in the session's queue and job order; not those
    that will fit once a stopping replica is gone (evicting more for them would be waste)."""
    jobs = [job for job in pending_jobs(session) if job.id in session.waiting]
    if session.held:
        waits: dict[tuple[object, ...], bool] = {}  # jobs of one shape wait alike
        for job in jobs:
            shape = (job.request, job.replicas)
            if shape not in waits:
                waits[shape] = held_shares.waiting_item(session, job) is not None
        jobs = [job for job in jobs if not waits[(job.request, job.replicas)]]
    queues = sorted({job.queue for job in jobs}, key=session.queue_key)
    rank = {queue: position for position, queue in enumerate(queues)}  # compare ints, not keys
    return sorted(jobs, key=lambda job: (rank[job.queue], session.job_key(job)))


def shape_of(job: Job) -> tuple[object, ...]:
    """Jobs alike for eviction: a failed attempt for one fails for all until something changes."""
    return (job.queue, job.priority, job.request, job.replicas)
