"""Whether the whole cluster, empty, could ever hold a job: the `unresolvable` answer of explain.

A job is kept when it is submitted even if the cluster is too small for it, since nodes may
still be joining (a cluster being brought up, or scaled out); explain says at once, with the
numbers, that the nodes stored now could never hold it, so nobody waits for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.core.model import milli_to_gpus
from scheduler.protocol import PendingReasonJson, ReasonItemJson, WaitKind
from scheduler.store.tables import GpuRow, JobRow, NodeRow


def replicas_fit(job: JobRow, node: NodeRow, gpus: Sequence[GpuRow]) -> int:
    """How many replicas of `job` one empty node holds (each replica on one node)."""
    present = [gpu for gpu in gpus if gpu.present]
    limits = []
    if job.cpu_millis:
        limits.append(node.cpu_millis // job.cpu_millis)
    if job.memory_mib:
        limits.append(node.memory_mib // job.memory_mib)
    if job.gpu_milli >= 1000:
        limits.append(len(present) // (job.gpu_milli // 1000))
    else:
        # A fraction (or a GPU-memory share) shares a GPU with the job's other replicas.
        per_gpu = [
            min(
                1000 // job.gpu_milli if job.gpu_milli else 1 << 30,
                gpu.memory_mib // job.gpu_memory_mib if job.gpu_memory_mib else 1 << 30,
            )
            for gpu in present
        ]
        limits.append(sum(per_gpu))
    return min(limits)


def unresolvable(
    job: JobRow, nodes: Sequence[NodeRow], gpus: Mapping[str, Sequence[GpuRow]]
) -> dict[str, Any] | None:
    """The explain reason when the stored nodes could never hold all of `job`; else None."""
    if not nodes:
        return None  # no node has joined yet: the job waits for one
    fit = sum(replicas_fit(job, node, gpus.get(node.name, ())) for node in nodes)
    if fit >= job.replicas:
        return None
    cluster_gpus = sum(1 for node in nodes for gpu in gpus.get(node.name, ()) if gpu.present)
    per_replica = milli_to_gpus(job.gpu_milli)
    asked = per_replica * job.replicas
    message = (
        f"the cluster could never hold this job: it asks for {job.replicas} replicas × "
        f"{per_replica:g} GPUs = {asked:g} GPUs, and the {len(nodes)} nodes stored "
        f"({cluster_gpus} GPUs) hold at most {fit} such replicas; ask for less, or add nodes"
    )
    data = {
        "asked_gpus": asked,
        "cluster_gpus": float(cluster_gpus),
        "nodes": len(nodes),
        "replicas": job.replicas,
        "replicas_fit": fit,
    }
    reason = PendingReasonJson(
        kind=WaitKind.UNRESOLVABLE,
        summary=message,
        items=[ReasonItemJson(code="cluster-capacity", message=message, data=data)],
    )
    return reason.model_dump(mode="json")
