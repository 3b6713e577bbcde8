"""A replica the scheduler wants on this node: the protocol's DesiredReplica, and its key."""

from __future__ import annotations

from scheduler.protocol import DesiredReplica

ReplicaKey = tuple[str, int, int]
"""(job_id, replica index, attempt): one run of one replica; a requeued job's next bind is new."""


def memory_limit_mib(spec: DesiredReplica, gpu_memory_mib: dict[str, int]) -> int | None:
    """Per-GPU memory grant: the explicit limit, else the share of a shared GPU, else None."""
    if spec.gpu_memory_limit_mib:
        return spec.gpu_memory_limit_mib
    shares = [g.milli * gpu_memory_mib[g.uuid] // 1000 for g in spec.gpus
              if g.milli < 1000 and gpu_memory_mib.get(g.uuid)]
    return min(shares) if shares else None
