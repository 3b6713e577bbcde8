"""Node filters: the one ordered list of checks that decides whether a replica fits on a node.

Placement (`Session.feasible`), the explanation of a waiting job and the victim search all read
this list. A filter's `code` is the reason code the explanation shows when that filter is the
first to rule out every node, so codes are part of the API and never change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scheduler.core.model import MILLI_PER_GPU, ReplicaRequest
from scheduler.core.state import BoolArray, IntArray


class NodeCapacity(Protocol):
    """Per-node arrays the filters read: the session's `ClusterState`, or what-if rows of it."""

    @property
    def models(self) -> list[str]:
        """GPU model names; `model_id` indexes into them."""

    @property
    def ready(self) -> BoolArray: ...

    @property
    def uncordoned(self) -> BoolArray: ...

    @property
    def model_id(self) -> IntArray: ...

    @property
    def gpu_count_arr(self) -> IntArray: ...

    @property
    def gpu_memory(self) -> IntArray:
        """Memory of one GPU of the node (0 without GPUs)."""

    @property
    def cpu_free_arr(self) -> IntArray: ...

    @property
    def mem_free_arr(self) -> IntArray: ...

    @property
    def pods_free_arr(self) -> IntArray: ...

    @property
    def whole_free(self) -> IntArray:
        """Wholly free GPUs."""

    @property
    def max_share_free(self) -> IntArray:
        """The largest free share of one GPU, in thousandths."""


Mask = Callable[[NodeCapacity, ReplicaRequest], BoolArray | None]
"""Which nodes pass, or None when the filter does not apply to the request (all pass)."""


@dataclass(frozen=True, slots=True)
class NodeFilter:
    code: str
    """The explanation's reason code when this filter rules out the last nodes."""
    mask: Mask
    static: bool
    """Depends only on the nodes, never on what is free: a session computes it once per shape."""


def _ready(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray:
    return nodes.ready


def _uncordoned(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray:
    return nodes.uncordoned


def _gpu_model(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray | None:
    ok: BoolArray | None = None
    if request.gpu_models:
        allowed = np.array([model in request.gpu_models for model in nodes.models], dtype=np.bool_)
        ok = allowed[nodes.model_id]
    if request.wants_gpu:  # a node without GPUs has no model to match
        has_gpus = nodes.gpu_count_arr > 0
        ok = has_gpus if ok is None else ok & has_gpus
    return ok


def _cpu(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray:
    # Checked even for 0: a node whose running jobs overdraw its CPU takes nothing more.
    return nodes.cpu_free_arr >= request.cpu_millis


def _memory(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray | None:
    return nodes.mem_free_arr >= request.memory_mib if request.memory_mib else None


def _pods(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray:
    return nodes.pods_free_arr >= 1


def _whole_gpus(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray | None:
    return nodes.whole_free >= request.whole_gpus if request.whole_gpus else None


def _gpu_share(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray | None:
    if request.whole_gpus or not request.wants_gpu:
        return None
    if request.gpu_milli:
        return nodes.max_share_free >= request.gpu_milli
    # A GPU-memory request becomes ceil(memory / GPU memory x 1000) of the GPU it lands on.
    need = -(-request.gpu_memory_mib * MILLI_PER_GPU // np.maximum(nodes.gpu_memory, 1))
    return (nodes.gpu_memory > 0) & (nodes.max_share_free >= need)


FILTERS: tuple[NodeFilter, ...] = (
    NodeFilter("node-not-ready", _ready, static=True),
    NodeFilter("node-cordoned", _uncordoned, static=True),
    NodeFilter("gpu-model", _gpu_model, static=True),
    NodeFilter("cpu", _cpu, static=False),
    NodeFilter("memory", _memory, static=False),
    NodeFilter("pods", _pods, static=False),
    NodeFilter("gpus", _whole_gpus, static=False),
    NodeFilter("gpu-share", _gpu_share, static=False),
)
"""In the order a node is checked: the explanation charges a node to its first failing filter."""

_STATIC = tuple(f for f in FILTERS if f.static)
_CAPACITY = tuple(f for f in FILTERS if not f.static)


def filter_named(code: str) -> NodeFilter:
    """The filter whose reason code is `code`."""
    return next(f for f in FILTERS if f.code == code)


def static_fit(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray:
    """Nodes that pass every static filter (readiness, cordon, GPU model)."""
    return _combine(_STATIC, nodes, request, np.ones(len(nodes.ready), dtype=np.bool_))


def capacity_fit(nodes: NodeCapacity, request: ReplicaRequest, static: BoolArray) -> BoolArray:
    """Nodes of `static` (see `static_fit`) where one replica fits in what is free now."""
    return _combine(_CAPACITY, nodes, request, static)


def fits(nodes: NodeCapacity, request: ReplicaRequest) -> BoolArray:
    """Nodes (or what-if rows) where one replica of `request` passes every filter."""
    return capacity_fit(nodes, request, static_fit(nodes, request))


def _combine(
    filters: tuple[NodeFilter, ...], nodes: NodeCapacity, request: ReplicaRequest, start: BoolArray
) -> BoolArray:
    mask, fresh = start, False
    for node_filter in filters:
        ok = node_filter.mask(nodes, request)
        if ok is None:
            continue
        if fresh:
            mask &= ok
        else:  # `start` may be a cached array: the first step makes a new one
            mask, fresh = mask & ok, True
    return mask
