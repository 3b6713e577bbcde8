"""Helpers for the service benchmarks: a throw-away PostgreSQL database and bulk seeding."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from sqlalchemy import Engine, insert, text

from scheduler.store.db import make_engine
from scheduler.store.tables import GpuRow, JobRow, NodeRow, QueueRow
from tests.support.scratch import scratch_postgres as store_scratch


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """A migrated, uniquely named PostgreSQL database, dropped afterwards; yields its URL."""
    with store_scratch("gpusched_bench") as url:
        yield url


def seed_cluster(engine: Engine, *, nodes: int, gpus_per_node: int, queues: int = 4) -> None:
    """`nodes` ready nodes of `gpus_per_node` A100-80GB each, and `queues` leaf queues."""
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            insert(QueueRow),
            [
                {
                    "name": f"q{i}",
                    "deserved_milli": nodes * gpus_per_node * 1000 // queues,
                    "over_quota_weight": 1.0,
                    "priority": 0,
                    "fair_share_milli": 0,
                    "created_at": now,
                }
                for i in range(queues)
            ],
        )
        conn.execute(
            insert(NodeRow),
            [
                {
                    "name": f"node-{n:05d}",
                    "cpu_millis": 128_000,
                    "memory_mib": 1_024_000,
                    "labels": {},
                    "enforcement": "none",
                    "ready": True,
                    "cordoned": False,
                    "last_heartbeat_at": now + 86400,
                    "created_at": now,
                }
                for n in range(nodes)
            ],
        )
        conn.execute(
            insert(GpuRow),
            [
                {
                    "node": f"node-{n:05d}",
                    "index": g,
                    "uuid": f"GPU-{n}-{g}",
                    "model": "A100-80GB",
                    "memory_mib": 81920,
                    "compute_capability": "8.0",
                    "mig_mode": False,
                    "present": True,
                    "healthy": True,
                    "health_reason": "",
                    "allocated_milli": 0,
                    "telemetry": {},
                }
                for n in range(nodes)
                for g in range(gpus_per_node)
            ],
        )


def seed_jobs(
    engine: Engine, *, count: int, status: str = "pending", queues: int = 4, start: int = 0
) -> None:
    """`count` jobs (a mix of 0.5, 1 and 2 GPUs), inserted in batches of 5,000."""
    now = time.time()
    sizes = (500, 1000, 2000, 1000)
    rows = [
        {
            "id": f"{start + k:016x}",
            "queue": f"q{k % queues}",
            "name": "",
            "user": "bench",
            "status": status,
            "gpu_milli": sizes[k % 4],
            "gpu_memory_mib": 0,
            "cpu_millis": 0,
            "memory_mib": 0,
            "replicas": 1,
            "priority": 0,
            "preemptible": True,
            "requeue": True,
            "command": ["true"],
            "env": {},
            "message": "",
            "request_hash": "",
            "attempts": 0,
            "created_at": now + k * 1e-3,
            "updated_at": now,
        }
        for k in range(count)
    ]
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(JobRow), rows[i : i + 5000])


def engine_for(url: str) -> Engine:
    return make_engine(url)


def unbind_all(engine: Engine) -> None:
    """Every unfinished job pending again, nothing allocated, no bind events, no leader."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM allocations"))
        connection.execute(text("DELETE FROM replicas"))
        connection.execute(text("UPDATE gpus SET allocated_milli = 0"))
        connection.execute(
            text(
                "UPDATE jobs SET status = 'pending', reason = NULL, attempts = 0"
                " WHERE status <> 'succeeded'"
            )
        )
        connection.execute(text("DELETE FROM events WHERE kind = 'job.bound'"))
        connection.execute(text("DELETE FROM leases"))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process on this machine so far; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
