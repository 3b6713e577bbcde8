"""Stranding-aware fragmentation descent: FGD whose fragmentation also counts GPUs stranded by CPU.

FGD calls a typical shape's view of a node "usable" when at least one copy of the shape fits, and
then every GPU with enough free share counts as usable. That misses the main waste of a busy
cluster: GPUs on a node whose CPU is nearly used up. A G2 node (96 cores, 8 GPUs) with 20 cores left
can host one more 11.3-core GPU pod, not eight, so six idle GPUs are stranded for that shape.

Here a shape can use only as many GPUs as its copies fit in the node's free CPU: with `k` copies
allowed by CPU, a whole-GPU shape of `n` GPUs uses at most `k·n` wholly free GPUs and a sharing
shape at most the `k` GPUs with the most free share (among those with enough). Everything else idle
is fragmented for that shape. When CPU is not binding this is exactly FGD's measure, so the policy
keeps FGD's behaviour where FGD is right and moves CPU-heavy work (CPU-only pods above all) away
from nodes whose GPUs still need that CPU.

The node score is FGD's truncated `int(sigmoid(Δ/1000)·100)`: coarse on purpose, ties go to the
earliest node in the session order (the published protocol shows coarse scores beat the exact Δ).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

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
_NO_LIMIT = 1 << 40  # copies allowed by CPU for a shape that asks for no CPU


def stranded(shape: TypicalShape, model: str, cpu_free: int, free: Sequence[int]) -> int:
    """GPU thousandths of this node that copies of `shape` could not use (the readable definition)."""
    idle = sum(free)
    if shape.gpu_count == 0 or shape.gpu_milli == 0:
        return idle  # CPU-only work can use no GPU
    if shape.gpu_models and model not in shape.gpu_models:
        return idle
    copies = cpu_free // shape.cpu_millis if shape.cpu_millis else _NO_LIMIT
    enough = sorted((left for left in free if left >= shape.gpu_milli), reverse=True)
    # A whole-GPU shape uses groups of n GPUs; a sharing shape one GPU per copy at least.
    slots = min(copies * shape.gpu_count, len(enough) // shape.gpu_count * shape.gpu_count)
    return idle - sum(enough[:slots])


class StrandedFragmentation:
    """Frequency-weighted `stranded` over all typical shapes, vectorised and memoised by state."""

    def __init__(self, shapes: Sequence[TypicalShape]) -> None:
        self.shapes = tuple(shapes)
        count = len(self.shapes)
        self._cpu = np.array([s.cpu_millis for s in self.shapes], dtype=np.int64).reshape(count)
        self._milli = np.array([s.gpu_milli for s in self.shapes], dtype=np.int64).reshape(count, 1)
        self._count = np.array([s.gpu_count for s in self.shapes], dtype=np.int64).reshape(count)
        self._weight = np.array([s.weight for s in self.shapes], dtype=np.float64).reshape(count)
        self._gpu_work = (self._count > 0) & (self._milli[:, 0] > 0)
        self._per_copy = np.maximum(self._count, 1)
        self._allowed: dict[str, npt.NDArray[np.bool_]] = {}
        self._memo: dict[tuple[str, int, tuple[int, ...]], float] = {}
        # The measure depends on free CPU only through how many copies of each shape it allows,
        # so states are memoised by the interval of free CPU between these breakpoints.
        self._breaks: dict[int, list[int]] = {}

    def cpu_band(self, cpu_free: int, gpus: int) -> int:
        """Which interval of free CPU `cpu_free` falls in for a node of `gpus` GPUs."""
        breaks = self._breaks.get(gpus)
        if breaks is None:
            points = {s.cpu_millis * k for s in self.shapes if s.cpu_millis for k in range(1, gpus + 1)}
            breaks = self._breaks[gpus] = sorted(points)
        return bisect_right(breaks, cpu_free)

    def _model_ok(self, model: str) -> npt.NDArray[np.bool_]:
        ok = self._allowed.get(model)
        if ok is None:
            allowed = [not s.gpu_models or model in s.gpu_models for s in self.shapes]
            ok = self._gpu_work & np.array(allowed, dtype=np.bool_).reshape(len(self.shapes))
            self._allowed[model] = ok
        return ok

    def of(self, model: str, cpu_free: int, free: Sequence[int]) -> float:
        """The node's weighted stranded GPU thousandths."""
        key = (model, self.cpu_band(cpu_free, len(free)), tuple(sorted(free, reverse=True)))
        value = self._memo.get(key)
        if value is None:
            value = self._compute(model, cpu_free, key[2])
            self._memo[key] = value
        return value

    def _compute(self, model: str, cpu_free: int, ordered: tuple[int, ...]) -> float:
        gpus = np.array(ordered, dtype=np.int64)
        idle = int(gpus.sum())
        if not len(gpus) or not len(self.shapes):
            return float(idle * self._weight.sum())
        prefix = np.concatenate(([0], np.cumsum(gpus)))
        enough = (gpus >= self._milli).sum(axis=1)  # GPUs sorted by free share, descending
        copies = np.where(self._cpu > 0, cpu_free // np.maximum(self._cpu, 1), _NO_LIMIT)
        per = self._per_copy
        slots = np.minimum(np.minimum(copies, len(gpus)) * per, enough // per * per)
        usable = np.where(self._model_ok(model), prefix[slots], 0)
        return float(self._weight @ (idle - usable))


def _sigmoid_score(delta: float) -> int:
    return int(1.0 / (1.0 + math.exp(-delta / 1000)) * MAX_SCORE)


class StrandingScorer:
    """Score = int(sigmoid((stranded_before − stranded_after)/1000) × 100); sharing tries every GPU."""

    def __init__(self, context: PlacementContext) -> None:
        self.fragmentation = StrandedFragmentation(context.typical_shapes)
        self._memo: dict[tuple[object, ...], Scored] = {}

    def __call__(self, state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
        model = state.gpu_model[i]
        cpu_free = state.cpu_free[i]
        free = state.gpu_free[i]
        band = self.fragmentation.cpu_band
        key = (model, band(cpu_free, len(free)), band(cpu_free - request.cpu_millis, len(free)),
               tuple(free), request.gpu_milli, request.gpu_memory_mib, int(state.gpu_memory[i]))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._score(state, i, request)
        return found

    def _score(self, state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
        model, cpu_free, free = state.gpu_model[i], state.cpu_free[i], state.gpu_free[i]
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
