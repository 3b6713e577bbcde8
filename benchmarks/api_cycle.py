"""One scheduling cycle with 10,000 pending jobs on 1,000 nodes x 8 GPUs, store round-trip included.

.venv/bin/python -m benchmarks.api_cycle [--nodes 1000] [--jobs 10000]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.api_common import engine_for, scratch_postgres, seed_cluster, seed_jobs
from scheduler.metrics import ServiceMetrics
from scheduler.service import apply, snapshot
from scheduler.service.loop import SchedulerLoop
from scheduler.service.settings import Settings
from scheduler.service.wakeup import Wakeup
from scheduler.store.db import session_factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    with scratch_postgres() as url:
        engine = engine_for(url)
        seed_cluster(engine, nodes=args.nodes, gpus_per_node=8)
        seed_jobs(engine, count=args.jobs)
        sessions = session_factory(engine)
        loop = SchedulerLoop(
            sessions=sessions, settings=Settings(db=url), wakeup=Wakeup(), metrics=ServiceMetrics()
        )
        # Phase timings of the same work the loop does (snapshot, decide, commit).
        t0 = time.perf_counter()
        with sessions() as session:
            state = snapshot.load(session)
            session.rollback()
        t1 = time.perf_counter()
        result = loop.decide(state.snapshot, loop.config, time.time())
        t2 = time.perf_counter()
        with sessions() as session:
            applied = apply.commit_decisions(
                session, result=result, state=state, now=time.time(), reasons_seen={}
            )
            session.rollback()  # measured only: the full cycle below commits
        t3 = time.perf_counter()
        report = loop.run_once()
        print(f"cluster: {args.nodes} nodes x 8 GPUs, {args.jobs} pending jobs (PostgreSQL)")
        print(f"snapshot from store: {t1 - t0:.3f} s")
        print(
            f"run_cycle:           {t2 - t1:.3f} s ({len(result.decisions)} decisions, "
            f"{len(result.reasons)} reasons)"
        )
        print(f"commit decisions:    {t3 - t2:.3f} s ({len(applied.bound)} binds)")
        print(
            f"full cycle (run_once, committed): {report.seconds:.3f} s, bound {report.bound}, "
            f"pending {report.pending}"
        )
        report2 = loop.run_once()
        print(f"next cycle (nothing new to place): {report2.seconds:.3f} s")
        engine.dispose()


if __name__ == "__main__":
    main()
