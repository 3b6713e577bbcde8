"""Unseen workload mixes: pod lists resampled from the real ones with other proportions of kinds.

    python benchmarks/mixes.py generate OUTDIR          # write OUTDIR/openb_pod_list_mix-*.csv
    python benchmarks/mixes.py compare OUTDIR --seeds 42-44 --jobs 2
    python benchmarks/mixes.py generate OUTDIR --extra  # the seven extra mixes (other seeds)
    python benchmarks/mixes.py generate OUTDIR --random 10  # h0..h9: kind weights drawn at random
    python benchmarks/mixes.py generate OUTDIR --random 8 --cpu-heavy  # s0..s7: 26-47% CPU-only

Every pod of every real list is put in one of five kinds: CPU-only, sharing (a share of one GPU),
one whole GPU, multi-GPU, model-constrained (a `gpu_spec`). A mix draws 8,000 pods (fixed seed)
with replacement: first a kind by the mix's weights, then a pod of that kind uniformly, so shapes,
CPU and memory stay realistic while the proportions move far from every published file.
`compare` runs fgd and stranding-fgd on each mix (median of seeds; the FGD paper has no figures for
these files, so fgd is the yardstick).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.policy_table import parse_seeds, run_grid, table  # noqa: E402

DATA = ROOT / "data" / "alibaba-gpu-v2023"
COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec")
KINDS = ("cpu", "share", "whole", "multi", "spec")

# Weights per kind (they need not sum to 1). The default list is about
# cpu 0.13, share 0.38, whole 0.47, multi 0.01, spec 0.00.
MIXES: dict[str, dict[str, float]] = {
    "mix-cpuheavy": {"cpu": 0.35, "share": 0.25, "whole": 0.38, "multi": 0.02},
    "mix-sharing": {"cpu": 0.10, "share": 0.70, "whole": 0.19, "multi": 0.01},
    "mix-whole": {"cpu": 0.10, "share": 0.10, "whole": 0.78, "multi": 0.02},
    "mix-multi": {"cpu": 0.12, "share": 0.30, "whole": 0.40, "multi": 0.18},
    "mix-spec": {"cpu": 0.12, "share": 0.30, "whole": 0.30, "multi": 0.03, "spec": 0.25},
    "mix-nocpu": {"share": 0.45, "whole": 0.50, "multi": 0.05},
}

# Seven more mixes (`--extra`), each with its own draw seed, used to check the per-GPU weights of
# stranding-fgd (docs/placement.md); x-share50 is the one the mean reach lost to fgd.
EXTRA_MIXES: dict[str, tuple[int, dict[str, float]]] = {
    "x-multi30": (11, {"cpu": 0.10, "share": 0.30, "whole": 0.30, "multi": 0.30}),
    "x-multi10": (11, {"cpu": 0.05, "share": 0.45, "whole": 0.40, "multi": 0.10}),
    "x-spec": (11, {"cpu": 0.05, "share": 0.40, "whole": 0.30, "multi": 0.10, "spec": 0.15}),
    "x-share50": (11, {"cpu": 0.15, "share": 0.50, "whole": 0.30, "multi": 0.05}),
    "y-share50": (12, {"cpu": 0.15, "share": 0.50, "whole": 0.30, "multi": 0.05}),
    "y-share50b": (12, {"cpu": 0.05, "share": 0.55, "whole": 0.33, "multi": 0.07}),
    "y-share40": (12, {"cpu": 0.15, "share": 0.40, "whole": 0.35, "multi": 0.10}),
}


def random_mixes(count: int, *, cpu_heavy: bool = False) -> dict[str, tuple[str, dict[str, float]]]:
    """`count` mixes h0, h1, … whose kind weights are drawn (exponential, then normalised).

    Multi-GPU and model-constrained draws are damped (× 0.4, × 0.5) so that they do not dominate
    most mixes. These were first run as a hold-out check of the filler reach (docs/placement.md),
    after its constants had been chosen. `cpu_heavy` draws s0, s1, … instead, whose CPU-only
    weight is 0.35–0.9 of all the others (26–47 % of the pods): about half of them ask more CPU
    per GPU than the openb cluster has.
    """
    rng = random.Random(77 if cpu_heavy else 2026)
    mixes = {}
    for number in range(count):
        weights = {kind: rng.expovariate(1.0) for kind in KINDS}
        weights["multi"] *= 0.4
        weights["spec"] *= 0.5
        if cpu_heavy:
            weights["cpu"] = (sum(weights.values()) - weights["cpu"]) * rng.uniform(0.35, 0.9)
        total = sum(weights.values())
        name, draw = ("s", "scarce") if cpu_heavy else ("h", "hold")
        mixes[f"{name}{number}"] = (f"{draw}-{number}", {k: v / total for k, v in weights.items()})
    return mixes


def kind_of(row: dict[str, str]) -> str:
    count, milli = int(row["num_gpu"]), int(row["gpu_milli"])
    if (row.get("gpu_spec") or "").strip() and count:
        return "spec"
    if count == 0:
        return "cpu"
    if count > 1:
        return "multi"
    return "whole" if milli >= 1000 else "share"


def pools() -> dict[str, list[dict[str, str]]]:
    """Every distinct pod row of the real lists, by kind (names dropped: they repeat across files)."""
    seen: set[tuple[str, ...]] = set()
    by_kind: dict[str, list[dict[str, str]]] = {kind: [] for kind in KINDS}
    for path in sorted(DATA.glob("openb_pod_list_*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                row = {column: (row.get(column) or "").strip() for column in COLUMNS}
                key = tuple(row[c] for c in COLUMNS[1:])
                if key in seen:
                    continue
                seen.add(key)
                by_kind[kind_of(row)].append(row)
    return by_kind


def generate(
    out: Path, *, pods: int = 8000, seed: int = 7, extra: bool = False, random_count: int = 0,
    cpu_heavy: bool = False,
) -> list[Path]:
    """Write one pod list per mix into `out` (`extra`: the seven extra mixes; `random_count`: that
    many random ones, CPU-heavy ones with `cpu_heavy`); returns paths."""
    out.mkdir(parents=True, exist_ok=True)
    by_kind = pools()
    paths = []
    chosen: dict[str, tuple[int | str, dict[str, float]]]
    if random_count:
        chosen = dict(random_mixes(random_count, cpu_heavy=cpu_heavy))
    elif extra:
        chosen = dict(EXTRA_MIXES)
    else:
        chosen = {name: (seed, weights) for name, weights in MIXES.items()}
    for name, (draw_seed, weights) in chosen.items():
        rng = random.Random(draw_seed if isinstance(draw_seed, str) else f"{draw_seed}-{name}")
        kinds = [kind for kind in weights if by_kind[kind]]
        path = out / f"openb_pod_list_{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for number in range(pods):
                kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
                row = dict(rng.choice(by_kind[kind]))
                row["name"] = f"{name}-{number:05d}"
                writer.writerow(row)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("generate", "compare"))
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--policies", default="fgd,stranding-fgd")
    parser.add_argument("--extra", action="store_true", help="the seven extra mixes instead")
    parser.add_argument("--random", type=int, default=0, metavar="N",
                        help="N mixes with random kind weights instead (h0, h1, …)")
    parser.add_argument("--cpu-heavy", action="store_true",
                        help="with --random: CPU-heavy random mixes (s0, s1, …)")
    args = parser.parse_args()
    paths = generate(args.outdir, extra=args.extra, random_count=args.random,
                     cpu_heavy=args.cpu_heavy)
    if args.command == "generate":
        print("\n".join(str(path) for path in paths))
        return
    rows = run_grid([str(path) for path in paths], args.policies.split(","),
                    parse_seeds(args.seeds), jobs=args.jobs)
    print(table([list(row) for row in rows], {}))


if __name__ == "__main__":
    main()
