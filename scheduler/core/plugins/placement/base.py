"""Placement policies: choose a node and the GPUs on it for one replica.

A policy is either a *scorer* (an integer score per node, highest wins, earliest node on ties) run
through `ScoredPlacement`, which caches scores per request shape and refreshes only nodes that
changed, or a policy with its own `choose` (random).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scheduler.core.model import MILLI_PER_GPU, GpuGrant, ReplicaRequest
from scheduler.core.policy import Choice
from scheduler.core.state import BoolArray, ClusterState, IntArray

Scored = tuple[int, tuple[GpuGrant, ...]]
"""A node's score (negative = cannot place) and the GPU shares it would take."""


@dataclass(frozen=True, slots=True)
class TypicalShape:
    """A request shape and how often it occurs (FGD's "typical pods")."""

    cpu_millis: int
    gpu_milli: int
    gpu_count: int
    gpu_models: frozenset[str]
    weight: float


@dataclass(frozen=True, slots=True)
class PlacementContext:
    """What a policy may know besides the cluster: the workload's shape mix and a seed."""

    typical_shapes: tuple[TypicalShape, ...] = ()
    seed: int = 0


class NodeScorer(Protocol):
    """Score node `i` for `request` (the node passed the filters)."""

    def __call__(self, state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
        ...


def share_of(state: ClusterState, i: int, request: ReplicaRequest) -> int:
    """The milli share a sharing replica takes of one GPU of node `i`."""
    return request.share_on(int(state.gpu_memory[i]))


def tightest_gpu(free: Sequence[int], milli: int) -> int:
    """The fitting GPU with the least free share (lowest index on ties), or -1."""
    best, best_free = -1, MILLI_PER_GPU + 1
    for index, left in enumerate(free):
        if milli <= left < best_free:
            best, best_free = index, left
    return best


def lowest_free_gpus(free: Sequence[int], count: int) -> tuple[GpuGrant, ...]:
    """The `count` lowest-index wholly free GPUs (empty when there are fewer)."""
    grants: list[GpuGrant] = []
    for index, left in enumerate(free):
        if left == MILLI_PER_GPU:
            grants.append(GpuGrant(index, MILLI_PER_GPU))
            if len(grants) == count:
                return tuple(grants)
    return ()


def default_grants(state: ClusterState, i: int, request: ReplicaRequest) -> tuple[GpuGrant, ...]:
    """Best-fit GPU for a sharing replica, lowest-index free GPUs for whole ones, none for CPU-only."""
    free = state.gpu_free[i]
    if request.whole_gpus:
        return lowest_free_gpus(free, request.whole_gpus)
    if request.wants_gpu:
        milli = share_of(state, i, request)
        gpu = tightest_gpu(free, milli)
        return (GpuGrant(gpu, milli),) if gpu >= 0 else ()
    return ()


def _shape_key(request: ReplicaRequest) -> tuple[int, int, int]:
    # Memory and GPU models are checked by the mask, never by scorers, so they stay out of the key.
    return (request.cpu_millis, request.gpu_milli, request.gpu_memory_mib)


class _ShapeCache:
    __slots__ = ("choices", "dirty", "read_upto", "scores")

    def __init__(self, size: int) -> None:
        self.scores: IntArray = np.full(size, -1, dtype=np.int64)
        self.choices: list[tuple[GpuGrant, ...]] = [()] * size
        self.dirty: BoolArray = np.ones(size, dtype=np.bool_)
        self.read_upto = 0


class ScoredPlacement:
    """Highest score wins, earliest node in session order on ties; scores cached per shape."""

    def __init__(self, scorer: NodeScorer) -> None:
        self.scorer = scorer
        self._caches: dict[tuple[int, int, int], _ShapeCache] = {}
        self._state_id = 0

    def choose(self, state: ClusterState, request: ReplicaRequest, mask: BoolArray) -> Choice | None:
        if id(state) != self._state_id:  # a new session's state: forget every cached score
            self._caches.clear()
            self._state_id = id(state)
        key = _shape_key(request)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = _ShapeCache(len(state))
        changes = state.changes
        if cache.read_upto < len(changes):
            cache.dirty[changes[cache.read_upto :]] = True
            cache.read_upto = len(changes)
        stale = np.flatnonzero(cache.dirty & mask)
        if len(stale):
            self._refresh(state, request, stale.tolist(), cache)
        candidates = np.where(mask, cache.scores, -1)
        best = int(candidates.argmax())
        if candidates[best] < 0:
            return None
        return best, cache.choices[best]

    def _refresh(
        self, state: ClusterState, request: ReplicaRequest, stale: list[int], cache: _ShapeCache
    ) -> None:
        """Re-score the nodes that changed since this shape last looked (and that pass the mask)."""
        scorer, choices = self.scorer, cache.choices
        fresh = []
        for i in stale:
            score, grants = scorer(state, i, request)
            fresh.append(score)
            choices[i] = grants
        cache.scores[stale] = fresh
        cache.dirty[stale] = False

