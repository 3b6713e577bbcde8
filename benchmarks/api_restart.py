"""Restart: from process start to the first committed decision with 100,000 jobs in the store.

    .venv/bin/python -m benchmarks.api_restart [--jobs 100000] [--pending 10000] [--nodes 100]
                                               [--runs 3]

Seeds a scratch PostgreSQL database (finished jobs plus `--pending` waiting ones), starts
`gpusched scheduler`, and polls the store for the first `job.bound` event. Between runs the
store is put back as seeded (every waiting job pending again, nothing allocated).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time

import httpx
from sqlalchemy import Engine, func, select

from benchmarks.api_common import (
    engine_for,
    scratch_postgres,
    seed_cluster,
    seed_jobs,
    unbind_all,
)
from benchmarks.api_submit import _port, _start
from scheduler.store.tables import EventRow


def _one_restart(url: str, engine: Engine) -> tuple[float | None, float | None]:
    """Seconds from process start to the API's first answer and to the first decision.

    Each is polled on its own thread, so a slow health check cannot delay seeing the decision.
    """
    port = _port()
    seen: dict[str, float] = {}
    done = threading.Event()

    def poll_api() -> None:
        while not done.is_set() and "api" not in seen:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                seen["api"] = time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.02)

    def poll_decision() -> None:
        query = select(func.count()).select_from(EventRow).where(EventRow.kind == "job.bound")
        with engine.connect() as conn:
            while not done.is_set():
                if conn.execute(query).scalar():
                    seen["decision"] = time.perf_counter() - started
                    return
                conn.rollback()
                time.sleep(0.02)

    started = time.perf_counter()
    process = _start(url, port)
    pollers = [threading.Thread(target=poll_api), threading.Thread(target=poll_decision)]
    for poller in pollers:
        poller.start()
    try:
        deadline = started + 120
        while time.perf_counter() < deadline and len(seen) < 2:
            time.sleep(0.05)
    finally:
        done.set()
        for poller in pollers:
            poller.join()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return seen.get("api"), seen.get("decision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    decided = []
    with scratch_postgres() as url:
        engine = engine_for(url)
        seed_cluster(engine, nodes=args.nodes, gpus_per_node=8)
        seed_jobs(engine, count=args.jobs - args.pending, status="succeeded")
        seed_jobs(engine, count=args.pending, start=args.jobs)
        print(
            f"store: {args.jobs} jobs ({args.pending} pending), {args.nodes} nodes x 8 GPUs, "
            "PostgreSQL"
        )
        for run in range(args.runs):
            if run:
                unbind_all(engine)
            load = os.getloadavg()[0]
            healthy_at, bound_at = _one_restart(url, engine)
            api = f"{healthy_at:.2f} s" if healthy_at else "never"
            decision = f"{bound_at:.2f} s" if bound_at else "none in 120 s"
            print(f"run {run + 1} (load {load:.1f}): API answers {api}, first decision {decision}")
            if bound_at:
                decided.append(bound_at)
        engine.dispose()
    if decided:
        print(f"process start -> first decision, median of {len(decided)}: "
              f"{statistics.median(decided):.2f} s")


if __name__ == "__main__":
    main()
