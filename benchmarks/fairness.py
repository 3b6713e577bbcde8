"""Fairness benchmark: four queues, bursty demand over simulated time, gap to the fair share.

Run: .venv/bin/python benchmarks/fairness.py [--hours 24] [--seed 7] [--allocator both] [--json]

Four queues with different quotas and weights share 4 nodes x 8 GPUs. Each queue alternates idle
and busy periods, so owners leave (their GPUs are lent) and come back (and want them back). Every
simulated minute the scheduler runs once; the benchmark samples each queue's allocation against
its fair share from the core's own division.

Two allocators run on the same workload:
- cycle: the real scheduler, scheduler.core.cycle.run_cycle (allocate, reclaim, preempt);
- greedy: a baseline that starts jobs in fair-share order on free GPUs and never evicts, to
  show what reclaim buys.
An evicted job goes back to pending and later resumes where it stopped (it checkpoints).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Bind, Evict
from scheduler.core.fairshare import divide_fair_share, order_pending_jobs, queue_order_key
from scheduler.core.model import (
    GPU,
    Job,
    JobStatus,
    Node,
    Queue,
    ReplicaPlacement,
    ReplicaRequest,
    Resources,
    Snapshot,
)

NODES = tuple(
    Node(
        name=f"node-{n}",
        cpu_millis=128_000,
        memory_mib=1_024_000,
        gpus=tuple(GPU(index=i, model="A100", memory_mib=81_920) for i in range(8)),
    )
    for n in range(4)
)
CAPACITY_MILLI = sum(len(node.gpus) for node in NODES) * 1000
STEP_SECONDS = 60.0
QUEUES = (
    Queue("vision", deserved=Resources(gpu_milli=12_000), over_quota_weight=1.0),
    Queue("nlp", deserved=Resources(gpu_milli=8_000), over_quota_weight=2.0),
    Queue("speech", deserved=Resources(gpu_milli=8_000), over_quota_weight=1.0),
    Queue("interns", deserved=Resources(gpu_milli=4_000), over_quota_weight=0.5),
)
JOB_GPUS = (500, 1000, 1000, 2000, 4000, 8000)
MEAN_JOB_SECONDS = 1800.0


@dataclass
class Burst:
    queue: str
    start: float
    end: float
    jobs_per_hour: float


@dataclass
class SimState:
    """Jobs by status, the work each has left, and the simulated clock."""

    now: float = 0.0
    pending: dict[str, Job] = field(default_factory=dict)
    running: dict[str, Job] = field(default_factory=dict)
    work_left: dict[str, float] = field(default_factory=dict)
    evictions: int = 0

    def start(self, job: Job, placements: tuple[ReplicaPlacement, ...] = ()) -> None:
        del self.pending[job.id]
        self.running[job.id] = dataclasses.replace(
            job, status=JobStatus.RUNNING, started_at=self.now, placements=placements
        )

    def evict(self, job_id: str) -> None:
        job = self.running.pop(job_id)
        self.pending[job_id] = dataclasses.replace(
            job, status=JobStatus.PENDING, started_at=None, placements=()
        )
        self.evictions += 1


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


def arrivals(rng: random.Random, bursts: list[Burst], start: float) -> list[tuple[Job, float]]:
    """Poisson arrivals in [start, start + STEP_SECONDS), each with its length of work."""
    jobs = []
    for burst in bursts:
        if burst.end <= start or burst.start >= start + STEP_SECONDS:
            continue
        for _ in range(_poisson(rng, burst.jobs_per_hour * STEP_SECONDS / 3600)):
            job = Job(
                id=f"j{rng.getrandbits(48):012x}",
                queue=burst.queue,
                user=f"{burst.queue}-u{rng.randrange(3)}",
                request=ReplicaRequest(gpu_milli=rng.choice(JOB_GPUS)),
                created_at=start,
            )
            jobs.append((job, rng.expovariate(1 / MEAN_JOB_SECONDS)))
    return jobs


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def allocated(state: SimState) -> dict[str, Resources]:
    held = {q.name: Resources() for q in QUEUES}
    for job in state.running.values():
        held[job.queue] += job.total_request
    return held


def fair_shares(state: SimState) -> dict[str, Resources]:
    demand = allocated(state)
    for job in state.pending.values():
        demand[job.queue] += job.total_request
    return divide_fair_share(queues=QUEUES, demand=demand, capacity=Resources(gpu_milli=CAPACITY_MILLI))


def greedy_step(state: SimState) -> None:
    """Start pending jobs that fit the free GPUs (capacity only), queue furthest below share first."""
    shares, held = fair_shares(state), allocated(state)
    free = CAPACITY_MILLI - sum(r.gpu_milli for r in held.values())
    by_queue = {
        q.name: order_pending_jobs(
            [j for j in state.pending.values() if j.queue == q.name], queue_share=shares[q.name]
        )
        for q in QUEUES
    }
    while True:
        fitting = [q for q, jobs in by_queue.items() if jobs and jobs[0].gpu_milli_total <= free]
        if not fitting:
            return
        name = min(fitting, key=lambda q: (queue_order_key(held[q], shares[q]), q))
        job = by_queue[name].pop(0)
        state.start(job)
        held[name] += job.total_request
        free -= job.gpu_milli_total


CYCLE_CONFIG = CycleConfig(explain=False)


def cycle_step(state: SimState) -> None:
    """One run_cycle over the current jobs; its binds and evictions are carried out at once."""
    snapshot = Snapshot(
        nodes=NODES, jobs=(*state.running.values(), *state.pending.values()), queues=QUEUES
    )
    result = run_cycle(snapshot, CYCLE_CONFIG, state.now)
    for decision in result.decisions:
        if isinstance(decision, Evict):
            state.evict(decision.job_id)
    for decision in result.decisions:
        if isinstance(decision, Bind):
            state.start(state.pending[decision.job_id], decision.placements)


ALLOCATORS: dict[str, Callable[[SimState], None]] = {"cycle": cycle_step, "greedy": greedy_step}


@dataclass(frozen=True)
class Figures:
    """What one run measured; gaps are |allocated - fair share| in GPUs, sampled every step."""

    allocator: str
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


def simulate(*, hours: float, seed: int, allocator: str = "cycle") -> Figures:
    """Run the workload of `seed` for `hours` through `allocator` and measure fairness."""
    step = ALLOCATORS[allocator]
    rng = random.Random(seed)  # the workload only: both allocators see the same jobs
    bursts = make_bursts(rng, hours)
    state = SimState()
    gaps: dict[str, list[float]] = {q.name: [] for q in QUEUES}
    jain: list[float] = []
    utilisation: list[float] = []
    short_since: dict[str, float] = {}  # queue → when it fell short of what it is owed
    owner_return: list[float] = []
    while state.now < hours * 3600:
        for job_id in list(state.running):
            state.work_left[job_id] -= STEP_SECONDS
            if state.work_left[job_id] <= 0:
                del state.running[job_id]
        for job, work in arrivals(rng, bursts, state.now):
            state.pending[job.id] = job
            state.work_left[job.id] = work
        step(state)
        shares, held = fair_shares(state), allocated(state)
        for queue in QUEUES:
            name = queue.name
            gaps[name].append(abs(held[name].gpu_milli - shares[name].gpu_milli) / 1000)
            owed = min(queue.deserved.gpu_milli, shares[name].gpu_milli)
            if held[name].gpu_milli < owed - 1000:  # short of its quota by more than one GPU
                short_since.setdefault(name, state.now)
            elif name in short_since:
                owner_return.append(state.now - short_since.pop(name))
        ratios = [held[q].gpu_milli / s.gpu_milli for q, s in shares.items() if s.gpu_milli > 0]
        if ratios and any(ratios):
            jain.append(sum(ratios) ** 2 / (len(ratios) * sum(r * r for r in ratios)))
        utilisation.append(sum(h.gpu_milli for h in held.values()) / CAPACITY_MILLI)
        state.now += STEP_SECONDS
    return Figures(
        allocator=allocator,
        hours=hours,
        seed=seed,
        max_gap_gpus={q: max(g) for q, g in gaps.items()},
        mean_gap_gpus={q: round(statistics.fmean(g), 3) for q, g in gaps.items()},
        jain_mean=round(statistics.fmean(jain), 4) if jain else None,
        jain_min=round(min(jain), 4) if jain else None,
        owner_return_seconds_median=statistics.median(owner_return) if owner_return else None,
        owner_return_seconds_max=max(owner_return) if owner_return else None,
        evictions_per_hour=round(state.evictions / hours, 2),
        gpu_utilisation=round(statistics.fmean(utilisation), 4),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--allocator", choices=[*ALLOCATORS, "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    names = list(ALLOCATORS) if args.allocator == "both" else [args.allocator]
    runs = [simulate(hours=args.hours, seed=args.seed, allocator=name) for name in names]
    if args.json:
        print(json.dumps({run.allocator: dataclasses.asdict(run) for run in runs}, indent=2))
        return
    gpus = CAPACITY_MILLI // 1000
    print(f"fairness over {args.hours:g} simulated hours, seed {args.seed}, {gpus} GPUs")
    for run in runs:
        print(f"{run.allocator}:")
        for queue in QUEUES:
            print(
                f"  {queue.name:8} deserved {queue.deserved.gpus:4g}  weight {queue.over_quota_weight:3g}"
                f"  max gap {run.max_gap_gpus[queue.name]:6.2f} GPUs"
                f"  mean gap {run.mean_gap_gpus[queue.name]:6.2f} GPUs"
            )
        for name, value in dataclasses.asdict(run).items():
            if not isinstance(value, dict) and name not in ("allocator", "hours", "seed"):
                print(f"  {name:28} {value}")


if __name__ == "__main__":
    main()
