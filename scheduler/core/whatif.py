"""Nodes as they would be once some replicas are gone: rows the node filters read like nodes.

The victim search asks "does it fit here once these victims are evicted?" by building one row
per (node, how many of its victims are gone) and running the ordinary filters over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scheduler.core.model import MILLI_PER_GPU, GpuGrant, ReplicaRequest
from scheduler.core.state import BoolArray, ClusterState, IntArray


@dataclass(slots=True)
class Releases:
    """Groups of replicas to give back; a node's groups are released in the order they start."""

    node: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)
    pods: list[int] = field(default_factory=list)
    grant_group: list[int] = field(default_factory=list)
    grant_gpu: list[int] = field(default_factory=list)
    grant_milli: list[int] = field(default_factory=list)

    def start(self, node: int) -> int:
        """A new group on `node` (released after the groups started there before); its number."""
        self.node.append(node)
        self.cpu.append(0)
        self.memory.append(0)
        self.pods.append(0)
        return len(self.node) - 1

    def give_back(self, group: int, request: ReplicaRequest, grants: Sequence[GpuGrant]) -> None:
        """Add one replica's CPU, memory, pod slot and GPU shares to `group`."""
        self.cpu[group] += request.cpu_millis
        self.memory[group] += request.memory_mib
        self.pods[group] += 1
        for grant in grants:
            self.grant_group.append(group)
            self.grant_gpu.append(grant.gpu_index)
            self.grant_milli.append(grant.milli)


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


def rows_after_release(state: ClusterState, releases: Releases) -> ReleasedRows:
    """One row per group: its node once that group and the node's earlier groups are gone.

    Rows come sorted by node, each node's rows in release order (`step` 0, 1, ...).
    """
    count = len(releases.node)
    order = np.argsort(np.array(releases.node, dtype=np.int64), kind="stable")
    node = np.array(releases.node, dtype=np.int64)[order]
    new_node = np.diff(node, prepend=-1) != 0
    segment = np.cumsum(new_node) - 1  # per row: which of the distinct nodes it is on
    starts = np.flatnonzero(new_node)
    step = np.arange(count, dtype=np.int64) - starts[segment]
    distinct = node[starts].tolist()
    width = max((len(state.nodes[i].gpus) for i in distinct), default=0)
    base = np.zeros((len(distinct), width), dtype=np.int64)  # a padded GPU has 0 free: no share fits
    healthy = np.zeros((len(distinct), width), dtype=np.int64)
    for k, i in enumerate(distinct):
        gpus = state.nodes[i].gpus
        base[k, : len(gpus)] = state.gpu_free[i]
        healthy[k, : len(gpus)] = [gpu.healthy for gpu in gpus]  # an unhealthy GPU frees nothing
    row_of = np.empty(count, dtype=np.int64)
    row_of[order] = np.arange(count, dtype=np.int64)
    gpu_back = np.zeros(count * width, dtype=np.int64)
    flat = row_of[np.array(releases.grant_group, dtype=np.int64)] * width
    np.add.at(gpu_back, flat + np.array(releases.grant_gpu, dtype=np.int64),
              np.array(releases.grant_milli, dtype=np.int64))
    gpu_free = base[segment] + _within_segments(gpu_back.reshape(count, width) * healthy[segment], segment)
    given_back = np.array([releases.cpu, releases.memory, releases.pods], dtype=np.int64)
    now_free = np.stack([state.cpu_free_arr[node], state.mem_free_arr[node], state.pods_free_arr[node]])
    cpu_free, mem_free, pods_free = now_free + _within_segments(
        given_back.reshape(3, count)[:, order].T, segment).T
    whole = (gpu_free == MILLI_PER_GPU).sum(axis=1)
    share = gpu_free.max(axis=1, initial=0) if width else np.zeros(count, dtype=np.int64)
    return _rows(state, node, step=step, free=(cpu_free, mem_free, pods_free, whole, share))


def _within_segments(values: IntArray, segment: IntArray) -> IntArray:
    """Running sums of `values` (rows) restarting where `segment` changes (segments contiguous)."""
    total = np.cumsum(values, axis=0)
    if not len(segment):
        return total
    starts = np.flatnonzero(np.diff(segment, prepend=-1))
    before = total[starts] - values[starts]
    ordinal = np.cumsum(np.diff(segment, prepend=-1) != 0) - 1
    running: IntArray = total - before[ordinal]
    return running


def rows_when_empty(state: ClusterState) -> ReleasedRows:
    """Every node as if nothing ran there and every GPU were healthy: could it ever fit?"""
    count = len(state)
    share = np.where(state.gpu_count_arr > 0, MILLI_PER_GPU, 0).astype(np.int64)
    free = (state.cpu_capacity_arr, state.mem_capacity_arr, state.pods_capacity_arr, state.gpu_count_arr,
            share)
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
