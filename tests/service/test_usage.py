"""Time-based fairness in the live loop: decayed usage reaches the core's snapshot."""

from __future__ import annotations

from dataclasses import replace

from scheduler.core.model import GpuGrant, Job, JobStatus, Queue, ReplicaPlacement, ReplicaRequest, Snapshot
from scheduler.service.usage import QueueUsage


def snapshot_with(queue_gpus: dict[str, int]) -> Snapshot:
    jobs = tuple(
        Job(f"{queue}-{i}", queue, ReplicaRequest(0, 0, 1000), status=JobStatus.RUNNING,
            placements=(ReplicaPlacement(0, "n", (GpuGrant(i, 1000),)),))
        for queue, count in queue_gpus.items() for i in range(count)
    )
    return Snapshot((), jobs, (Queue("a"), Queue("b")))


def test_usage_is_off_without_a_half_life() -> None:
    snap = snapshot_with({"a": 2})
    assert QueueUsage(None).observe(snap, 0.0) is snap


def test_usage_integrates_allocation_with_decay() -> None:
    usage = QueueUsage(half_life_seconds=3600)
    usage.observe(snapshot_with({"a": 2}), now=0.0)
    # a held 2 GPUs (2000 milli) for one half-life: 2000·H/ln2·(1 − ½) ≈ 5,193,947 milli-seconds
    seen = usage.observe(snapshot_with({"a": 2, "b": 1}), now=3600.0).queue_usage
    assert abs(seen["a"].gpu_milli - round(2000 * 3600 / 0.6931471805599453 * 0.5)) <= 1
    assert "b" not in seen or seen["b"].gpu_milli == 0
    later = usage.observe(replace(snapshot_with({"b": 1})), now=7200.0).queue_usage
    assert later["a"].gpu_milli > later["b"].gpu_milli > 0
