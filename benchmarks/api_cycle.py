"""One scheduling cycle with 10,000 pending jobs on 1,000 nodes x 8 GPUs, store round-trip included.

.venv/bin/python -m benchmarks.api_cycle [--nodes 1000] [--jobs 10000] [--runs 3]

Each run starts from the same store (every job pending, nothing allocated) and a fresh loop, and
does what the loop does: snapshot → run_cycle → the decisions committed in one transaction → the
pending reasons. Besides wall time it reports the CPU the benchmark process spent and the CPU of
the PostgreSQL processes serving the database (read from /proc, so PostgreSQL must run on this
machine): on a busy machine their sum is what the cycle would take on an idle one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg
from sqlalchemy import Engine, text

from benchmarks.api_common import (
    cpu_seconds,
    engine_for,
    scratch_postgres,
    seed_cluster,
    seed_jobs,
    unbind_all,
)
from scheduler.backends.standalone import apply, snapshot
from scheduler.metrics import ServiceMetrics
from scheduler.service.build import standalone_loop
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.store.db import session_factory
from tests.support.scratch import PG_ADMIN


def postgres_cpu(database: str) -> float:
    """CPU seconds (user + system) spent so far by the server processes connected to `database`."""
    with psycopg.connect(PG_ADMIN) as admin:
        pids = [
            row[0]
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            )
        ]
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)  # 0: not on this machine, or gone


def reset(engine: Engine) -> None:
    """Every job pending again, nothing allocated, no bind events: the next run starts alike."""
    unbind_all(engine)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with scratch_postgres() as url:
        database = url.rsplit("/", 1)[1]
        engine = engine_for(url)
        seed_cluster(engine, nodes=args.nodes, gpus_per_node=8)
        seed_jobs(engine, count=args.jobs)
        sessions = session_factory(engine)
        print(f"cluster: {args.nodes} nodes x 8 GPUs, {args.jobs} pending jobs (PostgreSQL)")
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        walls, clients, servers = [], [], []
        for run in range(args.runs):
            reset(engine)
            loop = standalone_loop(
                sessions=sessions,
                settings=Settings(db=url),
                wakeup=Wakeup(),
                metrics=ServiceMetrics(),
            )
            # Phase timings of the same work the loop does (snapshot, decide, commit).
            t0, c0 = time.perf_counter(), time.process_time()
            with sessions() as session:
                state = snapshot.load(session)
                session.rollback()
            t1, c1 = time.perf_counter(), time.process_time()
            result = loop.decide(state.snapshot, loop.config, time.time())
            t2, c2 = time.perf_counter(), time.process_time()
            with sessions() as session:
                # What run_once does, in one transaction here (it commits the reasons apart).
                applied = apply.write_decisions(session, result=result, state=state, now=time.time())
                apply.write_reasons(session, result.reasons, {})
                session.rollback()  # measured only: the full cycle below commits
            t3, c3 = time.perf_counter(), time.process_time()
            del state, result
            server0, client0 = postgres_cpu(database), time.process_time()
            report = loop.run_once()
            client, server = time.process_time() - client0, postgres_cpu(database) - server0
            walls.append(report.seconds)
            clients.append(client)
            servers.append(server)
            print(
                f"run {run + 1}: snapshot {t1 - t0:.3f} s (cpu {c1 - c0:.3f}), "
                f"run_cycle {t2 - t1:.3f} s (cpu {c2 - c1:.3f}; {len(applied.bound)} binds), "
                f"commit {t3 - t2:.3f} s (cpu {c3 - c2:.3f})"
            )
            print(
                f"       full cycle (run_once, committed): {report.seconds:.3f} s wall, "
                f"cpu {client:.3f} s here + {server:.3f} s PostgreSQL; bound {report.bound}, "
                f"pending {report.pending}"
            )
        report2 = loop.run_once()
        print(
            f"median of {args.runs}: full cycle {statistics.median(walls):.3f} s wall, "
            f"cpu {statistics.median(clients):.3f} s here + {statistics.median(servers):.3f} s "
            f"PostgreSQL (load average now {os.getloadavg()[0]:.1f})"
        )
        print(f"next cycle (nothing new to place): {report2.seconds:.3f} s")
        engine.dispose()


if __name__ == "__main__":
    main()
