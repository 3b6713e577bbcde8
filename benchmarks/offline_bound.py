"""Upper bounds on GPU allocation % for the pods of one seed at 130% arrived (HiGHS).

    python benchmarks/offline_bound.py --traces default,cpu200 --seeds 42-44 [--pattern] [--json F]

Three bounds, from loose to tight:

* FREE-CHOICE bound (`free_choice_bound`): an all-knowing packer may choose ANY subset of the
  seed's inflated pod list (no order, no "place what fits"). Pods are grouped into types and nodes
  into classes; x[t, c] pods of type t go to class c, within the class's pooled CPU, memory, GPU
  thousandths and "big" GPU slots. At 130% arrived it is 100.00 on every trace: there are always
  enough whole-GPU pods to fill every GPU, so it says nothing about placement policies.
* RULE bound (`benchmarks/rule_bound.py`): what ANY policy that obeys the protocol (each pod
  tried once, in order; a pod that fits somewhere is placed) can reach, even one that knows the
  future. See that module and docs/placement.md for the argument.
* PATTERN bound (`benchmarks/pattern_bound.py`, `--pattern`): the same game, with the end
  state's GPUs packed exactly and the first rejection of each common type as a switch. Valid for
  the same runs, and on every published trace tighter than the rule bound.

For scale it also prints a FEASIBLE offline packing (not a bound): the same pods sorted largest
GPU request first (then CPU), each placed by a policy (`--packer`, default bestfit) if it fits. It
ignores the arrival order, so it may exceed what a rule-obeying policy can reach.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import highspy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pattern_bound import pattern_bound  # noqa: E402
from benchmarks.policy_table import NODES, parse_seeds, trace_path, trace_stem  # noqa: E402
from benchmarks.rule_bound import BoundResult, PodType, pod_type, rule_bound  # noqa: E402
from scheduler.core.actions.allocate import try_allocate  # noqa: E402
from scheduler.core.config import CycleConfig  # noqa: E402
from scheduler.core.model import MILLI_PER_GPU, Job, Node, Snapshot  # noqa: E402
from scheduler.core.plugins.placement import PlacementContext, make_policy  # noqa: E402
from scheduler.core.plugins.placement.typical import typical_shapes  # noqa: E402
from scheduler.core.session import Session  # noqa: E402
from scheduler.sim.protocol import build_workload  # noqa: E402
from scheduler.sim.trace import TracePod, read_nodes, read_pods  # noqa: E402

NodeClass = tuple[str, int, int, int]  # model, cpu, memory, GPUs


def node_class(node: Node) -> NodeClass:
    return (node.gpu_model, node.cpu_millis, node.memory_mib, len(node.gpus))


def free_choice_bound(nodes: Sequence[Node], pods: Sequence[TracePod], *, integer: bool) -> float:
    """The best GPU allocation % any packing of a subset of `pods` onto `nodes` could reach."""
    types = Counter(pod_type(pod) for pod in pods)
    classes = Counter(node_class(node) for node in nodes)
    total_milli = sum(len(node.gpus) for node in nodes) * MILLI_PER_GPU
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    columns: dict[tuple[PodType, NodeClass], int] = {}
    for t, available in types.items():
        for c in classes:
            model, node_cpu, node_memory, gpus = c
            if t.cpu > node_cpu or t.memory > node_memory or t.gpus > gpus:
                continue
            if t.gpus and t.models and model not in t.models:
                continue
            columns[(t, c)] = h.getNumCol()
            h.addVar(0.0, float(available))
            h.changeColCost(columns[(t, c)], float(t.milli))
            if integer:
                h.changeColIntegrality(columns[(t, c)], highspy.HighsVarType.kInteger)

    def row(upper: float, entries: list[tuple[int, float]]) -> None:
        entries = [(i, v) for i, v in entries if v]
        if entries:
            h.addRow(0.0, upper, len(entries), [i for i, _ in entries], [v for _, v in entries])

    for t, available in types.items():
        row(float(available), [(i, 1.0) for (tt, _), i in columns.items() if tt == t])
    for c, many in classes.items():
        _, node_cpu, node_memory, gpus = c
        mine = [(t, i) for (t, cc), i in columns.items() if cc == c]
        row(float(many * node_cpu), [(i, float(t.cpu)) for t, i in mine])
        row(float(many * node_memory), [(i, float(t.memory)) for t, i in mine])
        row(float(many * gpus * MILLI_PER_GPU), [(i, float(t.milli)) for t, i in mine])
        row(float(many * gpus), [(i, float(t.gpus) if t.share > MILLI_PER_GPU // 2 else 0.0)
                                 for t, i in mine])
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS did not solve the bound: {h.modelStatusToString(h.getModelStatus())}")
    return 100.0 * h.getInfo().objective_function_value / total_milli


def offline_greedy(nodes: tuple[Node, ...], pods: tuple[TracePod, ...], *, policy: str) -> float:
    """GPU allocation % of placing `pods` largest GPU request first with `policy` (feasible)."""
    ordered = sorted(pods, key=lambda pod: (-pod.request.gpu_milli, -pod.request.cpu_millis))
    context = PlacementContext(typical_shapes=typical_shapes(pod.request for pod in pods))
    session = Session(Snapshot(nodes), CycleConfig(placement=policy, explain=False), now=0.0,
                      policy=make_policy(policy, context))
    statement = session.statement()
    for number, pod in enumerate(ordered):
        job = Job(id=str(number), queue="offline", request=pod.request, created_at=float(number))
        try_allocate(session, statement, job)
    total = sum(len(node.gpus) for node in nodes) * MILLI_PER_GPU
    return 100.0 * session.state.gpu_used / total


def ceil2(value: float) -> float:
    """Round a bound UP to the table's two decimals (rounding down could make it invalid)."""
    return math.ceil(value * 100 - 1e-9) / 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", default="default")
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--epochs", type=int, default=8, help="checkpoints of the rule bound")
    parser.add_argument("--forced", type=int, default=20, help="commonest types kept exact (rule bound)")
    parser.add_argument("--pattern", action="store_true", help="also the pattern bound (MIP)")
    parser.add_argument("--no-rule", action="store_true", help="skip the rule bound")
    parser.add_argument("--integer", action="store_true",
                        help="solve the rule bound as a MIP (its dual bound; slow) not an LP")
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--packer", default="bestfit", help="policy of the feasible offline packing")
    parser.add_argument("--no-packer", action="store_true", help="skip the feasible packing")
    parser.add_argument("--free-choice", action="store_true", help="also print the free-choice LP")
    parser.add_argument("--json", type=Path,
                        help="write {trace: {'rule': median, 'pattern': median}} here")
    args = parser.parse_args()
    nodes = read_nodes(NODES)
    medians: dict[str, dict[str, float]] = {}
    for trace in args.traces.split(","):
        pods = read_pods(trace_path(trace))
        found: dict[str, list[float]] = {}
        seconds: dict[str, list[float]] = {}
        for seed in parse_seeds(args.seeds):
            workload = build_workload(nodes, pods, seed=seed, arrive=1.3)
            results: dict[str, BoundResult] = {}
            if not args.no_rule:
                results["rule"] = rule_bound(workload.nodes, workload.pods, epochs=args.epochs,
                                             forced=args.forced, integer=args.integer,
                                             time_limit=args.time_limit)
            if args.pattern:
                results["pattern"] = pattern_bound(workload.nodes, workload.pods,
                                                   time_limit=args.time_limit)
            for name, result in results.items():
                found.setdefault(name, []).append(ceil2(result.percent))
                seconds.setdefault(name, []).append(result.seconds)
            if args.free_choice:
                found.setdefault("free-choice", []).append(
                    free_choice_bound(nodes, workload.pods, integer=False))
            if not args.no_packer:
                found.setdefault(f"offline {args.packer} (feasible)", []).append(
                    offline_greedy(workload.nodes, workload.pods, policy=args.packer))
        medians[trace_stem(trace)] = {name: statistics.median(values) for name, values in found.items()
                                      if name in ("rule", "pattern")}
        parts = []
        for name, values in found.items():
            part = (f"{name} {statistics.median(values):6.2f} [{min(values):.2f}–{max(values):.2f}]")
            if name in seconds:
                part += f" ({statistics.median(seconds[name]):.0f} CPU s/seed)"
            parts.append(part)
        print(f"{trace_stem(trace):14s} " + "  ".join(parts)
              + f" over {len(parse_seeds(args.seeds))} seeds", flush=True)
    if args.json:
        args.json.write_text(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
