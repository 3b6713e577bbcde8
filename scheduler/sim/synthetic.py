"""Synthetic clusters and job mixes for scale benchmarks (seeded, so runs are comparable)."""

from __future__ import annotations

import random

from scheduler.core.gpu_catalog import memory_of
from scheduler.core.model import GPU, Job, Node, ReplicaRequest

MODELS = ("A100-80GB", "H100-80GB", "L40S")


def synthetic_nodes(count: int, *, gpus_per_node: int = 8, seed: int = 0) -> list[Node]:
    rng = random.Random(seed)
    nodes = []
    for i in range(count):
        model = rng.choice(MODELS)
        gpus = tuple(GPU(g, model, memory_of(model), f"GPU-{i:05d}-{g}") for g in range(gpus_per_node))
        nodes.append(Node(f"node-{i:05d}", 128_000, 1_048_576, gpus, max_pods=250))
    return nodes


def synthetic_jobs(count: int, *, seed: int = 0) -> list[Job]:
    """A realistic mix: 40% fractions, 40% 1–4 whole GPUs, 5% 8-GPU gangs, 15% CPU-only."""
    rng = random.Random(seed)
    jobs = []
    for j in range(count):
        roll = rng.random()
        replicas = 1
        models: frozenset[str] = frozenset()
        if roll < 0.40:
            gpu_milli = rng.choice((100, 250, 300, 500, 500, 700))
        elif roll < 0.80:
            gpu_milli = 1000 * rng.choice((1, 1, 1, 2, 4))
            if rng.random() < 0.2:
                models = frozenset({rng.choice(MODELS)})
        elif roll < 0.85:
            gpu_milli, replicas = 8000, rng.choice((2, 4))
        else:
            gpu_milli = 0
        cpu = rng.choice((2000, 4000, 8000, 16000)) * max(1, gpu_milli // 1000)
        request = ReplicaRequest(cpu, cpu * 4, gpu_milli, gpu_models=models)
        jobs.append(Job(f"job-{j:06d}", f"team-{j % 8}", request, replicas=replicas,
                        priority=rng.choice((0, 0, 0, 10)), created_at=float(j)))
    return jobs
