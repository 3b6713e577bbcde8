"""From a snapshot to fair shares: capacity of ready nodes, demand and allocation per queue."""

from __future__ import annotations

from scheduler.core.fairshare import (
    allocated_by_queue,
    cluster_capacity,
    demand_by_queue,
    snapshot_fair_shares,
)
from scheduler.core.model import (
    GPU,
    GpuGrant,
    Job,
    JobStatus,
    Node,
    Queue,
    ReplicaPlacement,
    ReplicaRequest,
    Resources,
    Snapshot,
)


def node(name: str, *, gpus: int, ready: bool = True, broken: int = 0) -> Node:
    return Node(
        name=name,
        cpu_millis=32_000,
        memory_mib=128_000,
        gpus=tuple(
            GPU(index=i, model="A100", memory_mib=81920, healthy=i >= broken) for i in range(gpus)
        ),
        ready=ready,
    )


def job(job_id: str, queue: str, milli: int, status: JobStatus, replicas: int = 1) -> Job:
    placements = ()
    if status == JobStatus.RUNNING:
        placements = tuple(
            ReplicaPlacement(replica=r, node="n1", gpus=(GpuGrant(gpu_index=r, milli=milli),))
            for r in range(replicas)
        )
    return Job(
        id=job_id,
        queue=queue,
        request=ReplicaRequest(gpu_milli=milli, cpu_millis=1000),
        replicas=replicas,
        status=status,
        placements=placements,
    )


def test_capacity_counts_ready_nodes_and_healthy_gpus() -> None:
    # n1: 8 GPUs, 2 broken → 6; n2 not ready → nothing; n3: 4 → 10 GPUs, 2 nodes of CPU/memory
    capacity = cluster_capacity(
        [node("n1", gpus=8, broken=2), node("n2", gpus=8, ready=False), node("n3", gpus=4)]
    )
    assert capacity == Resources(cpu_millis=64_000, memory_mib=256_000, gpu_milli=10_000)


def test_demand_and_allocation_per_queue() -> None:
    jobs = [
        job("a", "vision", 1000, JobStatus.RUNNING, replicas=2),  # 2 GPUs held
        job("b", "vision", 500, JobStatus.PENDING),
        job("c", "nlp", 4000, JobStatus.PENDING),
        job("d", "nlp", 4000, JobStatus.SUCCEEDED),  # finished: counts for nothing
    ]
    assert allocated_by_queue(jobs) == {"vision": Resources(2000, 0, 2000)}
    assert demand_by_queue(jobs) == {
        "vision": Resources(cpu_millis=3000, gpu_milli=2500),
        "nlp": Resources(cpu_millis=1000, gpu_milli=4000),
    }


def test_snapshot_fair_shares_skip_jobs_of_unknown_queues() -> None:
    # 8 GPUs; vision deserves 6 and wants 2.5; nlp wants 4 → 2.5 and 4; "ghost" jobs ignored
    snapshot = Snapshot(
        nodes=(node("n1", gpus=8),),
        queues=(Queue("vision", deserved=Resources(gpu_milli=6000)), Queue("nlp")),
        jobs=(
            job("a", "vision", 1000, JobStatus.RUNNING, replicas=2),
            job("b", "vision", 500, JobStatus.PENDING),
            job("c", "nlp", 4000, JobStatus.PENDING),
            job("g", "ghost", 8000, JobStatus.PENDING),
        ),
    )
    shares = snapshot_fair_shares(snapshot)
    assert shares["vision"].gpu_milli == 2500
    assert shares["nlp"].gpu_milli == 4000
    assert set(shares) == {"vision", "nlp"}
