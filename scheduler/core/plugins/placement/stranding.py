"""Stranding-aware fragmentation descent: FGD whose fragmentation also counts GPUs CPU can't reach.

FGD calls a typical shape's view of a node "usable" when one copy of the shape fits, and then every
GPU with enough free share counts as usable. That misses the main waste of a busy cluster: idle
GPUs on a node whose CPU is nearly used up. Here a GPU counts as usable for a shape only as far as
the node's CPU reaches: one copy of the shape, then further GPUs only while CPU is left for the
pods that would fill them. Idle GPUs beyond that are fragmented. With plenty of CPU this is
exactly FGD's measure; CPU-heavy work (CPU-only pods above all) moves away from nodes whose GPUs
still need that CPU, and CPU-poor nodes (P100, V100M16) get the low-CPU GPU pods.

Who fills the further GPUs decides how far CPU reaches; two rules, picked per cluster and mix:

- **Filler reach** (`filler_stranded`, the usual case). The further GPUs are filled by the typical
  shapes that fit on the node now, each in proportion to its frequency, each taking
  `FILLER_SHARE` of its own CPU per whole GPU (a 4-core half-GPU pod takes 8 cores per GPU). The
  reach is the expectation over those fillers: a node with little CPU left still counts the GPUs
  that the low-CPU pods of the mix can use, and none that only CPU-hungry pods would want.
- **Mean reach** (`stranded`), when the mix asks more CPU per GPU than the cluster has
  (`cpu_scarcity` above 1). Then CPU, not GPUs, runs out first: some GPUs end idle whatever the
  placement, and counting them as stranded early only blurs the scores (measured: the filler
  rule loses 0.6 to 1.0 points on three such mixes and ties on a fourth). Each further GPU is
  taken to need `SHARE_CPU` of the mix's mean CPU per GPU, a very small reserve: the measure is
  then close to FGD's with the per-GPU weights below.

One more change to FGD's shape mix: a k-GPU shape weighs 1/k of its frequency (`per_gpu_weights`).
Its all-or-nothing term (every idle GPU of a node with fewer than k whole GPUs free) otherwise
outvotes the one-GPU and sharing shapes wherever whole GPUs are free.

The node score is FGD's truncated `int(sigmoid(Δ/1000)·100)`: coarse on purpose, ties go to the
earliest node in the session order (the published protocol shows coarse scores beat the exact Δ).
Scores depend only on the node's state and the request shape, so `ScoredPlacement`'s cache holds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scheduler.core.model import MILLI_PER_GPU, ReplicaRequest
from scheduler.core.plugins.placement.base import (
    PlacementContext,
    Scored,
    TypicalShape,
)
from scheduler.core.plugins.placement.fgd import gradient_score
from scheduler.core.state import ClusterState

SHARE_CPU = 0.05  # mean reach (CPU-scarce mixes): share of the mix's mean CPU per GPU per further GPU
FILLER_SHARE = 0.3  # filler reach: share of a filler's own CPU per whole GPU it takes
MEMO_LIMIT = 500_000  # entries per memo; a long-lived scheduler starts over rather than grow forever


def mix_cpu_per_gpu(shapes: Sequence[TypicalShape]) -> int:
    """CPU thousandths the pods sharing a node are assumed to take per GPU they use.

    `SHARE_CPU` of the frequency-weighted mean CPU per GPU of the GPU shapes: far below the mean
    (about half a core per GPU) because on a mix that asks more CPU than the cluster has, a GPU
    judged reachable late is worth more than one written off early. On seven CPU-scarce mixes
    0.05 beat 0.25 on six and 0.4 on all but one (docs/placement.md).
    """
    pairs = [(s.weight, s.cpu_millis / s.gpu_count) for s in shapes if s.gpu_count and s.gpu_milli]
    total = sum(weight for weight, _ in pairs)
    if not total:
        return 1
    return max(1, int(SHARE_CPU * sum(weight * cpu for weight, cpu in pairs) / total))


def cpu_scarcity(shapes: Sequence[TypicalShape], cpu_capacity: int, gpus: int) -> float:
    """CPU per GPU the mix asks for (CPU-only pods included), over the cluster's CPU per GPU.

    Above 1 the cluster runs out of CPU before it runs out of GPUs. `shapes` carry their true
    frequencies (not `per_gpu_weights`): this is about what the pods will ask for.
    """
    asked_cpu = sum(s.weight * s.cpu_millis for s in shapes)
    asked_gpu = sum(s.weight * s.gpu_milli * s.gpu_count for s in shapes) / MILLI_PER_GPU
    if not asked_cpu:
        return 0.0
    if not asked_gpu or not gpus or cpu_capacity <= 0:
        return math.inf
    return asked_cpu / asked_gpu / (cpu_capacity / gpus)


def filler_cpu_per_gpu(shape: TypicalShape) -> int:
    """CPU thousandths a filler shape takes per whole GPU it fills, scaled by `FILLER_SHARE`."""
    if not shape.gpu_count or not shape.gpu_milli:
        return 0  # never a filler
    per_gpu = shape.cpu_millis * MILLI_PER_GPU / (shape.gpu_milli * shape.gpu_count)
    return max(1, int(FILLER_SHARE * per_gpu))


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


def filler_stranded(
    shape: TypicalShape, model: str, cpu_free: int, free: Sequence[int],
    shapes: Sequence[TypicalShape],
) -> float:
    """GPU thousandths of this node that `shape` could not use, by filler reach (readable form).

    One copy of `shape` takes the `gpu_count` GPUs with the most free share. Each further GPU
    with enough share is usable as far as the CPU left reaches for the fillers: the `shapes` that
    fit on the node now, weighted by frequency, filler f reaching `left // filler_cpu_per_gpu(f)`
    GPUs (largest free share first). The result is the weighted mean over fillers.
    """
    idle = sum(free)
    if shape.gpu_count == 0 or shape.gpu_milli == 0:
        return idle
    if shape.gpu_models and model not in shape.gpu_models:
        return idle
    enough = sorted((left for left in free if left >= shape.gpu_milli), reverse=True)
    if cpu_free < shape.cpu_millis or len(enough) < shape.gpu_count:
        return idle
    fillers = [f for f in shapes if _fits(f, model, cpu_free, free)]
    if not fillers:
        return idle  # unreachable: `shape` itself fits
    left = cpu_free - shape.cpu_millis
    total = sum(f.weight for f in fillers)
    usable = 0.0
    for filler in fillers:
        reach = min(len(enough), shape.gpu_count + left // filler_cpu_per_gpu(filler))
        usable += filler.weight * sum(enough[:reach])
    return idle - usable / total


def _fits(shape: TypicalShape, model: str, cpu_free: int, free: Sequence[int]) -> bool:
    """One copy of this GPU shape fits the node (FGD's test)."""
    if shape.gpu_count == 0 or shape.gpu_milli == 0 or cpu_free < shape.cpu_millis:
        return False
    if shape.gpu_models and model not in shape.gpu_models:
        return False
    return sum(1 for left in free if left >= shape.gpu_milli) >= shape.gpu_count


class StrandedFragmentation:
    """Frequency-weighted `stranded` (mean reach) over all typical shapes, vectorised, memoised."""

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


class FillerFragmentation(StrandedFragmentation):
    """Frequency-weighted `filler_stranded` over all typical shapes, vectorised and memoised.

    Free CPU enters in two ways: which shapes fit (a step at each shape's CPU) and how far the CPU
    left reaches for each filler. Everything but the second is kept per GPU state and CPU step
    (`_Level`), so a new CPU level within a step costs one small pass.
    """

    def __init__(self, shapes: Sequence[TypicalShape]) -> None:
        super().__init__(shapes)
        count = len(self.shapes)
        steps = np.array([filler_cpu_per_gpu(s) for s in self.shapes], dtype=np.int64).reshape(count)
        self._order = np.argsort(steps, kind="stable")
        self._steps = steps[self._order].astype(np.float64)  # fillers by CPU per GPU, ascending
        self._cpu_steps = sorted({int(cpu) for cpu in self._cpu})
        self._levels: dict[tuple[str, tuple[int, ...], int], _Level] = {}
        self._gpu_parts: dict[tuple[str, tuple[int, ...]], _GpuPart] = {}

    def cpu_band(self, cpu_free: int, gpus: int) -> int:
        return cpu_free  # every filler's step is a breakpoint: banding would save little

    def _compute(self, model: str, cpu_free: int, ordered: tuple[int, ...]) -> float:
        key = (model, ordered, bisect_right(self._cpu_steps, cpu_free))
        level = self._levels.get(key)
        if level is None:
            if len(self._levels) >= MEMO_LIMIT:
                self._levels.clear()
                self._gpu_parts.clear()
            level = self._levels[key] = self._level(model, cpu_free, ordered)
        if not level.total:
            return level.rest
        # Filler f reaches the j-th further GPU when j · step_f ≤ left: the weight of such fillers.
        reach = (cpu_free - level.cpu)[:, None] / level.further
        reached = level.below[np.searchsorted(self._steps, reach, side="right")]
        return level.rest - float(np.vdot(reached, level.beyond)) / level.total

    def _level(self, model: str, cpu_free: int, ordered: tuple[int, ...]) -> _Level:
        part = self._gpu_parts.get((model, ordered))
        if part is None:
            part = self._gpu_parts[(model, ordered)] = self._gpu_part(model, ordered)
        fits = part.fits & (self._cpu <= cpu_free)
        weights = self._weight * fits
        rows = np.flatnonzero(fits)
        return _Level(
            rest=part.idle - float(weights @ part.first),
            total=float(weights.sum()),
            cpu=self._cpu[rows].astype(np.float64),
            below=np.concatenate(([0.0], np.cumsum(weights[self._order]))),
            beyond=weights[rows, None] * part.beyond[rows],
            further=part.further,
        )

    def _gpu_part(self, model: str, ordered: tuple[int, ...]) -> _GpuPart:
        gpus = np.array(ordered, dtype=np.int64)  # free share per GPU, largest first
        size = len(gpus)
        prefix = np.concatenate(([0], np.cumsum(gpus)))
        per = self._per_copy
        enough = (gpus >= self._milli).sum(axis=1)
        further = np.arange(1, max(size, 1) + 1)
        # beyond[s, j-1]: the share of the j-th GPU after the first copy of s, if it has enough.
        index = np.minimum(per[:, None] + further[None, :] - 1, max(size - 1, 0))
        has = further[None, :] <= (enough - per)[:, None]
        beyond = np.where(has, gpus[index], 0) if size else np.zeros((len(per), 1))
        return _GpuPart(
            idle=float(prefix[-1] * self._weight.sum()),
            fits=self._model_ok(model) & (enough >= per),
            first=prefix[np.minimum(per, size)].astype(np.float64),
            beyond=beyond.astype(np.float64),
            further=further.astype(np.float64),
        )


@dataclass(frozen=True, slots=True)
class _GpuPart:
    """What `FillerFragmentation` keeps per (model, GPU state)."""

    idle: float  # idle share × total shape weight: the measure if nothing were usable
    fits: npt.NDArray[np.bool_]  # model and GPU share allow one copy (CPU not yet checked)
    first: npt.NDArray[np.float64]  # GPU share one copy takes
    beyond: npt.NDArray[np.float64]  # shapes × further GPUs: the share of each further GPU
    further: npt.NDArray[np.float64]  # 1..GPUs


@dataclass(frozen=True, slots=True)
class _Level:
    """What `FillerFragmentation` keeps per (model, GPU state, which shapes the CPU lets fit)."""

    rest: float  # the measure if no further GPU were reached
    total: float  # weight of the shapes that fit (the fillers)
    cpu: npt.NDArray[np.float64]  # CPU of each shape that fits
    below: npt.NDArray[np.float64]  # filler weight up to each of `_steps`, cumulative
    beyond: npt.NDArray[np.float64]  # fitting shapes × further GPUs: weight × that GPU's share
    further: npt.NDArray[np.float64]  # 1..GPUs


class StrandingScorer:
    """Score = int(sigmoid((stranded_before − stranded_after)/1000) × 100); sharing tries every GPU.

    The reach rule is picked at the first node scored, from the session's cluster: mean reach when
    the mix asks more CPU per GPU than the cluster has, filler reach otherwise.
    """

    def __init__(self, context: PlacementContext) -> None:
        self.shapes = context.typical_shapes
        self.weighted = per_gpu_weights(context.typical_shapes)
        self._fragmentation: StrandedFragmentation | None = None
        self._memo: dict[tuple[object, ...], Scored] = {}

    def measure(self, state: ClusterState) -> StrandedFragmentation:
        """The measure for this cluster (picked once per scorer)."""
        if self._fragmentation is None:
            scarcity = cpu_scarcity(self.shapes, sum(state.cpu_capacity), sum(state.gpu_count))
            kind = StrandedFragmentation if scarcity > 1 else FillerFragmentation
            self._fragmentation = kind(self.weighted)
        return self._fragmentation

    def __call__(self, state: ClusterState, i: int, request: ReplicaRequest) -> Scored:
        fragmentation = self.measure(state)
        model = state.gpu_model[i]
        cpu_free = state.cpu_free[i]
        free = state.gpu_free[i]
        band = fragmentation.cpu_band
        key = (model, band(cpu_free, len(free)), band(cpu_free - request.cpu_millis, len(free)),
               tuple(free), request.gpu_milli, request.gpu_memory_mib, int(state.gpu_memory[i]))
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            found = self._memo[key] = gradient_score(fragmentation.of, state, i, request)
        return found
