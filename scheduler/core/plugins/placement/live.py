"""Policies for live clusters: binpack (fill nodes, keep whole nodes free) and spread."""

from __future__ import annotations

from scheduler.core.model import MILLI_PER_GPU, ReplicaRequest
from scheduler.core.plugins.placement.base import Scored, default_grants
from scheduler.core.plugins.placement.paper import gpu_request_total
from scheduler.core.state import ClusterState

SCALE = 1000


def _used_after(state: ClusterState, i: int, request: ReplicaRequest) -> tuple[int, int]:
    """Per-thousand GPU and CPU use of node `i` once the replica is placed."""
    gpu_cap = state.gpu_count[i] * MILLI_PER_GPU
    gpu_used = gpu_cap - sum(state.gpu_free[i]) + gpu_request_total(state, i, request)
    cpu_cap = max(state.cpu_capacity[i], 1)
    cpu_used = cpu_cap - state.cpu_free[i] + request.cpu_millis
    gpu_part = gpu_used * SCALE // gpu_cap if gpu_cap else 0
    return gpu_part, cpu_used * SCALE // cpu_cap


def score_binpack(state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """Fullest node first (GPU use, then CPU use), so whole nodes stay free for big gangs.

    CPU-only replicas prefer nodes without GPUs, so they do not strand GPUs behind used-up CPUs.
    """
    gpu_part, cpu_part = _used_after(state, i, request)
    score = gpu_part * (SCALE + 1) + cpu_part
    if not request.wants_gpu:
        score = cpu_part + (SCALE * (SCALE + 2) if state.gpu_count[i] == 0 else 0)
    return score, default_grants(state, i, request)


def score_spread(state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """Emptiest node first (GPU use, then CPU use): spreads load and heat."""
    gpu_part, cpu_part = _used_after(state, i, request)
    return (SCALE - gpu_part) * (SCALE + 1) + (SCALE - cpu_part), default_grants(state, i, request)
