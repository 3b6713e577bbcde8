"""What must hold after any decision set of `run_cycle`, whatever the cluster: checked, then applied."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from scheduler.core.config import CycleConfig
from scheduler.core.decisions import Bind, CycleResult, Evict
from scheduler.core.model import MILLI_PER_GPU, HeldShare, Job, JobStatus, Snapshot

GRACE_SECONDS = 30.0


def check_and_apply(snapshot: Snapshot, result: CycleResult, config: CycleConfig,
                    now: float) -> tuple[list[Job], tuple[HeldShare, ...]]:
    """Assert the invariants of `result` on `snapshot`; the jobs as they are once the service has
    carried it out, and the shares its victims hold while they stop.

    As the service does: an evicted job's replicas keep their shares held until they stop, and a
    bind onto a node where a victim of the same cycle runs is deferred (its job stays pending).
    """
    jobs = {job.id: job for job in snapshot.jobs}
    binds = [d for d in result.decisions if isinstance(d, Bind)]
    evicts = [d for d in result.decisions if isinstance(d, Evict)]
    bound, evicted = [d.job_id for d in binds], [d.job_id for d in evicts]
    assert len(set(bound)) == len(bound) and len(set(evicted)) == len(evicted), result.decisions
    for eviction in evicts:
        victim = jobs[eviction.job_id]
        assert victim.status is JobStatus.RUNNING, f"evicted {victim.id}, which is {victim.status}"
        assert victim.preemptible, f"evicted {victim.id}, which is not preemptible"
        assert victim.started_at is not None
        assert now - victim.started_at >= config.min_runtime_seconds, "evicted a fresh job"
        assert eviction.action in {"reclaim", "preempt"}, eviction
    for bind in binds:
        _check_bind(snapshot, jobs[bind.job_id], bind)
    assert not set(bound) & set(evicted)
    pending = {job.id for job in snapshot.jobs if job.status is JobStatus.PENDING}
    assert set(result.reasons) == pending - set(bound)  # every job left waiting says why
    after = dict(jobs)
    held = tuple(
        HeldShare(job_id, placement.node, placement.gpus, jobs[job_id].request.cpu_millis,
                  jobs[job_id].request.memory_mib, stopping_until=now + GRACE_SECONDS)
        for job_id in evicted for placement in jobs[job_id].placements
    )
    for job_id in evicted:  # requeued, as the service does with a preempted training job
        after[job_id] = dataclasses.replace(
            jobs[job_id], status=JobStatus.PENDING, placements=(), started_at=None)
    victim_nodes = {share.node for share in held}
    for bind in binds:
        if any(placement.node in victim_nodes for placement in bind.placements):
            continue  # deferred until the victims have stopped
        after[bind.job_id] = dataclasses.replace(
            jobs[bind.job_id], status=JobStatus.RUNNING, placements=bind.placements, started_at=now)
    check_capacity(snapshot, list(after.values()), held=(*snapshot.held, *held))
    return list(after.values()), held


def _check_bind(snapshot: Snapshot, job: Job, bind: Bind) -> None:
    assert job.status is JobStatus.PENDING, f"bound {job.id}, which is {job.status}"
    # A gang comes whole: one placement per replica, each replica once.
    assert sorted(p.replica for p in bind.placements) == list(range(job.replicas)), bind
    nodes = {node.name: node for node in snapshot.nodes}
    for placement in bind.placements:
        node = nodes[placement.node]
        assert node.ready and not node.cordoned, f"{job.id} bound to unusable node {node.name}"
        if job.request.gpu_models:
            assert node.gpu_model in job.request.gpu_models
        indices = [grant.gpu_index for grant in placement.gpus]
        assert len(set(indices)) == len(indices), placement
        healthy = {gpu.index for gpu in node.gpus if gpu.healthy}
        assert set(indices) <= healthy, f"{job.id} got an unhealthy or unknown GPU: {placement}"
        assert sum(grant.milli for grant in placement.gpus) == job.request.gpu_milli
        if job.request.whole_gpus:
            assert all(grant.milli == MILLI_PER_GPU for grant in placement.gpus)


def check_capacity(snapshot: Snapshot, jobs: list[Job], *, held: tuple[HeldShare, ...] = ()) -> None:
    """No GPU share over 1000 milli, no node over its CPU, memory or pod count, counting the
    shares of stopping replicas (`held`) as taken."""
    gpu_use: dict[tuple[str, int], int] = defaultdict(int)
    cpu_use: dict[str, int] = defaultdict(int)
    memory_use: dict[str, int] = defaultdict(int)
    pods: dict[str, int] = defaultdict(int)
    for share in held:
        cpu_use[share.node] += share.cpu_millis
        memory_use[share.node] += share.memory_mib
        pods[share.node] += 1
        for grant in share.gpus:
            gpu_use[(share.node, grant.gpu_index)] += grant.milli
    for job in jobs:
        if job.status is not JobStatus.RUNNING:
            assert not job.placements, f"{job.id} is {job.status} but holds {job.placements}"
            continue
        assert len(job.placements) == job.replicas, f"running gang {job.id} is not whole"
        for placement in job.placements:
            cpu_use[placement.node] += job.request.cpu_millis
            memory_use[placement.node] += job.request.memory_mib
            pods[placement.node] += 1
            for grant in placement.gpus:
                gpu_use[(placement.node, grant.gpu_index)] += grant.milli
    over = {gpu: milli for gpu, milli in gpu_use.items() if milli > MILLI_PER_GPU}
    assert not over, f"GPU shares over capacity: {over}"
    for node in snapshot.nodes:
        assert cpu_use[node.name] <= node.cpu_millis, f"{node.name} CPU {cpu_use[node.name]}"
        assert memory_use[node.name] <= node.memory_mib, f"{node.name} memory {memory_use[node.name]}"
        assert pods[node.name] <= node.max_pods, f"{node.name} runs {pods[node.name]} pods"
