"""The baseline policies of the FGD paper (ATC'23), with its integer scores.

Scores are truncated to integers on purpose: with the earliest-node tie-break, that coarseness is
part of what the published figures measure.
"""

from __future__ import annotations

import numpy as np

from scheduler.core.model import MILLI_PER_GPU, GpuGrant, ReplicaRequest
from scheduler.core.plugins.placement.base import (
    PlacementContext,
    Scored,
    default_grants,
    share_of,
)
from scheduler.core.policy import Choice
from scheduler.core.state import BoolArray, ClusterState

MAX_SCORE = 100
MAX_SPEC_CPU = 128_000  # the paper's normalisers: the largest node's CPU and GPU capacity
MAX_SPEC_GPU = 8 * MILLI_PER_GPU


def gpu_request_total(state: ClusterState, i: int, request: ReplicaRequest) -> int:
    """GPU thousandths one replica takes on node `i` (milli × count)."""
    if request.whole_gpus:
        return request.whole_gpus * MILLI_PER_GPU
    return share_of(state, i, request) if request.wants_gpu else 0


def score_bestfit(state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """Least capacity left after placement: (1 − ½·cpu_left/128000 − ½·gpu_left/8000) × 100."""
    left = 0.0
    left += (state.cpu_free[i] - request.cpu_millis) / MAX_SPEC_CPU * 0.5
    left += (sum(state.gpu_free[i]) - gpu_request_total(state, i, request)) / MAX_SPEC_GPU * 0.5
    return max(0, int((1.0 - left) * MAX_SCORE)), default_grants(state, i, request)


def score_gpu_packing(state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """Partly used GPUs first, then used nodes (fewest fresh GPUs taken), then empty nodes."""
    grants = default_grants(state, i, request)
    if not request.wants_gpu:
        return 0, grants
    free = state.gpu_free[i]
    wholly_free = free.count(MILLI_PER_GPU)
    if wholly_free == len(free):
        return max(MAX_SCORE // 3 - wholly_free, wholly_free), grants
    fresh_taken = sum(1 for g in grants if free[g.gpu_index] == MILLI_PER_GPU)
    if fresh_taken:
        return max(MAX_SCORE // 2 - fresh_taken, MAX_SCORE // 3), grants
    left_percent = sum(free[g.gpu_index] * 100 // MILLI_PER_GPU for g in grants)
    return max(MAX_SCORE - left_percent // 10, MAX_SCORE // 2), grants


def score_dotprod(state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """Tetris-style alignment of free and requested (CPU, GPU), normalised by the node's size."""
    cpu_cap = max(state.cpu_capacity[i], 1)
    gpu_cap = max(state.gpu_count[i], 1) * MILLI_PER_GPU
    cpu_dot = (state.cpu_free[i] / cpu_cap) * (request.cpu_millis / cpu_cap)
    grants = default_grants(state, i, request)
    if not request.whole_gpus and request.wants_gpu:
        best: Scored = (-1, ())
        milli = share_of(state, i, request)
        for index, left in enumerate(state.gpu_free[i]):
            if left >= milli:
                dot = (cpu_dot + (left / MILLI_PER_GPU) * (milli / MILLI_PER_GPU)) / 2
                score = int(MAX_SCORE * (1 - dot))
                if score > best[0]:
                    best = (score, (GpuGrant(index, milli),))
        return best
    gpu_req = gpu_request_total(state, i, request)
    dot = (cpu_dot + (sum(state.gpu_free[i]) / gpu_cap) * (gpu_req / gpu_cap)) / 2
    return int(MAX_SCORE * (1 - dot)), grants


def score_gpu_clustering(state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """Prefer nodes already running the same request class, then idle nodes, fuller ones first."""
    grants = default_grants(state, i, request)
    if not request.wants_gpu:
        return 0, grants
    tags = state.classes[i]
    fullness = MAX_SCORE // 4 * (MAX_SPEC_GPU - sum(state.gpu_free[i])) // MAX_SPEC_GPU
    mine = request.whole_gpus  # the class: 0 for any share of one GPU, else the GPU count
    # 3: only this class runs there; 2: among others; 1: idle node; 0: only other classes
    band = (3 if len(tags) == 1 else 2) if tags.get(mine, 0) > 0 else (0 if tags else 1)
    return fullness + band * MAX_SCORE // 4, grants


class RandomPlacement:
    """A uniformly random feasible node and a random fitting GPU (the paper's baseline)."""

    def __init__(self, context: PlacementContext) -> None:
        self.rng = np.random.default_rng(context.seed)

    def choose(self, state: ClusterState, request: ReplicaRequest, mask: BoolArray) -> Choice | None:
        feasible = np.flatnonzero(mask)
        if not len(feasible):
            return None
        i = int(feasible[self.rng.integers(len(feasible))])
        free = state.gpu_free[i]
        if request.whole_gpus:
            candidates = [g for g, left in enumerate(free) if left == MILLI_PER_GPU]
            picked = sorted(self.rng.choice(candidates, request.whole_gpus, replace=False))
            return i, tuple(GpuGrant(int(g), MILLI_PER_GPU) for g in picked)
        if request.wants_gpu:
            milli = share_of(state, i, request)
            candidates = [g for g, left in enumerate(free) if left >= milli]
            gpu = int(candidates[self.rng.integers(len(candidates))])
            return i, (GpuGrant(gpu, milli),)
        return i, ()
