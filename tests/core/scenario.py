"""Scenario tests written as data: nodes, jobs → where each job lands."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Bind, CycleResult
from scheduler.core.model import GPU, Job, Node, ReplicaRequest, Snapshot


def node(name: str, *, gpus: int = 8, model: str = "A100", cpu: int = 64_000,
         memory: int = 512_000, used: Sequence[int] = ()) -> Node:
    del used
    return Node(name, cpu, memory, tuple(GPU(i, model, 81920, f"{name}-{i}") for i in range(gpus)))


def job(job_id: str, *, gpus: float = 0, cpu: int = 1000, memory: int = 1024, replicas: int = 1,
        models: Sequence[str] = (), queue: str = "q", priority: int = 0, created: float = 0.0,
        gpu_memory: int = 0) -> Job:
    request = ReplicaRequest(cpu, memory, round(gpus * 1000), gpu_memory_mib=gpu_memory,
                             gpu_models=frozenset(models))
    return Job(job_id, queue, request, replicas=replicas, priority=priority,
               created_at=created or float(len(job_id)))


def cycle(nodes: Sequence[Node], jobs: Sequence[Job], policy: str = "binpack",
          seed: int = 0) -> CycleResult:
    return run_cycle(Snapshot(tuple(nodes), tuple(jobs)), CycleConfig(placement=policy, seed=seed),
                     now=0.0)


def placed(result: CycleResult) -> dict[str, list[tuple[str, tuple[tuple[int, int], ...]]]]:
    """job → [(node, ((gpu, milli), ...)) per replica]."""
    return {
        d.job_id: [(p.node, tuple((g.gpu_index, g.milli) for g in p.gpus)) for p in d.placements]
        for d in result.decisions
        if isinstance(d, Bind)
    }
