"""The mutable working view of the cluster inside one session: free capacity per node and GPU.

Kept as flat arrays indexed by the session's node order so that filters run vectorised over all
nodes and score caches can tell which nodes changed since they last looked (`changes`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from scheduler.core.model import MILLI_PER_GPU, GpuGrant, Node, ReplicaRequest

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class ClusterState:
    """Free CPU, memory, pod slots and per-GPU free thousandths of every node, in session order."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.index: dict[str, int] = {node.name: i for i, node in enumerate(self.nodes)}
        if len(self.index) != len(self.nodes):
            raise ValueError("node names must be unique")
        self.gpu_model: list[str] = [node.gpu_model for node in self.nodes]
        self.models: list[str] = sorted({node.gpu_model for node in self.nodes})
        model_ids = {model: i for i, model in enumerate(self.models)}
        self.model_id: IntArray = np.array(
            [model_ids[node.gpu_model] for node in self.nodes], dtype=np.int64
        )
        self.cpu_capacity: list[int] = [node.cpu_millis for node in self.nodes]
        self.gpu_count: list[int] = [len(node.gpus) for node in self.nodes]
        self.gpu_memory: IntArray = np.array(
            [node.gpus[0].memory_mib if node.gpus else 0 for node in self.nodes], dtype=np.int64
        )
        self.cpu_free: list[int] = [node.cpu_millis for node in self.nodes]
        self.mem_free: list[int] = [node.memory_mib for node in self.nodes]
        self.pods_free: list[int] = [node.max_pods for node in self.nodes]
        # An unhealthy GPU shows no free capacity: nothing new lands on it.
        self.gpu_free: list[list[int]] = [
            [MILLI_PER_GPU if gpu.healthy else 0 for gpu in node.gpus] for node in self.nodes
        ]
        n = len(self.nodes)
        self.ready: BoolArray = np.array([node.ready for node in self.nodes], dtype=np.bool_)
        self.uncordoned: BoolArray = np.array([not node.cordoned for node in self.nodes], np.bool_)
        self.cpu_capacity_arr: IntArray = np.array(self.cpu_capacity, dtype=np.int64).reshape(n)
        self.mem_capacity_arr: IntArray = np.array(
            [node.memory_mib for node in self.nodes], dtype=np.int64
        ).reshape(n)
        self.gpu_count_arr: IntArray = np.array(self.gpu_count, dtype=np.int64).reshape(n)
        self.pods_capacity_arr: IntArray = np.array(
            [node.max_pods for node in self.nodes], dtype=np.int64
        ).reshape(n)
        self.cpu_free_arr: IntArray = np.array(self.cpu_free, dtype=np.int64).reshape(n)
        self.mem_free_arr: IntArray = np.array(self.mem_free, dtype=np.int64).reshape(n)
        self.pods_free_arr: IntArray = np.array(self.pods_free, dtype=np.int64).reshape(n)
        self.max_share_free: IntArray = np.zeros(n, dtype=np.int64)
        self.whole_free: IntArray = np.zeros(n, dtype=np.int64)
        for i in range(n):
            self._refresh_gpu_summary(i)
        self.classes: list[dict[int, int]] = [{} for _ in range(n)]
        """Per node: how many replicas of each GPU class run there (0: a share, k: k whole GPUs)."""
        self.releases = 0
        """How many times capacity was given back (a failed shape can only fit after one)."""
        self.gpu_used = 0
        """GPU thousandths allocated in the whole cluster."""
        self.changes: list[int] = []
        """Node indices in the order they changed; caches remember how far they have read."""

    def __len__(self) -> int:
        return len(self.nodes)

    def _refresh_gpu_summary(self, i: int) -> None:
        free = self.gpu_free[i]
        self.max_share_free[i] = max(free, default=0)
        self.whole_free[i] = free.count(MILLI_PER_GPU)

    def take(self, i: int, request: ReplicaRequest, grants: Sequence[GpuGrant]) -> None:
        """Reserve one replica's CPU, memory, pod slot and GPU shares on node `i`."""
        self._apply(i, request, grants, sign=-1)

    def give_back(self, i: int, request: ReplicaRequest, grants: Sequence[GpuGrant]) -> None:
        """Return what `take` reserved (an eviction, a rollback or a finished replica)."""
        self._apply(i, request, grants, sign=1)
        self.releases += 1

    def _apply(self, i: int, request: ReplicaRequest, grants: Sequence[GpuGrant], sign: int) -> None:
        self.cpu_free[i] += sign * request.cpu_millis
        self.mem_free[i] += sign * request.memory_mib
        self.pods_free[i] += sign
        self.cpu_free_arr[i] = self.cpu_free[i]
        self.mem_free_arr[i] = self.mem_free[i]
        self.pods_free_arr[i] = self.pods_free[i]
        if grants:
            free = self.gpu_free[i]
            for grant in grants:
                free[grant.gpu_index] += sign * grant.milli
                self.gpu_used -= sign * grant.milli
            self._refresh_gpu_summary(i)
            tags = self.classes[i]
            tag = request.whole_gpus
            count = tags.get(tag, 0) - sign
            if count:
                tags[tag] = count
            else:
                tags.pop(tag, None)
        self.changes.append(i)
