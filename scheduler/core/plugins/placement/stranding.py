"""Stranding-aware fragmentation descent: FGD whose fragmentation also counts GPUs CPU can't reach.

FGD calls a typical shape's view of a node "usable" when one copy of the shape fits, and then every
GPU with enough free share counts as usable. That misses the main waste of a busy cluster: idle
GPUs on a node whose CPU is nearly used up. Here a GPU counts as usable for a shape only as far as
the node's CPU reaches: one copy of the shape, plus one more GPU for every `per_gpu_cpu` of CPU
left (a bit under the mix's mean CPU per GPU: the pods that fill the rest of a node come from the
whole mix, not from copies of one shape). Idle GPUs beyond that are fragmented. With plenty of CPU
this is exactly FGD's measure; CPU-heavy work (CPU-only pods above all) moves away from nodes whose
GPUs still need that CPU, and CPU-poor nodes (P100, V100M16) get the low-CPU GPU pods.

One more change to FGD's shape mix: a k-GPU shape weighs 1/k of its frequency (`per_gpu_weights`).
Its all-or-nothing term (every idle GPU of a node with fewer than k whole GPUs free) otherwise
outvotes the one-GPU and sharing shapes wherever whole GPUs are free.

The node score is FGD's truncated `int(sigmoid(Δ/1000)·100)`: coarse on purpose, ties go to the
earliest node in the session order (the published protocol shows coarse scores beat the exact Δ).
Scores depend only on the node's state and the request shape, so `ScoredPlacement`'s cache holds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from scheduler.core.model import ReplicaRequest
from scheduler.core.plugins.placement.base import (
    PlacementContext,
    Scored,
    TypicalShape,
)
from scheduler.core.plugins.placement.fgd import gradient_score
from scheduler.core.state import ClusterState

SHARE_CPU = 0.4
MEMO_LIMIT = 500_000  # entries per memo; a long-lived scheduler starts over rather than grow forever


def mix_cpu_per_gpu(shapes: Sequence[TypicalShape]) -> int:
    """CPU thousandths the pods sharing a node are assumed to take per GPU they use.

    `SHARE_CPU` of the frequency-weighted mean CPU per GPU of the GPU shapes: well below the mean
    because the pods that end up filling a crowded node are the ones asking little CPU (0.4 to 1.0
    measured within noise of each other on the traces, 0.4 best on CPU-heavy mixes).
    """
    pairs = [(s.weight, s.cpu_millis / s.gpu_count) for s in shapes if s.gpu_count and s.gpu_milli]
    total = sum(weight for weight, _ in pairs)
    if not total:
        return 1
    return max(1, int(SHARE_CPU * sum(weight * cpu for weight, cpu in pairs) / total))


def per_gpu_weights(shapes: Sequence[TypicalShape]) -> tuple[TypicalShape, ...]:
    """The shapes with a k-GPU shape's weight divided by k, rescaled to the same total weight.

    FGD's term for a multi-GPU shape is all or nothing: on a node with fewer than k whole GPUs free
    every idle GPU counts as its fragment, so one pod that breaks a whole node moves that term by
    up to k GPUs at the shape's full frequency. Left at full weight it outvotes the one-GPU and
    sharing shapes on every node with whole GPUs free (the packing it causes left more GPUs idle on
    the multi-GPU and model-constrained traces); at 1/k a multi-GPU shape counts as much per GPU
    it asks for as a one-GPU shape does per pod. Not a win everywhere: docs/placement.md lists a
    sharing-heavy mix with a few multi-GPU pods where full weights do better.
    """
    if all(shape.gpu_count <= 1 for shape in shapes):
        return tuple(shapes)
    total = sum(shape.weight for shape in shapes)
    scaled = [replace(s, weight=s.weight / s.gpu_count) if s.gpu_count > 1 else s for s in shapes]
    new_total = sum(shape.weight for shape in scaled)
    if not new_total:
        return tuple(scaled)
    return tuple(replace(s, weight=s.weight * total / new_total) for s in scaled)


def stranded(
    shape: TypicalShape, model: str, cpu_free: int, free: Sequence[int], *, per_gpu_cpu: int
) -> int:
    """GPU thousandths of this node that `shape` could not use (the readable definition).

    FGD's rule decides whether one copy fits; then the node's GPUs (those with enough free share)
    count as usable only as far as its CPU reaches: one copy of `shape`, plus one GPU for every
    `per_gpu_cpu` of the CPU left after it.
    """
    idle = sum(free)
    if shape.gpu_count == 0 or shape.gpu_milli == 0:
        return idle  # CPU-only work can use no GPU
    if shape.gpu_models and model not in shape.gpu_models:
        return idle
    enough = sorted((left for left in free if left >= shape.gpu_milli), reverse=True)
    if cpu_free < shape.cpu_millis or len(enough) < shape.gpu_count:
        return idle
    slots = min(len(enough), shape.gpu_count + (cpu_free - shape.cpu_millis) // per_gpu_cpu)
    return idle - sum(enough[:slots])


class StrandedFragmentation:
    """Frequency-weighted `stranded` over all typical shapes, vectorised and memoised by state."""

    def __init__(self, shapes: Sequence[TypicalShape]) -> None:
        self.shapes = tuple(shapes)
        count = len(self.shapes)
        self.per_gpu_cpu = mix_cpu_per_gpu(self.shapes)
        self._cpu = np.array([s.cpu_millis for s in self.shapes], dtype=np.int64).reshape(count)
        self._milli = np.array([s.gpu_milli for s in self.shapes], dtype=np.int64).reshape(count, 1)
        self._count = np.array([s.gpu_count for s in self.shapes], dtype=np.int64).reshape(count)
        self._weight = np.array([s.weight for s in self.shapes], dtype=np.float64).reshape(count)
        self._gpu_work = (self._count > 0) & (self._milli[:, 0] > 0)
        self._per_copy = np.maximum(self._count, 1)
        self._allowed: dict[str, npt.NDArray[np.bool_]] = {}
        self._memo: dict[tuple[str, int, tuple[int, ...]], float] = {}
        # The measure depends on free CPU only through which shapes fit and how many extra GPUs
        # the rest reaches, so states are memoised by the interval of free CPU between breakpoints.
        self._breaks: dict[int, list[int]] = {}

    def cpu_band(self, cpu_free: int, gpus: int) -> int:
        """Which interval of free CPU `cpu_free` falls in, for a node of `gpus` GPUs."""
        breaks = self._breaks.get(gpus)
        if breaks is None:
            step = self.per_gpu_cpu
            points = {s.cpu_millis + k * step for s in self.shapes for k in range(gpus + 1)}
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
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = value
        return value

    def _compute(self, model: str, cpu_free: int, ordered: tuple[int, ...]) -> float:
        gpus = np.array(ordered, dtype=np.int64)  # free share per GPU, largest first
        idle = int(gpus.sum())
        if not len(gpus) or not len(self.shapes):
            return float(idle * self._weight.sum())
        prefix = np.concatenate(([0], np.cumsum(gpus)))
        per = self._per_copy
        enough = (gpus >= self._milli).sum(axis=1)
        fits = self._model_ok(model) & (self._cpu <= cpu_free) & (enough >= per)
        reach = per + np.maximum(cpu_free - self._cpu, 0) // self.per_gpu_cpu
        usable = np.where(fits, prefix[np.minimum(enough, reach)], 0)
        return float(self._weight @ (idle - usable))


class StrandingScorer:
    """Score = int(sigmoid((stranded_before − stranded_after)/1000) × 100); sharing tries every GPU."""

    def __init__(self, context: PlacementContext) -> None:
        self.fragmentation = StrandedFragmentation(per_gpu_weights(context.typical_shapes))
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
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            found = self._memo[key] = gradient_score(self.fragmentation.of, state, i, request)
        return found
