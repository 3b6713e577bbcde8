"""Placement policies × pod lists × seeds under the published protocol, run in parallel.

    python benchmarks/policy_table.py --traces default,cpu200 --policies fgd,stranding-fgd \
        --seeds 42-51 --jobs 2 --out results.json
    python benchmarks/policy_table.py --table results.json [--bound bound.json]

Each run is one seed of `scheduler.sim.replay.replay` at 130% arrived; the table shows the median
and range over seeds of alloc % at 130, next to the published FGD figure and the rule and pattern
bounds (benchmarks/offline_bound.py).

A trace name without a slash means data/alibaba-gpu-v2023/openb_pod_list_NAME.csv.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scheduler.sim.replay import replay  # noqa: E402
from scheduler.sim.report import read_published  # noqa: E402
from scheduler.sim.trace import read_nodes, read_pods  # noqa: E402

DATA = ROOT / "data" / "alibaba-gpu-v2023"
NODES = DATA / "openb_node_list_gpu_node.csv"


def trace_path(name: str) -> Path:
    """A pod list path from a short name (`default`) or a path."""
    return Path(name) if "/" in name or name.endswith(".csv") else DATA / f"openb_pod_list_{name}.csv"


def trace_stem(name: str) -> str:
    return trace_path(name).stem.removeprefix("openb_pod_list_")


def _one(task: tuple[str, str, int]) -> tuple[str, str, int, float, float]:
    trace, policy, seed = task
    result = replay(read_nodes(NODES), read_pods(trace_path(trace)), policy=policy, seed=seed,
                    arrive=1.3)
    value = result.alloc_at["130"]
    if value is None:
        raise RuntimeError(f"{trace} seed {seed}: no event in bucket 130")
    return trace_stem(trace), policy, seed, value, result.seconds


def run_grid(
    traces: list[str], policies: list[str], seeds: list[int], *, jobs: int
) -> list[tuple[str, str, int, float, float]]:
    """(trace, policy, seed, alloc % at 130, CPU seconds) for every combination."""
    tasks = [(t, p, s) for t in traces for p in policies for s in seeds]
    if jobs <= 1:
        return [_one(task) for task in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_one, tasks))


def parse_seeds(text: str) -> list[int]:
    """`42-51` or `42,43`."""
    if "-" in text:
        low, high = (int(part) for part in text.split("-", 1))
        return list(range(low, high + 1))
    return [int(part) for part in text.split(",")]


def table(rows: list[list[object]], bound: dict[str, dict[str, float]]) -> str:
    """Markdown: per trace and policy, median [min–max] over seeds, published FGD, the bounds
    (offline_bound.py --json: per trace the median rule and pattern bounds)."""
    published = read_published(ROOT / "data" / "fgd-published-alloc.csv")
    runs: dict[tuple[str, str], list[float]] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    for trace, policy, _seed, value, cpu in rows:
        runs.setdefault((str(trace), str(policy)), []).append(float(str(value)))
        seconds.setdefault((str(trace), str(policy)), []).append(float(str(cpu)))
    policies = sorted({policy for _, policy in runs}, key=lambda p: (p != "fgd", p))
    lines = ["| trace | " + " | ".join(policies)
             + " | published FGD | rule bound (upper) | pattern bound (upper) |",
             "|---" * (len(policies) + 4) + "|"]
    for trace in sorted({trace for trace, _ in runs}):
        cells = []
        for policy in policies:
            values = runs.get((trace, policy))
            if not values:
                cells.append("–")
                continue
            cells.append(f"{statistics.median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"
                         f" n={len(values)}")
        paper = published.get((f"openb_pod_list_{trace}", "FGD"))
        cells.append(f"{paper['130']:.2f}" if paper else "–")
        for name in ("rule", "pattern"):
            value = bound.get(trace, {}).get(name)
            cells.append("–" if value is None else f"{value:.2f}")
        lines.append(f"| {trace} | " + " | ".join(cells) + " |")
    cpu = {p: statistics.mean(v for (_, q), vs in seconds.items() if q == p for v in vs)
           for p in policies}
    lines.append("")
    lines.append("Mean CPU seconds per run: " + ", ".join(f"{p} {s:.2f}" for p, s in cpu.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", default="default")
    parser.add_argument("--policies", default="fgd,stranding-fgd")
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the per-run results as JSON")
    parser.add_argument("--table", type=Path, help="print the table of a results JSON and stop")
    parser.add_argument("--bound", type=Path, help="offline_bound.py --json output to show")
    args = parser.parse_args()
    bound = json.loads(args.bound.read_text()) if args.bound else {}
    if args.table:
        print(table(json.loads(args.table.read_text()), bound))
        return
    rows = run_grid(args.traces.split(","), args.policies.split(","), parse_seeds(args.seeds),
                    jobs=args.jobs)
    if args.out:
        args.out.write_text(json.dumps(rows))
    print(table([list(row) for row in rows], bound))


if __name__ == "__main__":
    main()
