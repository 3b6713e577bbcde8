"""Published figures for comparison, and the JSON/table shapes of `gpusched simulate`."""

from __future__ import annotations

import csv
from pathlib import Path

from scheduler.sim.replay import RunResult, median_alloc
from scheduler.sim.trace import TraceError

PAPER_NAMES = {
    "random": "Random",
    "dotprod": "DotProd",
    "gpu-clustering": "GpuClustering",
    "gpu-packing": "GpuPacking",
    "bestfit": "BestFit",
    "fgd": "FGD",
}


def read_published(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(trace stem, paper policy name) → {"100": alloc, ...} from fgd-published-alloc.csv."""
    published: dict[tuple[str, str], dict[str, float]] = {}
    try:
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    published[(row["trace"], row["policy"])] = {
                        b: float(row[f"alloc_at_{b}"]) for b in ("100", "110", "120", "130")
                    }
                except (KeyError, TypeError, ValueError):
                    raise TraceError(f"{path}:{line}: expected trace, policy and alloc_at_100..130 "
                                     "numbers") from None
    except OSError as error:
        raise TraceError(f"{path}: cannot read: {error.strerror}") from None
    return published


def summary(policy: str, runs: list[RunResult]) -> dict[str, object]:
    """The JSON object DESIGN.md fixes for `gpusched simulate --json`."""
    return {
        "policy": policy,
        "seeds": [run.seed for run in runs],
        "runs": [run.as_json() for run in runs],
        "median_alloc_at": median_alloc(runs),
    }
