"""Property tests: whatever the cluster and jobs, a cycle never overcommits and gangs stay whole."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Bind
from scheduler.core.model import GPU, Job, Node, ReplicaRequest, Snapshot
from scheduler.core.plugins.placement import POLICIES

MODELS = ("A100", "T4")


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Node], list[Job]]:
    nodes = [
        Node(
            f"n{i}",
            draw(st.integers(1000, 64_000)),
            draw(st.integers(1024, 256_000)),
            tuple(GPU(g, model, 16384) for g in range(draw(st.integers(0, 8)))),
        )
        for i, model in enumerate(draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=6)))
    ]
    jobs = []
    for j in range(draw(st.integers(0, 25))):
        gpus = draw(st.sampled_from([0, 100, 250, 500, 800, 1000, 2000, 4000, 8000]))
        request = ReplicaRequest(
            draw(st.integers(0, 32_000)),
            draw(st.integers(0, 64_000)),
            gpus,
            gpu_models=frozenset(draw(st.lists(st.sampled_from(MODELS), max_size=1))),
        )
        jobs.append(Job(f"j{j}", "q", request, replicas=draw(st.integers(1, 3)),
                        created_at=float(j)))
    return nodes, jobs


@settings(max_examples=60, deadline=None)
@given(cluster=clusters(), policy=st.sampled_from(sorted(POLICIES)), seed=st.integers(0, 3))
def test_no_overcommit_and_gangs_whole(cluster: tuple[list[Node], list[Job]], policy: str,
                                       seed: int) -> None:
    nodes, jobs = cluster
    snapshot = Snapshot(tuple(nodes), tuple(jobs))
    result = run_cycle(snapshot, CycleConfig(placement=policy, seed=seed), now=0.0)
    by_name = {node.name: node for node in nodes}
    by_id = {job.id: job for job in jobs}
    gpu_use: dict[tuple[str, int], int] = defaultdict(int)
    cpu_use: dict[str, int] = defaultdict(int)
    mem_use: dict[str, int] = defaultdict(int)
    for decision in result.decisions:
        assert isinstance(decision, Bind)
        job = by_id[decision.job_id]
        assert len(decision.placements) == job.replicas  # a gang comes whole
        for placement in decision.placements:
            node = by_name[placement.node]
            cpu_use[node.name] += job.request.cpu_millis
            mem_use[node.name] += job.request.memory_mib
            if job.request.gpu_models:
                assert node.gpu_model in job.request.gpu_models
            granted = sum(g.milli for g in placement.gpus)
            assert granted == job.request.gpu_milli
            if job.request.whole_gpus:
                assert all(g.milli == 1000 for g in placement.gpus)
            for grant in placement.gpus:
                gpu_use[(node.name, grant.gpu_index)] += grant.milli
    assert all(use <= 1000 for use in gpu_use.values())
    assert all(cpu_use[name] <= by_name[name].cpu_millis for name in cpu_use)
    assert all(mem_use[name] <= by_name[name].memory_mib for name in mem_use)
    placed = {d.job_id for d in result.decisions}
    assert set(result.reasons) == {job.id for job in jobs} - placed
    # same snapshot, config and seed → same decisions
    again = run_cycle(snapshot, CycleConfig(placement=policy, seed=seed), now=0.0)
    assert again.decisions == result.decisions
