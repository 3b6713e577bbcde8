"""The independent checker: from marks and the watcher's observations only, never the store."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.faults.marks import read_ends, read_starts

# Shares are thousandths of a GPU; sums of them are compared with this much slack for floats.
EPSILON = 1e-6


@dataclass(frozen=True)
class Run:
    """One process of one replica: when it lived, on which GPUs, with what share of each."""

    job: str
    replica: int
    attempt: int
    gpus: tuple[str, ...]
    fraction: float
    start: float
    end: float = math.inf
    """End mark time, else when the watcher saw it gone; inf while it still runs."""
    exit_code: int | None = None
    """From the end mark; None when it wrote none (killed, or still running)."""
    pid: int = 0

    @property
    def share(self) -> float:
        """The share it holds of each of its GPUs: whole GPUs hold all of each."""
        return 1.0 if len(self.gpus) > 1 or self.fraction >= 1 else self.fraction

    def label(self) -> str:
        return f"{self.job}/{self.replica} attempt {self.attempt} [{self.start:.2f}, {self.end:.2f}]"


def load_runs(marks: Path, gone: Mapping[str, float]) -> list[Run]:
    """Every run the marks record; end = its end mark, else the time it was observed gone."""
    ends = read_ends(marks)
    runs = []
    for start in read_starts(marks):
        end_mark = ends.get(start.name)
        end = end_mark.time if end_mark else gone.get(start.name, math.inf)
        runs.append(Run(
            job=start.job, replica=start.replica, attempt=start.attempt, gpus=start.gpus,
            fraction=start.fraction, start=start.time, end=end,
            exit_code=end_mark.exit_code if end_mark else None, pid=start.pid,
        ))
    return runs


def over_capacity(runs: Iterable[Run]) -> list[str]:
    """Instants at which the live runs on one GPU hold more than the whole GPU."""
    by_gpu: dict[str, list[tuple[float, int, float, Run]]] = defaultdict(list)
    for run in runs:
        for gpu in run.gpus:
            # An end sorts before a start at the same instant: intervals are half-open.
            by_gpu[gpu] += [(run.start, 1, run.share, run), (run.end, 0, -run.share, run)]
    problems = []
    for gpu, events in sorted(by_gpu.items()):
        held, live = 0.0, set[Run]()
        for at, _, delta, run in sorted(events, key=lambda e: (e[0], e[1])):
            held += delta
            if delta > 0:
                live.add(run)
            else:
                live.discard(run)
            if held > 1 + EPSILON:
                who = ", ".join(sorted(f"{r.label()} ({r.share:g})" for r in live))
                problems.append(f"GPU {gpu} held {held:.3f} at {at:.2f} by {who}")
                break
    return problems


def concurrent_duplicates(runs: Iterable[Run]) -> list[str]:
    """Pairs of runs of one job replica whose lives overlap."""
    by_replica: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in runs:
        by_replica[(run.job, run.replica)].append(run)
    problems = []
    for group in by_replica.values():
        group.sort(key=lambda r: r.start)
        for earlier, later in itertools.pairwise(group):
            if later.start < earlier.end:
                problems.append(f"ran twice at once: {earlier.label()} and {later.label()}")
    return problems


def reruns_after_success(runs: Iterable[Run]) -> list[str]:
    """Runs of a job replica that started after a run of it had exited 0."""
    by_replica: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in runs:
        by_replica[(run.job, run.replica)].append(run)
    problems = []
    for group in by_replica.values():
        for done in (r for r in group if r.exit_code == 0):
            problems += [f"ran again after it succeeded: {done.label()} then {r.label()}"
                         for r in group if r.start >= done.end]
    return problems


def violations(runs: list[Run]) -> list[str]:
    """Everything the marks show to be wrong: capacity, duplicates, re-runs after success."""
    return over_capacity(runs) + concurrent_duplicates(runs) + reruns_after_success(runs)


def lost(runs: Iterable[Run], statuses: Mapping[str, str], *, expected: str = "succeeded") -> list[str]:
    """Jobs the API does not show in the expected state, or shows succeeded with no run that
    exited 0 (a success nobody ran)."""
    succeeded_runs = {r.job for r in runs if r.exit_code == 0}
    problems = [f"job {job} is {status}, not {expected}"
                for job, status in sorted(statuses.items()) if status != expected]
    problems += [f"job {job} is succeeded but no run of it exited 0"
                 for job, status in sorted(statuses.items())
                 if status == "succeeded" and job not in succeeded_runs]
    return problems


def assert_clean(runs: list[Run], statuses: Mapping[str, str] | None = None, *,
                 expected: str = "succeeded") -> None:
    """Fail with every violation (and, given the API's statuses, every lost job) listed."""
    problems = violations(runs) + (lost(runs, statuses, expected=expected) if statuses else [])
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])
