"""Fair-share scenarios as data, run for extra rounds to prove nothing ping-pongs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Bind, CycleResult, Evict
from scheduler.core.model import Job, JobStatus, Node, Queue, Resources, Snapshot

BIG = 10**12  # "no limit" on a resource a limit does not mention


def queue(name: str, deserved: float, *, weight: float = 1.0, priority: int = 0,
          limit: float | None = None, parent: str | None = None) -> Queue:
    return Queue(
        name, parent, Resources(0, 0, round(deserved * 1000)),
        None if limit is None else Resources(BIG, BIG, round(limit * 1000)),
        weight, priority,
    )


def step(snapshot: Snapshot, result: CycleResult, now: float) -> Snapshot:
    """Carry out a cycle's decisions: binds start running, evicted jobs go back to pending."""
    jobs = {job.id: job for job in snapshot.jobs}
    for decision in result.decisions:
        job = jobs[decision.job_id]
        if isinstance(decision, Evict):
            jobs[job.id] = replace(job, status=JobStatus.PENDING, placements=(), started_at=None)
        elif isinstance(decision, Bind):
            jobs[job.id] = replace(job, status=JobStatus.RUNNING, placements=decision.placements,
                                   started_at=now)
    return replace(snapshot, jobs=tuple(jobs.values()))


def settle(nodes: Sequence[Node], queues: Sequence[Queue], jobs: Sequence[Job], *,
           now: float = 1000.0, config: CycleConfig | None = None,
           extra_rounds: int = 3) -> tuple[Snapshot, list[CycleResult]]:
    """Run cycles until nothing moves, then `extra_rounds` more that must move nothing."""
    config = config or CycleConfig(min_runtime_seconds=0)
    snapshot = Snapshot(tuple(nodes), tuple(jobs), tuple(queues))
    results = []
    for _ in range(10):
        result = run_cycle(snapshot, config, now=now)
        results.append(result)
        if not result.decisions:
            break
        snapshot = step(snapshot, result, now)
        now += 100
    else:
        raise AssertionError("the scheduler did not settle in 10 cycles")
    for _ in range(extra_rounds):
        again = run_cycle(snapshot, config, now=now)
        assert again.decisions == (), f"moved after settling: {again.decisions}"
        now += 100
    return snapshot, results


def gpus_by_queue(snapshot: Snapshot) -> dict[str, float]:
    held: dict[str, float] = {}
    for job in snapshot.jobs:
        if job.status is JobStatus.RUNNING:
            held[job.queue] = held.get(job.queue, 0) + job.total_request.gpu_milli / 1000
    return held
