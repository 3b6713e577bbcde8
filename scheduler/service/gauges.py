"""Refresh the per-GPU and per-queue gauges from the store (on each /metrics scrape)."""

from __future__ import annotations

from scheduler.metrics import ServiceMetrics
from scheduler.store import nodes, queues
from scheduler.store.db import Session


def refresh(session: Session, metrics: ServiceMetrics) -> None:
    """Set GPU share, utilisation, memory, health, idle-allocation and queue gauges."""
    allocated_total = 0
    free_total = 0
    stranded = 0
    for gpu in nodes.all_gpus(session):
        labels = (gpu.node, str(gpu.index), gpu.model)
        fraction = gpu.allocated_milli / 1000
        allocated_total += gpu.allocated_milli
        metrics.gpu_allocated.labels(*labels).set(fraction)
        metrics.gpu_healthy.labels(*labels).set(1 if gpu.healthy and gpu.present else 0)
        if gpu.utilization is not None:
            metrics.gpu_utilization.labels(*labels).set(gpu.utilization)
        if gpu.memory_used_mib is not None:
            metrics.gpu_memory_used.labels(*labels).set(gpu.memory_used_mib)
        idle = gpu.allocated_milli > 0 and (gpu.utilization or 0) < 5
        metrics.gpu_allocated_idle.labels(*labels).set(1 if idle else 0)
        free = 1000 - gpu.allocated_milli
        free_total += free
        if 0 < gpu.allocated_milli < 1000:
            stranded += free
    metrics.cluster_allocated_gpus.set(allocated_total / 1000)
    metrics.fragmentation.set(stranded / free_total if free_total else 0.0)
    rows = queues.list_all(session)
    for name, use in queues.subtree_usage(rows, queues.usage(session)).items():
        metrics.queue_allocated.labels(name).set(use.allocated_milli / 1000)
        metrics.queue_pending.labels(name).set(use.pending_jobs)
