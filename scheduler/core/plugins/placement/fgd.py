"""Fragmentation Gradient Descent (FGD, ATC'23): place where the node's fragmentation grows least.

A node's fragmentation is the share of its idle GPU capacity that the typical workload could not
use, weighted by how often each typical shape occurs. Values are memoised by node state because a
cluster has few distinct states (most nodes of one model look alike).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from scheduler.core.model import MILLI_PER_GPU, GpuGrant, ReplicaRequest
from scheduler.core.plugins.placement.base import (
    PlacementContext,
    Scored,
    TypicalShape,
    lowest_free_gpus,
    share_of,
)
from scheduler.core.state import ClusterState

MAX_SCORE = 100


def shape_fragment(shape: TypicalShape, model: str, cpu_free: int, free: Sequence[int]) -> int:
    """GPU thousandths of this node that `shape` could not use."""
    idle = sum(free)
    if shape.gpu_count == 0 or shape.gpu_milli == 0:
        return idle  # CPU-only work can use no GPU: every idle share is a fragment for it
    if shape.gpu_models and model not in shape.gpu_models:
        return idle
    if cpu_free < shape.cpu_millis:
        return idle
    usable = sum(1 for left in free if left >= shape.gpu_milli)
    if usable < shape.gpu_count:
        return idle
    return sum(left for left in free if left < shape.gpu_milli)


class Fragmentation:
    """Frequency-weighted fragmentation of a node state (`shape_fragment` over all shapes), memoised.

    Evaluated for all typical shapes at once with numpy; `shape_fragment` is the readable definition
    the tests hold it to.
    """

    def __init__(self, shapes: Sequence[TypicalShape]) -> None:
        self.shapes = tuple(shapes)
        self._cpu = np.array([s.cpu_millis for s in shapes], dtype=np.int64)
        self._milli = np.array([s.gpu_milli for s in shapes], dtype=np.int64)[:, None]
        self._count = np.array([s.gpu_count for s in shapes], dtype=np.int64)
        self._weight = np.array([s.weight for s in shapes], dtype=np.float64)
        self._gpu_work = (self._count > 0) & (self._milli[:, 0] > 0)
        self._allowed: dict[str, npt.NDArray[np.bool_]] = {}
        self._memo: dict[tuple[str, int, tuple[int, ...]], float] = {}

    def _model_ok(self, model: str) -> npt.NDArray[np.bool_]:
        ok = self._allowed.get(model)
        if ok is None:
            ok = self._gpu_work & np.array(
                [not s.gpu_models or model in s.gpu_models for s in self.shapes], dtype=np.bool_
            ).reshape(len(self.shapes))
            self._allowed[model] = ok
        return ok

    def of(self, model: str, cpu_free: int, free: Sequence[int]) -> float:
        key = (model, cpu_free, tuple(sorted(free)))
        value = self._memo.get(key)
        if value is None:
            gpus = np.array(key[2], dtype=np.int64)
            enough = gpus >= self._milli  # shapes × GPUs
            fits = (
                self._model_ok(model)
                & (self._cpu <= cpu_free)
                & (enough.sum(axis=1) >= self._count)
            )
            below = np.where(enough, 0, gpus).sum(axis=1)
            amount = np.where(fits, below, gpus.sum())
            value = float(self._weight @ amount)
            self._memo[key] = value
        return value


def _sigmoid_score(delta: float) -> int:
    return int(1.0 / (1.0 + math.exp(-delta / 1000)) * MAX_SCORE)


class FgdScorer:
    """Score = int(sigmoid((frag_before − frag_after)/1000) × 100); sharing tries every GPU."""

    def __init__(self, context: PlacementContext) -> None:
        self.fragmentation = Fragmentation(context.typical_shapes)
        self._memo: dict[tuple[object, ...], Scored] = {}

    def __call__(self, state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
        model = state.gpu_model[i]
        cpu_free = state.cpu_free[i]
        free = state.gpu_free[i]
        key = (model, cpu_free, tuple(free), request.cpu_millis, request.gpu_milli,
               request.gpu_memory_mib, int(state.gpu_memory[i]))
        found = self._memo.get(key)
        if found is not None:
            return found
        result = gradient_score(self.fragmentation.of, state, i, request)
        self._memo[key] = result
        return result


FragmentOf = Callable[[str, int, Sequence[int]], float]
"""(model, free CPU, per-GPU free shares) → fragmentation of that node state."""


def gradient_score(frag: FragmentOf, state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
    """FGD's step: int(sigmoid((frag_before − frag_after)/1000) × 100) for placing on node `i`.

    A sharing replica tries every GPU with room; the node's score is the best and the GPU is the
    first that reaches it. Whole GPUs are the lowest-index free ones.
    """
    model, cpu_free, free = state.gpu_model[i], state.cpu_free[i], state.gpu_free[i]
    before = frag(model, cpu_free, free)
    cpu_after = cpu_free - request.cpu_millis
    if request.wants_gpu and not request.whole_gpus:
        milli = share_of(state, i, request)
        best: Scored = (-1, ())
        after = list(free)
        for index, left in enumerate(free):
            if left < milli:
                continue
            after[index] = left - milli
            score = _sigmoid_score(before - frag(model, cpu_after, after))
            after[index] = left
            if score > best[0]:
                best = (score, (GpuGrant(index, milli),))
        return best
    grants = lowest_free_gpus(free, request.whole_gpus) if request.whole_gpus else ()
    after = list(free)
    for grant in grants:
        after[grant.gpu_index] -= MILLI_PER_GPU
    return _sigmoid_score(before - frag(model, cpu_after, after)), grants
