"""Nodes as they would be once some replicas are gone: rows the node filters read like nodes.

The victim search asks "does it fit here once these victims are evicted?" by building one row
per (node, how many of its victims are gone) and running the ordinary filters over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scheduler.core.model import MILLI_PER_GPU, GpuGrant, ReplicaRequest
from scheduler.core.state import BoolArray, ClusterState, IntArray

Release = tuple[ReplicaRequest, Sequence[GpuGrant]]
"""What one replica gives back on its node: its request and its GPU shares."""


@dataclass(frozen=True, slots=True)
class ReleasedRows:
    """Row r: node `node[r]` once its first `step[r] + 1` groups of releases are gone."""

    node: IntArray
    step: IntArray
    models: list[str]
    ready: BoolArray
    uncordoned: BoolArray
    model_id: IntArray
    gpu_count_arr: IntArray
    gpu_memory: IntArray
    cpu_free_arr: IntArray
    mem_free_arr: IntArray
    pods_free_arr: IntArray
    whole_free: IntArray
    max_share_free: IntArray


def rows_after_release(
    state: ClusterState, plan: Sequence[tuple[int, Sequence[Sequence[Release]]]]
) -> ReleasedRows:
    """Per (node, groups) of `plan`: one row per prefix of the groups, released cumulatively."""
    nodes: list[int] = []
    steps: list[int] = []
    free_rows: list[tuple[int, int, int, int, int]] = []
    for i, groups in plan:
        healthy = [gpu.healthy for gpu in state.nodes[i].gpus]  # an unhealthy GPU frees nothing
        cpu, mem, pods = state.cpu_free[i], state.mem_free[i], state.pods_free[i]
        free = list(state.gpu_free[i])
        for step, group in enumerate(groups):
            for request, grants in group:
                cpu += request.cpu_millis
                mem += request.memory_mib
                pods += 1
                for grant in grants:
                    if healthy[grant.gpu_index]:
                        free[grant.gpu_index] += grant.milli
            nodes.append(i)
            steps.append(step)
            free_rows.append((cpu, mem, pods, free.count(MILLI_PER_GPU), max(free, default=0)))
    columns = np.array(free_rows, dtype=np.int64).reshape(len(free_rows), 5).T
    return _rows(state, np.array(nodes, dtype=np.int64), step=np.array(steps, dtype=np.int64),
                 free=tuple(columns))


def rows_when_empty(state: ClusterState) -> ReleasedRows:
    """Every node as if nothing ran there and every GPU were healthy: could it ever fit?"""
    count = len(state)
    pods = np.array([node.max_pods for node in state.nodes], dtype=np.int64).reshape(count)
    share = np.where(state.gpu_count_arr > 0, MILLI_PER_GPU, 0).astype(np.int64)
    free = (state.cpu_capacity_arr, state.mem_capacity_arr, pods, state.gpu_count_arr, share)
    return _rows(state, np.arange(count, dtype=np.int64), step=np.zeros(count, dtype=np.int64),
                 free=free)


def _rows(state: ClusterState, node: IntArray, *, step: IntArray, free: Sequence[IntArray]) -> ReleasedRows:
    """Rows of `node` (indices into `state`) with free (CPU, memory, pods, whole GPUs, best share)."""
    cpu, memory, pods, whole, share = free
    return ReleasedRows(
        node=node,
        step=step,
        models=state.models,
        ready=state.ready[node],
        uncordoned=state.uncordoned[node],
        model_id=state.model_id[node],
        gpu_count_arr=state.gpu_count_arr[node],
        gpu_memory=state.gpu_memory[node],
        cpu_free_arr=cpu,
        mem_free_arr=memory,
        pods_free_arr=pods,
        whole_free=whole,
        max_share_free=share,
    )
