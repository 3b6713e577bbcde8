"""Property tests: over several cycles with running jobs, evictions and queues, no decision set
overcommits a GPU or a node (counting the shares victims hold while they stop), gangs stay
whole, and only running jobs are evicted."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Evict
from scheduler.core.model import (
    GPU,
    HeldShare,
    Job,
    JobStatus,
    Node,
    Queue,
    ReplicaRequest,
    Resources,
    Snapshot,
)
from scheduler.core.plugins.placement import POLICIES
from tests.core.invariant_checks import check_and_apply

MODELS = ("A100", "T4")
ROUNDS = 4
ROUND_SECONDS = 100.0  # longer than the minimum runtime: last round's jobs may be evicted


@dataclass(frozen=True)
class World:
    nodes: tuple[Node, ...]
    queues: tuple[Queue, ...]
    arrivals: tuple[tuple[int, Job], ...]  # (round it is submitted in, the job)
    finishing: tuple[frozenset[int], ...]  # per round: indices of running jobs that end first


@st.composite
def worlds(draw: st.DrawFn) -> World:
    # Contended worlds (few GPUs, GPU jobs only) are where reclaim and preempt have work to do.
    contended = draw(st.booleans())
    nodes = tuple(
        Node(
            f"n{i}",
            draw(st.integers(1000, 64_000)) if not contended else 64_000,
            draw(st.integers(1024, 256_000)) if not contended else 256_000,
            tuple(GPU(g, model, 16384, healthy=draw(st.booleans()) or draw(st.booleans()))
                  for g in range(draw(st.integers(0, 8) if not contended else st.integers(1, 4)))),
            max_pods=draw(st.sampled_from([2, 4, 110])),
            cordoned=draw(st.integers(0, 9)) == 0,
        )
        for i, model in enumerate(draw(st.lists(st.sampled_from(MODELS), min_size=1,
                                                max_size=5 if not contended else 2)))
    )
    leaves = [f"q{i}" for i in range(draw(st.integers(1, 3)))]
    nested = draw(st.booleans())
    queues = tuple(
        Queue(name, parent="org" if nested else None,
              deserved=Resources(gpu_milli=draw(st.sampled_from([0, 1000, 2000, 4000, 8000]))),
              priority=draw(st.integers(0, 1)))
        for name in leaves
    ) + ((Queue("org", deserved=Resources(gpu_milli=8000)),) if nested else ())
    arrivals = []
    for j in range(draw(st.integers(0, 25))):
        gpus = [250, 500, 1000, 2000] if contended else [0, 100, 250, 500, 800, 1000, 2000, 4000, 8000]
        request = ReplicaRequest(
            draw(st.integers(0, 32_000 if not contended else 4000)),
            draw(st.integers(0, 64_000 if not contended else 8000)),
            draw(st.sampled_from(gpus)),
            gpu_models=frozenset(draw(st.lists(st.sampled_from(MODELS), max_size=1))),
        )
        job = Job(f"j{j}", draw(st.sampled_from(leaves)), request,
                  replicas=draw(st.integers(1, 3)), priority=draw(st.integers(0, 3)),
                  preemptible=draw(st.integers(0, 4)) > 0, created_at=float(j))
        arrivals.append((draw(st.integers(0, ROUNDS - 1)), job))
    finishing = tuple(
        frozenset(draw(st.lists(st.integers(0, 24), max_size=3))) for _ in range(ROUNDS))
    return World(nodes, queues, tuple(arrivals), finishing)


def run_rounds(world: World, config: CycleConfig) -> int:
    """Cycles over `world`, checking every decision set; returns how many evictions there were."""
    jobs: list[Job] = []
    held: tuple[HeldShare, ...] = ()  # victims of the last round, still stopping
    evictions = 0
    for round_ in range(ROUNDS):
        now = round_ * ROUND_SECONDS
        running = [job for job in jobs if job.status is JobStatus.RUNNING]
        done = {running[i].id for i in world.finishing[round_] if i < len(running)}
        jobs = [job for job in jobs if job.id not in done]  # finished: gone from the snapshot
        jobs += [job for arrival, job in world.arrivals if arrival == round_]
        snapshot = Snapshot(world.nodes, tuple(jobs), world.queues, held=held)
        result = run_cycle(snapshot, config, now=now)
        assert run_cycle(snapshot, config, now=now).decisions == result.decisions  # deterministic
        evictions += sum(isinstance(d, Evict) for d in result.decisions)
        jobs, held = check_and_apply(snapshot, result, config, now)  # the older ones stopped
    return evictions


@settings(max_examples=150, deadline=None)
@given(world=worlds(), policy=st.sampled_from(sorted(POLICIES)), seed=st.integers(0, 3))
def test_no_overcommit_gangs_whole_and_only_running_jobs_evicted(
    world: World, policy: str, seed: int
) -> None:
    evictions = run_rounds(world, CycleConfig(placement=policy, seed=seed))
    event("with evictions" if evictions else "without evictions")


def _two_gpu_world(*jobs: tuple[int, Job], queues: tuple[Queue, ...]) -> World:
    node = Node("n0", 64_000, 256_000, (GPU(0, "A100", 16384), GPU(1, "A100", 16384)))
    return World((node,), queues, tuple(jobs), (frozenset(),) * ROUNDS)


def test_the_checks_see_a_preemption() -> None:
    # Round 0: a low-priority job takes both GPUs; round 1: a priority-3 job of the same queue
    # needs one of them, and the first has run 100 s (> the 60 s minimum): it is preempted.
    low = Job("low", "q0", ReplicaRequest(1000, 1024, 2000), priority=0)
    high = Job("high", "q0", ReplicaRequest(1000, 1024, 1000), priority=3, created_at=1.0)
    world = _two_gpu_world((0, low), (1, high), queues=(Queue("q0"),))
    assert run_rounds(world, CycleConfig()) >= 1


def test_the_checks_see_a_reclaim() -> None:
    # q1 borrows both GPUs while q0, which deserves them, is idle. q0's job then asks for one:
    # its fair share is 1 GPU, and so is q1's, which holds 2: one of q1's jobs is reclaimed.
    borrowed = [Job(f"borrower{i}", "q1", ReplicaRequest(1000, 1024, 1000)) for i in range(2)]
    owner = Job("owner", "q0", ReplicaRequest(1000, 1024, 1000), created_at=1.0)
    queues = (Queue("q0", deserved=Resources(gpu_milli=2000)), Queue("q1"))
    world = _two_gpu_world(*((0, job) for job in borrowed), (1, owner), queues=queues)
    assert run_rounds(world, CycleConfig()) >= 1
