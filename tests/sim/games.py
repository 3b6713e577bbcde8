"""Tiny games for the bounds' tests: clusters, pods, and the exact optimum of the game."""

from __future__ import annotations

import random
from functools import cache

from scheduler.core.model import GPU, MILLI_PER_GPU, Node, ReplicaRequest
from scheduler.sim.trace import TracePod

NodeState = tuple[int, int, tuple[int, ...]]  # free CPU, free memory, sorted free GPU shares


def node(name: str, cpu: int, memory: int, gpus: int, model: str = "G2") -> Node:
    return Node(name, cpu, memory, tuple(GPU(i, model, 16_000) for i in range(gpus)), max_pods=1001)


def pod(name: str, cpu: int, memory: int, milli: int, models: frozenset[str] = frozenset()) -> TracePod:
    return TracePod(name, ReplicaRequest(cpu, memory, milli, gpu_models=models))


def game_optimum(nodes: list[Node], pods: list[TracePod]) -> int:
    """Most GPU thousandths any rule-obeying run can hold at the end (exhaustive search)."""
    models = tuple(n.gpu_model for n in nodes)

    def options(state: tuple[NodeState, ...], r: ReplicaRequest) -> list[tuple[NodeState, ...]]:
        result = set()
        for i, (cpu, mem, gpus) in enumerate(state):
            if r.cpu_millis > cpu or r.memory_mib > mem:
                continue
            if r.gpu_models and models[i] not in r.gpu_models:
                continue
            if r.whole_gpus:
                free = [g for g in gpus if g == MILLI_PER_GPU]
                if len(free) < r.whole_gpus:
                    continue
                rest = list(gpus)
                for _ in range(r.whole_gpus):
                    rest.remove(MILLI_PER_GPU)
                choices = [tuple(sorted(rest + [0] * r.whole_gpus))]
            elif r.gpu_milli:
                choices = []
                for g in set(gpus):
                    if g >= r.gpu_milli:
                        rest = list(gpus)
                        rest.remove(g)
                        choices.append(tuple(sorted([*rest, g - r.gpu_milli])))
            else:
                choices = [gpus]
            for after in choices:
                new = list(state)
                new[i] = (cpu - r.cpu_millis, mem - r.memory_mib, after)
                result.add(tuple(new))
        return list(result)

    @cache
    def best(j: int, state: tuple[NodeState, ...]) -> int:
        if j == len(pods):
            return 0
        r = pods[j].request
        nexts = options(state, r)
        if not nexts:  # fits nowhere: rejected, the run goes on
            return best(j + 1, state)
        return r.gpu_milli + max(best(j + 1, s) for s in nexts)  # fits: MUST be placed

    start = tuple((n.cpu_millis, n.memory_mib, tuple(MILLI_PER_GPU for _ in n.gpus)) for n in nodes)
    return best(0, start)


def percent(milli: int, nodes: list[Node]) -> float:
    return 100.0 * milli / (sum(len(n.gpus) for n in nodes) * MILLI_PER_GPU)


SHAPES = [
    (1000, 2000, 810), (2000, 3000, 470), (1000, 1000, 160), (3000, 4000, 1000), (2000, 1000, 320),
    (4000, 6000, 0), (1500, 2000, 650), (6000, 8000, 2000), (500, 500, 230), (2000, 2000, 1000),
]


def random_case(seed: int) -> tuple[list[Node], list[TracePod]]:
    rng = random.Random(seed)
    nodes = [node(f"n{i}", rng.choice([6000, 8000, 12000]), rng.choice([8000, 16000]),
                  rng.choice([1, 2, 2]), rng.choice(["G2", "T4"])) for i in range(rng.choice([2, 3]))]
    pods = []
    for j in range(rng.randint(6, 9)):
        cpu, memory, milli = rng.choice(SHAPES)
        models = frozenset({"T4"}) if milli and rng.random() < 0.15 else frozenset()
        pods.append(pod(f"p{j}", cpu, memory, milli, models))
    return nodes, pods


def small_cluster() -> tuple[list[Node], list[TracePod]]:
    """20 nodes of three kinds and 400 pods drawn from the default trace."""
    from benchmarks.policy_table import trace_path
    from scheduler.sim.trace import read_pods

    rng = random.Random(7)
    pods = rng.sample(read_pods(trace_path("default")), 400)
    nodes = ([node(f"g2-{i}", 96000, 393216, 8, "G2") for i in range(8)]
             + [node(f"t4-{i}", 104000, 524288, 2, "T4") for i in range(6)]
             + [node(f"p100-{i}", 16000, 122880, 2, "P100") for i in range(6)])
    return nodes, pods
