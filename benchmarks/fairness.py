"""Fairness benchmark: four queues, bursty demand over simulated time, gap to the fair share.

Run: .venv/bin/python benchmarks/fairness.py [--hours 24] [--seed 7] [--json]

The fair shares come from the scheduler's own division (scheduler.core.fairshare). Allocation
here is a stand-in until run_cycle lands: a capacity-only, non-preemptive greedy allocator
that starts jobs in the core's queue order (furthest below fair share first) and user order.
It never evicts, so it shows how far allocation drifts from the fair share without reclaim;
swap `greedy_step` for a run_cycle-driven step to measure the real scheduler.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.core.fairshare import divide_fair_share, order_pending_jobs, queue_order_key
from scheduler.core.model import Job, JobStatus, Queue, ReplicaRequest, Resources

CAPACITY_GPUS = 32
STEP_SECONDS = 60.0
QUEUES = (
    Queue("vision", deserved=Resources(gpu_milli=12_000), over_quota_weight=1.0),
    Queue("nlp", deserved=Resources(gpu_milli=8_000), over_quota_weight=2.0),
    Queue("speech", deserved=Resources(gpu_milli=8_000), over_quota_weight=1.0),
    Queue("interns", deserved=Resources(gpu_milli=4_000), over_quota_weight=0.5),
)
JOB_GPUS = (500, 1000, 1000, 2000, 4000, 8000)


@dataclass
class Burst:
    queue: str
    start: float
    end: float
    jobs_per_hour: float


@dataclass
class SimState:
    """Jobs by status and the simulated clock."""

    now: float = 0.0
    pending: list[Job] = field(default_factory=list)
    running: dict[str, tuple[Job, float]] = field(default_factory=dict)  # id → (job, ends at)
    evictions: int = 0


def make_bursts(rng: random.Random, hours: float) -> list[Burst]:
    """Each queue alternates idle and busy periods (30 min to 4 h), so owners leave and return."""
    bursts = []
    for queue in QUEUES:
        t = rng.uniform(0, 2 * 3600)
        while t < hours * 3600:
            length = rng.uniform(1800, 4 * 3600)
            bursts.append(Burst(queue.name, t, t + length, rng.uniform(6, 30)))
            t += length + rng.uniform(1800, 4 * 3600)
    return bursts


def arrivals(rng: random.Random, bursts: list[Burst], start: float, end: float) -> list[Job]:
    """Poisson arrivals of the bursts active in [start, end)."""
    jobs = []
    for burst in bursts:
        if burst.end <= start or burst.start >= end:
            continue
        expected = burst.jobs_per_hour * (end - start) / 3600
        for _ in range(_poisson(rng, expected)):
            gpus = rng.choice(JOB_GPUS)
            jobs.append(
                Job(
                    id=f"j{rng.getrandbits(48):012x}",
                    queue=burst.queue,
                    user=f"{burst.queue}-u{rng.randrange(3)}",
                    request=ReplicaRequest(gpu_milli=gpus),
                    created_at=start,
                    priority=0,
                )
            )
    return jobs


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def allocated(state: SimState) -> dict[str, Resources]:
    held = {q.name: Resources() for q in QUEUES}
    for job, _ in state.running.values():
        held[job.queue] += job.total_request
    return held


def fair_shares(state: SimState) -> dict[str, Resources]:
    demand = allocated(state)
    for job in state.pending:
        demand[job.queue] += job.total_request
    return divide_fair_share(
        queues=QUEUES, demand=demand, capacity=Resources(gpu_milli=CAPACITY_GPUS * 1000)
    )


def greedy_step(state: SimState, shares: dict[str, Resources], rng: random.Random) -> None:
    """Start pending jobs that fit, always serving the queue furthest below its fair share."""
    free = CAPACITY_GPUS * 1000 - sum(r.gpu_milli for r in allocated(state).values())
    held = allocated(state)
    by_queue = {
        q.name: order_pending_jobs(
            [j for j in state.pending if j.queue == q.name], queue_share=shares[q.name]
        )
        for q in QUEUES
    }
    while True:
        candidates = [q for q, jobs in by_queue.items() if jobs and jobs[0].gpu_milli_total <= free]
        if not candidates:
            return
        name = min(candidates, key=lambda q: (queue_order_key(held[q], shares[q]), q))
        job = by_queue[name].pop(0)
        state.pending.remove(job)
        ends = state.now + rng.expovariate(1 / 1800)
        started = dataclasses.replace(job, status=JobStatus.RUNNING, started_at=state.now)
        state.running[job.id] = (started, ends)
        held[name] += job.total_request
        free -= job.gpu_milli_total


Step = Callable[[SimState, dict[str, Resources], random.Random], None]


@dataclass(frozen=True)
class Figures:
    """What one run measured; gaps are |allocated - fair share| in GPUs, sampled every step."""

    hours: float
    seed: int
    max_gap_gpus: dict[str, float]
    mean_gap_gpus: dict[str, float]
    jain_mean: float | None
    jain_min: float | None
    owner_return_seconds_median: float | None
    owner_return_seconds_max: float | None
    evictions_per_hour: float
    gpu_utilisation: float


def simulate(*, hours: float, seed: int, step: Step = greedy_step) -> Figures:
    """Run the workload and return the figures the benchmark prints."""
    rng = random.Random(seed)
    bursts = make_bursts(rng, hours)
    state = SimState()
    gaps: dict[str, list[float]] = {q.name: [] for q in QUEUES}
    jain: list[float] = []
    utilisation: list[float] = []
    waiting_owner: dict[str, float] = {}  # queue → when it came back below its deserved quota
    owner_return: list[float] = []
    while state.now < hours * 3600:
        for job_id, (_, ends) in list(state.running.items()):
            if ends <= state.now:
                del state.running[job_id]
        state.pending += arrivals(rng, bursts, state.now, state.now + STEP_SECONDS)
        step(state, fair_shares(state), rng)
        shares, held = fair_shares(state), allocated(state)
        for queue in QUEUES:
            name = queue.name
            gaps[name].append(abs(held[name].gpu_milli - shares[name].gpu_milli) / 1000)
            owed = min(queue.deserved.gpu_milli, shares[name].gpu_milli)
            if held[name].gpu_milli < owed - 1000:  # short by more than one GPU
                waiting_owner.setdefault(name, state.now)
            elif name in waiting_owner:
                owner_return.append(state.now - waiting_owner.pop(name))
        ratios = [held[q].gpu_milli / s.gpu_milli for q, s in shares.items() if s.gpu_milli > 0]
        if ratios:
            jain.append(sum(ratios) ** 2 / (len(ratios) * sum(r * r for r in ratios)))
        utilisation.append(sum(h.gpu_milli for h in held.values()) / (CAPACITY_GPUS * 1000))
        state.now += STEP_SECONDS
    return Figures(
        hours=hours,
        seed=seed,
        max_gap_gpus={q: max(g) for q, g in gaps.items()},
        mean_gap_gpus={q: round(statistics.fmean(g), 3) for q, g in gaps.items()},
        jain_mean=round(statistics.fmean(jain), 4) if jain else None,
        jain_min=round(min(jain), 4) if jain else None,
        owner_return_seconds_median=statistics.median(owner_return) if owner_return else None,
        owner_return_seconds_max=max(owner_return) if owner_return else None,
        evictions_per_hour=state.evictions / hours,
        gpu_utilisation=round(statistics.fmean(utilisation), 4),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = simulate(hours=args.hours, seed=args.seed)
    if args.json:
        print(json.dumps(dataclasses.asdict(figures), indent=2))
        return
    print(f"fairness over {args.hours:g} simulated hours, seed {args.seed}, {CAPACITY_GPUS} GPUs")
    for queue in QUEUES:
        print(
            f"  {queue.name:8} deserved {queue.deserved.gpus:4g}"
            f"  weight {queue.over_quota_weight:3g}"
            f"  max gap {figures.max_gap_gpus[queue.name]:6.2f} GPUs"
            f"  mean gap {figures.mean_gap_gpus[queue.name]:6.2f} GPUs"
        )
    for name, value in dataclasses.asdict(figures).items():
        if not isinstance(value, dict) and name not in ("hours", "seed"):
            print(f"  {name:28} {value}")


if __name__ == "__main__":
    main()
