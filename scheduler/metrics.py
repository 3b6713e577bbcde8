"""Prometheus collectors (prefix `gpusched_`), one registry per service instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    """Every metric the service exports; gauges are refreshed by the loop after each cycle."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.cycle_seconds = Histogram(
            "gpusched_cycle_duration_seconds",
            "One scheduling cycle: snapshot, decide, commit.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.wait_seconds = Histogram(
            "gpusched_job_wait_seconds",
            "Time from submission to a job's (latest) start.",
            buckets=(0.1, 1, 5, 15, 60, 300, 900, 3600, 14400, 86400),
            registry=r,
        )
        self.jobs_bound = Counter(
            "gpusched_jobs_bound", "Jobs started by the scheduler.", registry=r
        )
        self.preemptions = Counter(
            "gpusched_preemptions", "Jobs evicted, by action.", ["action"], registry=r
        )
        self.jobs_lost = Counter(
            "gpusched_jobs_lost", "Jobs whose node stopped sending heartbeats.", registry=r
        )
        self.jobs = Gauge("gpusched_jobs", "Jobs by status.", ["status"], registry=r)
        self.cluster_gpus = Gauge(
            "gpusched_cluster_gpus", "GPUs of ready, healthy nodes.", registry=r
        )
        self.cluster_allocated_gpus = Gauge(
            "gpusched_cluster_allocated_gpus", "GPUs allocated to jobs.", registry=r
        )
        self.queue_deserved = Gauge(
            "gpusched_queue_deserved_gpus", "Deserved GPUs.", ["queue"], registry=r
        )
        self.queue_fair_share = Gauge(
            "gpusched_queue_fair_share_gpus",
            "Fair share from the last cycle.",
            ["queue"],
            registry=r,
        )
        self.queue_allocated = Gauge(
            "gpusched_queue_allocated_gpus", "GPUs allocated.", ["queue"], registry=r
        )
        self.queue_pending = Gauge(
            "gpusched_queue_pending_jobs", "Pending jobs.", ["queue"], registry=r
        )
        labels = ["node", "gpu", "model"]
        self.gpu_allocated = Gauge(
            "gpusched_gpu_allocated_fraction", "Share allocated.", labels, registry=r
        )
        self.gpu_utilization = Gauge(
            "gpusched_gpu_utilization_percent", "SM utilisation (NVML).", labels, registry=r
        )
        self.gpu_memory_used = Gauge(
            "gpusched_gpu_memory_used_mib", "Memory used (NVML).", labels, registry=r
        )
        self.gpu_healthy = Gauge("gpusched_gpu_healthy", "1 when healthy.", labels, registry=r)
        self.gpu_allocated_idle = Gauge(
            "gpusched_gpu_allocated_idle",
            "1 when the GPU is allocated but its utilisation is below 5%.",
            labels,
            registry=r,
        )
        self.node_ready = Gauge("gpusched_node_ready", "1 when ready.", ["node"], registry=r)
        self.fragmentation = Gauge(
            "gpusched_fragmentation_ratio",
            "Free GPU share stranded on partly used GPUs, over all free share.",
            registry=r,
        )
        self.is_leader = Gauge(
            "gpusched_scheduler_leader", "1 while this process holds the leader lease.", registry=r
        )
