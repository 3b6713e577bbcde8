"""Replay one seed of a trace through the scheduling core: each pod tried once, in order."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scheduler.core.actions.allocate import try_allocate
from scheduler.core.config import CycleConfig
from scheduler.core.model import Job, Node, Snapshot
from scheduler.core.plugins.placement import PlacementContext, make_policy
from scheduler.core.plugins.placement.typical import typical_shapes
from scheduler.core.session import Session
from scheduler.sim.protocol import BUCKETS, AllocCurve, build_workload
from scheduler.sim.trace import TracePod


@dataclass(frozen=True, slots=True)
class RunResult:
    seed: int
    pods_tried: int
    pods_failed: int
    alloc_at: dict[str, float | None]
    seconds: float

    def as_json(self) -> dict[str, object]:
        return {"seed": self.seed, "pods_tried": self.pods_tried, "pods_failed": self.pods_failed,
                "alloc_at": self.alloc_at, "seconds": round(self.seconds, 3)}


def replay(
    nodes: Sequence[Node],
    pods: Sequence[TracePod],
    *,
    policy: str,
    seed: int,
    arrive: float,
    progress: Callable[[int, int], None] | None = None,
    finish: Callable[[Session], None] | None = None,
) -> RunResult:
    """One run of the published protocol with `policy`; pods never leave. `finish` sees the
    session at the end (job ids are the pods' positions in the workload)."""
    started = time.process_time()  # CPU seconds: wall time on a shared machine measures neighbours
    workload = build_workload(nodes, pods, seed=seed, arrive=arrive)
    # Like FGD, the policy may know the ORIGINAL list's shape mix, never the order of later pods.
    context = PlacementContext(typical_shapes=typical_shapes(pod.request for pod in pods), seed=seed)
    config = CycleConfig(placement=policy, seed=seed, explain=False)
    session = Session(Snapshot(workload.nodes), config, now=0.0,
                      policy=make_policy(policy, context))
    statement = session.statement()
    state = session.state
    curve = AllocCurve(workload.cluster_gpu_milli)
    arrived = failed = 0
    total = len(workload.pods)
    for number, pod in enumerate(workload.pods):
        arrived += pod.request.gpu_milli
        job = Job(id=str(number), queue="trace", request=pod.request, created_at=float(number))
        if not try_allocate(session, statement, job):
            failed += 1
        curve.record(arrived, state.gpu_used)
        if progress is not None and number % 500 == 0:
            progress(number, total)
    if finish is not None:
        finish(session)
    return RunResult(
        seed=seed,
        pods_tried=total,
        pods_failed=failed,
        alloc_at={str(bucket): curve.alloc_at(bucket) for bucket in BUCKETS},
        seconds=time.process_time() - started,
    )


def median_alloc(runs: Sequence[RunResult]) -> dict[str, float | None]:
    medians: dict[str, float | None] = {}
    for bucket in BUCKETS:
        values = [run.alloc_at[str(bucket)] for run in runs]
        present = [v for v in values if v is not None]
        medians[str(bucket)] = round(statistics.median(present), 2) if present else None
    return medians
