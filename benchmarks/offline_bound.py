"""Offline upper bound on GPU allocation % for the pods of one seed at 130% arrived (HiGHS).

    python benchmarks/offline_bound.py --traces default,cpu200 --seeds 42-44 [--integer] [--json F]

An all-knowing packer may choose ANY subset of the seed's inflated pod list (no order, no "place
what fits"). Pods are grouped into types (CPU, memory, GPU share, GPU count, allowed models) and
nodes into classes (model, CPU, memory, GPUs); x[t, c] is how many pods of type t go to class c.
Maximise the GPU thousandths placed subject to, per class, the summed CPU, memory, GPU thousandths
and "big" GPU slots (a pod taking more than half a GPU, or a whole one, needs a GPU of its own:
at most one such item per GPU), per type the number of pods, and a pod only on a class whose single
node could hold it. Every real packing satisfies these, so the optimum is an upper bound; it is
loose where per-node packing bites (CPU and GPU slivers split across nodes are pooled here).
`--integer` makes x integral (a tighter bound, still a relaxation of the per-node problem).

For scale it also prints a FEASIBLE offline packing (not a bound): the same pods sorted largest
GPU request first (then CPU), each placed by a policy (`--packer`, default bestfit) if it fits.
The truth for an all-knowing packer lies between the two numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

import highspy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.policy_table import NODES, parse_seeds, trace_path, trace_stem  # noqa: E402
from scheduler.core.actions.allocate import try_allocate  # noqa: E402
from scheduler.core.config import CycleConfig  # noqa: E402
from scheduler.core.model import MILLI_PER_GPU, Job, Node, Snapshot  # noqa: E402
from scheduler.core.plugins.placement import PlacementContext  # noqa: E402
from scheduler.core.plugins.placement.typical import typical_shapes  # noqa: E402
from scheduler.core.session import Session  # noqa: E402
from scheduler.sim.protocol import build_workload  # noqa: E402
from scheduler.sim.trace import TracePod, read_nodes, read_pods  # noqa: E402

PodType = tuple[int, int, int, int, frozenset[str]]  # cpu, memory, per-GPU milli, GPUs, models
NodeClass = tuple[str, int, int, int]  # model, cpu, memory, GPUs


def pod_type(pod: TracePod) -> PodType:
    r = pod.request
    if r.whole_gpus:
        return (r.cpu_millis, r.memory_mib, MILLI_PER_GPU, r.whole_gpus, r.gpu_models)
    return (r.cpu_millis, r.memory_mib, r.gpu_milli, 1 if r.gpu_milli else 0, r.gpu_models)


def node_class(node: Node) -> NodeClass:
    return (node.gpu_model, node.cpu_millis, node.memory_mib, len(node.gpus))


def bound(nodes: list[Node], pods: tuple[TracePod, ...], *, integer: bool) -> float:
    """The best GPU allocation % any packing of a subset of `pods` onto `nodes` could reach."""
    types = Counter(pod_type(pod) for pod in pods)
    classes = Counter(node_class(node) for node in nodes)
    total_milli = sum(len(node.gpus) for node in nodes) * MILLI_PER_GPU
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    columns: dict[tuple[PodType, NodeClass], int] = {}
    for t, available in types.items():
        cpu, memory, milli, count, models = t
        for c in classes:
            model, node_cpu, node_memory, gpus = c
            if cpu > node_cpu or memory > node_memory or count > gpus:
                continue
            if count and models and model not in models:
                continue
            columns[(t, c)] = h.getNumCol()
            h.addVar(0.0, float(available))
            h.changeColCost(columns[(t, c)], float(milli * count))
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
        row(float(many * node_cpu), [(i, float(t[0])) for t, i in mine])
        row(float(many * node_memory), [(i, float(t[1])) for t, i in mine])
        row(float(many * gpus * MILLI_PER_GPU), [(i, float(t[2] * t[3])) for t, i in mine])
        row(float(many * gpus), [(i, float(t[3]) if t[2] > MILLI_PER_GPU // 2 else 0.0)
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
                      placement_context=context)
    statement = session.statement()
    for number, pod in enumerate(ordered):
        job = Job(id=str(number), queue="offline", request=pod.request, created_at=float(number))
        try_allocate(session, statement, job)
    total = sum(len(node.gpus) for node in nodes) * MILLI_PER_GPU
    return 100.0 * session.state.gpu_used / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", default="default")
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--integer", action="store_true")
    parser.add_argument("--packer", default="bestfit", help="policy of the feasible offline packing")
    parser.add_argument("--json", type=Path, help="write {trace: median bound} here")
    args = parser.parse_args()
    nodes = read_nodes(NODES)
    medians: dict[str, float] = {}
    for trace in args.traces.split(","):
        pods = read_pods(trace_path(trace))
        values, packed = [], []
        for seed in parse_seeds(args.seeds):
            workload = build_workload(nodes, pods, seed=seed, arrive=1.3)
            values.append(bound(nodes, workload.pods, integer=args.integer))
            packed.append(offline_greedy(workload.nodes, workload.pods, policy=args.packer))
        medians[trace_stem(trace)] = round(statistics.median(values), 2)
        print(f"{trace_stem(trace):14s} bound {statistics.median(values):6.2f} "
              f"[{min(values):.2f}–{max(values):.2f}]  offline {args.packer} (feasible) "
              f"{statistics.median(packed):6.2f} [{min(packed):.2f}–{max(packed):.2f}] "
              f"over {len(values)} seeds", flush=True)
    if args.json:
        args.json.write_text(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
