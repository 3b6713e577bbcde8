"""FGD's "typical pods": the most frequent request shapes, covering 95% of the workload."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from scheduler.core.model import MILLI_PER_GPU, ReplicaRequest
from scheduler.core.plugins.placement.base import TypicalShape


def typical_shapes(requests: Iterable[ReplicaRequest], coverage: float = 0.95) -> tuple[TypicalShape, ...]:
    """Group by (CPU, GPU share, GPU count, models), most frequent first, until `coverage` is reached.

    Frequencies of the kept shapes are renormalised to sum to 1. Ties in frequency keep the order
    in which shapes first appear, so the result is deterministic for a given request order.
    """
    counts: Counter[tuple[int, int, int, frozenset[str]]] = Counter()
    for request in requests:
        if request.whole_gpus:
            milli, count = MILLI_PER_GPU, request.whole_gpus
        elif request.wants_gpu:
            milli, count = request.gpu_milli, 1
        else:
            milli, count = 0, 0
        counts[(request.cpu_millis, milli, count, request.gpu_models)] += 1
    total = sum(counts.values())
    if not total:
        return ()
    kept: list[tuple[tuple[int, int, int, frozenset[str]], int]] = []
    covered = 0
    for shape, count in counts.most_common():
        if covered >= coverage * total:
            break
        kept.append((shape, count))
        covered += count
    return tuple(
        TypicalShape(cpu, milli, gpus, models, count / covered)
        for (cpu, milli, gpus, models), count in kept
    )
