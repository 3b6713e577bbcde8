"""Replay every policy on every trace and print the markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/trace_report.py [--policies fgd,bestfit] [--traces default,cpu050]
        [--seeds-default 42-51] [--seeds-other 42-44] [--out benchmarks/results/traces.json]

Runs the real core through `scheduler.sim.replay` (what `gpusched simulate` runs). Results are kept
in the JSON file so the table can be re-printed without re-running (`--table-only`).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scheduler.cli.sim_commands import DATA, parse_seeds
from scheduler.sim.replay import median_alloc, replay
from scheduler.sim.report import PAPER_NAMES, read_published
from scheduler.sim.trace import read_nodes, read_pods

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("random", "dotprod", "gpu-clustering", "gpu-packing", "bestfit", "fgd")


def run(args: argparse.Namespace) -> dict[str, dict[str, dict[str, object]]]:
    out = Path(args.out)
    results: dict[str, dict[str, dict[str, object]]] = (
        json.loads(out.read_text()) if out.exists() else {}
    )
    nodes = read_nodes(DATA / "openb_node_list_gpu_node.csv")
    traces = sorted(p.stem.removeprefix("openb_pod_list_") for p in DATA.glob("openb_pod_list_*.csv"))
    if args.traces:
        traces = [t for t in traces if t in args.traces.split(",")]
    for trace in traces:
        pods = read_pods(DATA / f"openb_pod_list_{trace}.csv")
        seeds = parse_seeds(args.seeds_default if trace == "default" else args.seeds_other)
        for policy in args.policies.split(","):
            runs = [replay(nodes, pods, policy=policy, seed=s, arrive=1.3) for s in seeds]
            results.setdefault(trace, {})[policy] = {
                "seeds": seeds,
                "median": median_alloc(runs),
                "min_130": min(r.alloc_at["130"] or 0 for r in runs),
                "max_130": max(r.alloc_at["130"] or 0 for r in runs),
                "cpu_seconds_median": round(statistics.median(r.seconds for r in runs), 2),
            }
            print(f"{trace:12} {policy:15} {results[trace][policy]['median']}", flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1, sort_keys=True))
    return results


def table(results: dict[str, dict[str, dict[str, object]]]) -> str:
    published = read_published(ROOT / "data" / "fgd-published-alloc.csv")
    lines = [
        "| trace | policy | seeds | alloc@100 | @110 | @120 | @130 (min–max) | published @100/110/120/130 "
        "| Δ@130 | CPU s/run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for trace in sorted(results, key=lambda t: (t != "default", t)):
        for policy in [*POLICIES, *sorted(set(results[trace]) - set(POLICIES))]:
            row = results[trace].get(policy)
            if row is None:
                continue
            median = row["median"]
            assert isinstance(median, dict)
            paper = published.get((f"openb_pod_list_{trace}", PAPER_NAMES.get(policy, policy)))
            paper_text = "/".join(f"{paper[b]:.2f}" for b in ("100", "110", "120", "130")) if paper else "—"
            delta = f"{median['130'] - paper['130']:+.2f}" if paper and median["130"] is not None else "—"
            seeds = row["seeds"]
            assert isinstance(seeds, list)
            lines.append(
                f"| {trace} | {policy} | {len(seeds)} | {median['100']:.2f} | {median['110']:.2f} | "
                f"{median['120']:.2f} | {median['130']:.2f} ({row['min_130']:.2f}–{row['max_130']:.2f}) | "
                f"{paper_text} | {delta} | {row['cpu_seconds_median']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--traces", default="")
    parser.add_argument("--seeds-default", default="42-51")
    parser.add_argument("--seeds-other", default="42-44")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "traces.json"))
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if args.table_only else run(args)
    print(table(results))


if __name__ == "__main__":
    main()
