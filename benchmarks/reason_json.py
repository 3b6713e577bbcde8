"""Encoding 10,000 pending reasons as the JSON stored in jobs.reason: each way, timed.

.venv/bin/python -m benchmarks.reason_json [--jobs 10000] [--runs 5]

The reasons are shaped as one cycle's are: `explain_all` gives jobs that look alike one
diagnosis, and wraps it in a new PendingReason when a queue's share leads or notes follow, so
most reasons are distinct objects over shared items. A second set has no sharing at all.
Ways timed: the model built and dumped per reason (pydantic, no cache); and whatever the
service uses (`apply.reason_texts`), when this checkout has it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping

from scheduler.backends.standalone import apply
from scheduler.core.decisions import PendingReason, ReasonItem, WaitKind
from scheduler.protocol import PendingReasonJson, ReasonItemJson


def shared_reasons(jobs: int) -> dict[str, PendingReason]:
    """One cycle's worth: 40 diagnoses, 20 queue-share items, a third of the jobs wrapped."""
    failures = {"gpus": 700, "gpu-model": 250, "cpu": 40, "memory": 10}
    bases = [
        PendingReason(
            WaitKind.UNSCHEDULABLE,
            (
                ReasonItem("gpus", f"no node has {n % 8 + 1} free GPUs of the 8 asked for",
                           {"needed": n % 8 + 1, "best_node": f"node-{n}", "best_free": 0.5}),
                ReasonItem("jobs-ahead", f"{n} jobs ahead in the queue", {"ahead": n}),
            ),
            failures,
        )
        for n in range(40)
    ]
    shares = [
        ReasonItem("queue-share", f"queue q{n} is at 1.2 of its fair share",
                   {"queue": f"q{n}", "allocated": 12.0, "fair_share": 10.0})
        for n in range(20)
    ]
    reasons = {}
    for n in range(jobs):
        base = bases[n % len(bases)]
        if n % 3 == 0:
            base = PendingReason(base.kind, (shares[n % len(shares)], *base.items),
                                 base.node_failures)
        reasons[f"job-{n:05d}"] = base
    return reasons


def distinct_reasons(jobs: int) -> dict[str, PendingReason]:
    """The worst case for any cache: no two reasons share a part."""
    return {
        f"job-{n:05d}": PendingReason(
            WaitKind.UNSCHEDULABLE,
            (ReasonItem("gpus", f"no node has {n} free GPUs", {"needed": n, "best": f"n{n}"}),),
            {"gpus": n},
        )
        for n in range(jobs)
    }


def per_reason_model(reasons: Mapping[str, PendingReason]) -> dict[str, str]:
    """No cache: every reason validated into the protocol model and dumped."""
    return {
        job_id: PendingReasonJson(
            kind=reason.kind,
            summary=reason.summary,
            items=[ReasonItemJson(code=i.code, message=i.message, data=dict(i.data))
                   for i in reason.items],
            node_failures=dict(reason.node_failures),
        ).model_dump_json()
        for job_id, reason in reasons.items()
    }


def best_of(encode: Callable[[Mapping[str, PendingReason]], object],
            reasons: Mapping[str, PendingReason], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        encode(reasons)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ways: dict[str, Callable[[Mapping[str, PendingReason]], object]] = {
        "model per reason (pydantic, no cache)": per_reason_model,
    }
    service = getattr(apply, "reason_texts", None)
    if service is not None:
        ways["the service's apply.reason_texts"] = service
    for label, reasons in (("shared parts", shared_reasons(args.jobs)),
                           ("no sharing", distinct_reasons(args.jobs))):
        for way, encode in ways.items():
            seconds = best_of(encode, reasons, args.runs)
            print(f"{label:13} {way:40} {seconds * 1000:8.1f} ms "
                  f"({seconds / len(reasons) * 1e6:.2f} µs a reason)")


if __name__ == "__main__":
    main()
