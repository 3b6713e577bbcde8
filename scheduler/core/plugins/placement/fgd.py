"""Fragmentation Gradient Descent (FGD, ATC'23): place where the node's fragmentation grows least.

A node's fragmentation is the share of its idle GPU capacity that the typical workload could not
use, weighted by how often each typical shape occurs. Values are memoised by node state because a
cluster has few distinct states (most nodes of one model look alike).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    """Frequency-weighted fragmentation of a node state, memoised."""

    def __init__(self, shapes: Sequence[TypicalShape]) -> None:
        self.shapes = tuple(shapes)
        self._memo: dict[tuple[str, int, tuple[int, ...]], float] = {}

    def of(self, model: str, cpu_free: int, free: Sequence[int]) -> float:
        key = (model, cpu_free, tuple(sorted(free)))
        value = self._memo.get(key)
        if value is None:
            value = 0.0
            for shape in self.shapes:
                value += shape.weight * shape_fragment(shape, model, cpu_free, free)
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
        model = state.nodes[i].gpu_model
        cpu_free = state.cpu_free[i]
        free = state.gpu_free[i]
        key = (model, cpu_free, tuple(free), request.cpu_millis, request.gpu_milli,
               request.gpu_memory_mib, int(state.gpu_memory[i]))
        found = self._memo.get(key)
        if found is not None:
            return found
        result = self._score(state, i, request, model, cpu_free, free)
        self._memo[key] = result
        return result

    def _score(
        self,
        state: ClusterState,
        i: int,
        request: ReplicaRequest,
        model: str,
        cpu_free: int,
        free: list[int],
    ) -> Scored:
        frag = self.fragmentation.of
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
