"""The fairness benchmark still runs against the core (numbers are printed, not asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "fairness.py"


def test_fairness_benchmark_runs_a_short_simulation() -> None:
    spec = importlib.util.spec_from_file_location("fairness_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    for allocator in ("cycle", "greedy"):
        figures = module.simulate(hours=2.0, seed=1, allocator=allocator)
        assert 0.0 < figures.gpu_utilisation <= 1.0
        assert set(figures.max_gap_gpus) == {"vision", "nlp", "speech", "interns"}
    # The baseline never evicts, by construction.
    assert figures.evictions_per_hour == 0.0
