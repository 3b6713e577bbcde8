"""Restart: from process start to the first committed decision with 100,000 jobs in the store.

    .venv/bin/python -m benchmarks.api_restart [--jobs 100000] [--pending 10000] [--nodes 100]

Seeds a scratch PostgreSQL database (finished jobs plus `--pending` waiting ones), starts
`gpusched scheduler`, and polls the store for the first `job.bound` event.
"""

from __future__ import annotations

import argparse
import signal
import time

import httpx
from sqlalchemy import func, select

from benchmarks.api_common import engine_for, scratch_postgres, seed_cluster, seed_jobs
from benchmarks.api_submit import _port, _start
from scheduler.store.tables import EventRow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=100)
    args = parser.parse_args()
    with scratch_postgres() as url:
        engine = engine_for(url)
        seed_cluster(engine, nodes=args.nodes, gpus_per_node=8)
        seed_jobs(engine, count=args.jobs - args.pending, status="succeeded")
        seed_jobs(engine, count=args.pending, start=args.jobs)
        port = _port()
        started = time.perf_counter()
        process = _start(url, port)
        healthy_at = None
        bound_at = None
        try:
            while time.perf_counter() - started < 120 and bound_at is None:
                if healthy_at is None:
                    try:
                        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                        healthy_at = time.perf_counter() - started
                    except httpx.HTTPError:
                        pass
                with engine.connect() as conn:
                    bound = conn.execute(
                        select(func.count())
                        .select_from(EventRow)
                        .where(EventRow.kind == "job.bound")
                    ).scalar()
                if bound:
                    bound_at = time.perf_counter() - started
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            engine.dispose()
    print(
        f"store: {args.jobs} jobs ({args.pending} pending), {args.nodes} nodes x 8 GPUs, PostgreSQL"
    )
    print(
        f"process start -> API answers:    {healthy_at:.2f} s"
        if healthy_at
        else "API never answered"
    )
    print(
        f"process start -> first decision: {bound_at:.2f} s" if bound_at else "no decision in 120 s"
    )


if __name__ == "__main__":
    main()
