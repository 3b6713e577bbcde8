"""An upper bound on what ANY rule-obeying placement can allocate, for one seed's pods (HiGHS MIP).

The rules of the game (scheduler/sim/replay.py): pods arrive in a fixed order, none leaves, each
pod is tried once, and a pod that fits on some node at its arrival must be placed (anywhere it
fits). A policy only chooses WHERE. Free capacity therefore only shrinks, which gives:

1. The state after the first j arrivals, S_j, grows with j (pods placed stay where they are).
2. A pod rejected at arrival j does not fit S_j, so it does not fit any later state S_j' either.

Cut the arrival order into epochs (checkpoints b_1 < ... < b_K = last pod). For the pod types we
"force" (the common ones), a binary o[t,k] says "type t fits nowhere in the state at the end of
epoch k". Then (valid for every rule-obeying run):

* o[t,k] = 0  =>  every type-t pod of epochs 1..k was placed (a rejection at j inside epoch k
  means t does not fit S_j, hence not the larger S_{b_k});
* o[t,k] = 1  =>  every node where t could fit when empty is BLOCKED for t at b_k, for one of
  four reasons: CPU used > capacity - t's CPU, memory likewise, too many pods, or its GPUs.
  GPU-blocked for a share s means every GPU of the node has more than 1000 - s used; for a pod of
  g whole GPUs, fewer than g GPUs are untouched.

The state at every checkpoint is aggregated per node class (identical nodes): X[u,c,k] = pods of
type u on class-c nodes at checkpoint k (non-decreasing in k, at most the arrivals). Blocked nodes
are counted with pooled resources of the class, which is a relaxation (never cuts off a real run):
n_cpu nodes blocked by CPU need n_cpu × (cap - cpu_t + 1) CPU used on the class, n_gpu nodes
blocked by GPUs need n_gpu × G "covered" GPUs, where a GPU with at least L = 1001 - s used has
its pods' weights min(1, share/L) summing to at least 1 (a whole-GPU pod covers its g GPUs).

At the last checkpoint the class must hold what it holds (CPU, memory, GPU), with the sharing
structure that makes pods like 810 thousandths expensive: a share above 500 needs a GPU of its
own, and next to a share s only pods of at most 1000 - s fit, so its GPU idles unless such small
pods fill it. The objective is the GPU thousandths placed at the end. The metric (mean allocation
over the events of the 130% bucket) never exceeds the final allocation, so the MIP's proven dual
bound (after any time limit) is an upper bound on every rule-obeying run's alloc at 130%.

What it is not: the true optimum of the game. Per-node details are pooled within a class, only
the commonest types are forced, and a rejection is pinned to the end of its epoch.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

from scheduler.core.model import MILLI_PER_GPU, Node
from scheduler.sim.trace import TracePod


@dataclass(frozen=True, slots=True, order=True)
class PodType:
    """What decides where a pod fits: CPU, memory, GPU share (1000 = whole), GPU count, models."""

    cpu: int
    memory: int
    share: int  # thousandths of each GPU; 0 for a CPU-only pod, 1000 for whole GPUs
    gpus: int  # GPUs touched: 0 CPU-only, 1 sharing, g whole
    models: frozenset[str]

    @property
    def milli(self) -> int:
        return self.share * self.gpus

    @property
    def whole(self) -> bool:
        return self.share == MILLI_PER_GPU

    @property
    def sharing(self) -> bool:
        return 0 < self.share < MILLI_PER_GPU


def pod_type(pod: TracePod) -> PodType:
    r = pod.request
    if r.whole_gpus:
        return PodType(r.cpu_millis, r.memory_mib, MILLI_PER_GPU, r.whole_gpus, r.gpu_models)
    return PodType(r.cpu_millis, r.memory_mib, r.gpu_milli, 1 if r.gpu_milli else 0, r.gpu_models)


@dataclass(frozen=True, slots=True)
class NodeClass:
    model: str
    cpu: int
    memory: int
    gpus: int
    max_pods: int
    count: int = field(compare=False)


def class_key(node: Node) -> tuple[str, int, int, int, int]:
    """What makes nodes identical for the bounds: model, CPU, memory, GPUs, pod slots."""
    return (node.gpu_model, node.cpu_millis, node.memory_mib, len(node.gpus), node.max_pods)


def node_classes(nodes: Sequence[Node]) -> list[NodeClass]:
    for node in nodes:
        if not node.ready or node.cordoned or any(not gpu.healthy for gpu in node.gpus):
            raise ValueError(f"node {node.name}: the bound assumes ready nodes with healthy GPUs")
    counts = Counter(class_key(n) for n in nodes)
    return [NodeClass(*key, count=many) for key, many in sorted(counts.items())]


def fits_empty(t: PodType, c: NodeClass) -> bool:
    """Whether one pod of type t fits an empty node of class c (the core's filters)."""
    if t.cpu > c.cpu or t.memory > c.memory or c.max_pods < 1:
        return False
    if t.models and c.model not in t.models:
        return False
    return t.gpus <= c.gpus


def dominates(a: PodType, b: PodType) -> bool:
    """True when a fits wherever it fits ⇒ b fits there too; so 'b fits nowhere' ⇒ 'a fits nowhere'."""
    if a.cpu < b.cpu or a.memory < b.memory:
        return False
    if b.models and not (a.models and a.models <= b.models):
        return False
    if b.gpus == 0:
        return True
    if a.whole and b.whole:
        return a.gpus >= b.gpus
    if a.whole:
        return True  # g ≥ 1 wholly free GPUs include a GPU with room for any share
    return not b.whole and a.share >= b.share


def _band(amount: int) -> int:
    """Merge pods whose CPU (or memory) is within about 25% of each other."""
    return 0 if amount <= 0 else int(math.log(amount) / math.log(1.25))


class _Model:
    """Columns and rows collected in Python, handed to HiGHS in one piece."""

    def __init__(self) -> None:
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.cost: list[float] = []
        self.integer: list[int] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []
        self.starts: list[int] = []
        self.index: list[int] = []
        self.value: list[float] = []
        self.verbose = False

    def var(self, upper: float = highspy.kHighsInf, cost: float = 0.0, integer: bool = False) -> int:
        self.lower.append(0.0)
        self.upper.append(upper)
        self.cost.append(cost)
        if integer:
            self.integer.append(len(self.lower) - 1)
        return len(self.lower) - 1

    def row(self, entries: dict[int, float] | list[tuple[int, float]], lower: float = -highspy.kHighsInf,
            upper: float = highspy.kHighsInf) -> None:
        items = entries.items() if isinstance(entries, dict) else entries
        merged: dict[int, float] = {}
        for i, v in items:
            merged[i] = merged.get(i, 0.0) + v
        self.starts.append(len(self.index))
        for i, v in merged.items():
            if v:
                self.index.append(i)
                self.value.append(v)
        self.row_lower.append(lower)
        self.row_upper.append(upper)

    def violated(self, point: Sequence[float], tolerance: float = 1e-6) -> list[int]:
        """Rows (and column bounds, as -1 - column) that `point` breaks: a test's feasibility check."""
        bad = [-1 - i for i, v in enumerate(point)
               if v < self.lower[i] - tolerance or v > self.upper[i] + tolerance]
        ends = [*self.starts[1:], len(self.index)]
        for r, (first, end) in enumerate(zip(self.starts, ends, strict=True)):
            total = sum(self.value[e] * point[self.index[e]] for e in range(first, end))
            if total < self.row_lower[r] - tolerance or total > self.row_upper[r] + tolerance:
                bad.append(r)
        return bad

    def solve(self, *, time_limit: float, integer: bool) -> tuple[float, str]:
        lp = highspy.HighsLp()
        lp.num_col_ = len(self.lower)
        lp.num_row_ = len(self.row_lower)
        lp.col_cost_ = np.array(self.cost)
        lp.col_lower_ = np.array(self.lower)
        lp.col_upper_ = np.array(self.upper)
        lp.row_lower_ = np.array(self.row_lower)
        lp.row_upper_ = np.array(self.row_upper)
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = lp.num_col_
        lp.a_matrix_.num_row_ = lp.num_row_
        lp.a_matrix_.start_ = np.array([*self.starts, len(self.index)], dtype=np.int32)
        lp.a_matrix_.index_ = np.array(self.index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(self.value)
        if integer and self.integer:
            kinds = [highspy.HighsVarType.kContinuous] * lp.num_col_
            for i in self.integer:
                kinds[i] = highspy.HighsVarType.kInteger
            lp.integrality_ = kinds
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit))
        # No "threads" option: HiGHS's scheduler is global, and a second value in the same
        # process (the free-choice LP ran first) makes run() fail with status "Not Set".
        h.passModel(lp)
        if not (integer and self.integer):
            # The interior-point solver: 5-10 s on every trace, where dual simplex sometimes
            # wandered past 300 s (gpushare60).
            h.setOptionValue("solver", "ipm")
        if self.verbose:
            print(f"model: {lp.num_col_} columns, {lp.num_row_} rows, {len(self.index)} nonzeros, "
                  f"{len(self.integer)} binaries", flush=True)
            h.setOptionValue("output_flag", True)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        if integer and self.integer:
            value = info.mip_dual_bound
            if not np.isfinite(value):
                raise RuntimeError(f"HiGHS gave no dual bound ({status})")
        else:
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                raise RuntimeError(f"HiGHS did not solve the LP: {status}")
            value = info.objective_function_value
        self.solution = list(h.getSolution().col_value) if h.getSolution().value_valid else []
        return float(value), status


def class_rows(m: _Model, c: NodeClass, held: Sequence[tuple[PodType, int]]) -> None:
    """What the nodes of class c hold at the end, pooled (`held`: each type with the column of its
    pods there): CPU, memory and pod slots, and per node at most floor(G/g) pods of ≥ g GPUs."""
    # (CPU and memory as shares of one node: HiGHS likes numbers near 1)
    m.row([(col, t.cpu / c.cpu) for t, col in held], upper=float(c.count))
    m.row([(col, t.memory / c.memory) for t, col in held], upper=float(c.count))
    m.row([(col, 1.0) for _, col in held], upper=float(c.count * c.max_pods))
    for g in sorted({t.gpus for t, _ in held if t.whole and t.gpus > 1}):
        m.row([(col, 1.0) for t, col in held if t.whole and t.gpus >= g],
              upper=float(c.count * (c.gpus // g)))


@dataclass(frozen=True, slots=True)
class BoundResult:
    percent: float  # upper bound on GPU allocation % at the end (and so at 130% arrived)
    status: str
    seconds: float
    epochs: int
    forced: int


def epoch_ends(count: int, epochs: int, start: float = 0.0) -> list[int]:
    """Checkpoints (prefix lengths): the first after a `start` share of the pods, the others
    evenly spaced from there to the last pod (start 0: evenly spaced from the first)."""
    if epochs < 1 or not 0.0 <= start < 1.0:
        raise ValueError("need at least one epoch and 0 <= start < 1")
    if start > 0.0:
        spots = [start] + [start + (1.0 - start) * k / (epochs - 1) for k in range(1, epochs)]
    else:
        spots = [k / epochs for k in range(1, epochs + 1)]
    ends = sorted({max(1, round(count * f)) for f in spots})
    if ends[-1] != count:
        ends.append(count)
    return ends


def rule_bound(
    nodes: Sequence[Node],
    pods: Sequence[TracePod],
    *,
    epochs: int = 8,
    start: float = 0.0,
    forced: int = 20,
    time_limit: float = 300.0,
    integer: bool = False,
    verbose: bool = False,
) -> BoundResult:
    """Upper bound (GPU alloc %) on the end state of every rule-obeying run over `pods` in order."""
    started = time.process_time()
    classes = node_classes(nodes)
    total_milli = sum(c.count * c.gpus for c in classes) * MILLI_PER_GPU
    if total_milli == 0:
        raise ValueError("the cluster has no GPU")
    kinds = [pod_type(p) for p in pods]
    counts = Counter(kinds)
    # The commonest types are kept exact and forced; the others are merged per GPU request,
    # with the smallest CPU and memory of the group where that is generous to the packer (what
    # fits, what a placed pod uses) and the largest where that is (what a pod blocks).
    exact = [t for t, _ in counts.most_common()
             if any(fits_empty(t, c) for c in classes)][:forced]
    members: dict[object, list[PodType]] = {}
    for t in counts:
        key: object = t if t in exact else (t.share, t.gpus, t.models, _band(t.cpu), _band(t.memory))
        members.setdefault(key, []).append(t)
    keys = sorted(members, key=lambda key: min(members[key]))
    types = [PodType(min(t.cpu for t in members[key]), min(t.memory for t in members[key]),
                     members[key][0].share, members[key][0].gpus, members[key][0].models)
             for key in keys]
    high = [PodType(max(t.cpu for t in members[key]), max(t.memory for t in members[key]),
                    members[key][0].share, members[key][0].gpus, members[key][0].models)
            for key in keys]
    tid = {t: i for i, key in enumerate(keys) for t in members[key]}
    ends = epoch_ends(len(kinds), epochs, start)
    K = len(ends)
    # arrivals[i][k]: pods of group i that arrive in epoch k
    arrivals = [[0] * K for _ in types]
    k = 0
    for j, t in enumerate(kinds):
        while j >= ends[k]:
            k += 1
        arrivals[tid[t]][k] += 1
    homes = {i: [ci for ci, c in enumerate(classes) if fits_empty(t, c)] for i, t in enumerate(types)}
    forced_ids = [tid[t] for t in exact]

    def beta(u: PodType, t: PodType, c: NodeClass) -> float:
        """How much of 'one node of class c blocked for t' one pod of type u can make."""
        parts = [1.0 / c.max_pods]
        if t.cpu > 0:
            parts.append(u.cpu / (c.cpu - t.cpu + 1))
        if t.memory > 0:
            parts.append(u.memory / (c.memory - t.memory + 1))
        if t.gpus and u.gpus:
            if t.whole:  # fewer than t.gpus untouched GPUs: c.gpus - t.gpus + 1 touched
                parts.append(u.gpus / (c.gpus - t.gpus + 1))
            else:  # every GPU has more than 1000 - share used
                level = MILLI_PER_GPU + 1 - t.share
                covered = u.gpus if u.whole else min(1.0, u.share / level)
                parts.append(covered / c.gpus)
        return min(1.0, max(parts))

    m = _Model()
    m.verbose = verbose
    X: dict[tuple[int, int, int], int] = {}
    for i, t in enumerate(types):
        for ci in homes[i]:
            for k in range(K):
                X[i, ci, k] = m.var(cost=t.milli / MILLI_PER_GPU if k == K - 1 else 0.0)
    # The state only grows; per epoch no more pods than arrived in it.
    for (i, ci, k), col in X.items():
        if k:
            m.row([(col, 1.0), (X[i, ci, k - 1], -1.0)], lower=0.0)
    placed_in: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for i in range(len(types)):
        for k in range(K):
            entries = [(X[i, ci, k], 1.0) for ci in homes[i]]
            if k:
                entries += [(X[i, ci, k - 1], -1.0) for ci in homes[i]]
            placed_in[i, k] = entries
            if entries:
                m.row(entries, upper=float(arrivals[i][k]))

    o: dict[tuple[int, int], int] = {}
    for i in forced_ids:
        t = types[i]
        for k in range(K):
            o[i, k] = m.var(upper=1.0, integer=True)
            if k:
                m.row([(o[i, k], 1.0), (o[i, k - 1], -1.0)], lower=0.0)  # no-fit persists
            if arrivals[i][k]:
                # placed in epoch k + arrivals × o ≥ arrivals: all placed unless t fits nowhere
                m.row([*placed_in[i, k], (o[i, k], float(arrivals[i][k]))],
                      lower=float(arrivals[i][k]))
            for ci, c in enumerate(classes):
                if ci not in homes[i]:
                    continue
                # Every node of the class is blocked: the pods on it reach 1 in some reason.
                entries = [(X[u, ci, k], beta(high[u], t, c)) for u in range(len(types))
                           if (u, ci, k) in X]
                m.row([*entries, (o[i, k], -float(c.count))], lower=0.0)
    # 'b fits nowhere' ⇒ 'a fits nowhere' when a needs at least what b needs.
    for a in forced_ids:
        for b in forced_ids:
            if a != b and dominates(types[a], types[b]):
                for k in range(K):
                    m.row([(o[a, k], 1.0), (o[b, k], -1.0)], lower=0.0)
    # Once f fits nowhere (end of epoch k-1) no pod that needs at least what f needs is placed
    # later: nothing frees capacity. For each type, the forced types it dominates; only the
    # maximal ones (a forced type that another listed one dominates has the smaller o).
    for u in range(len(types)):
        under = [f for f in forced_ids if dominates(types[u], types[f])]
        under = [f for f in under
                 if not any(g != f and dominates(types[g], types[f]) for g in under)]
        for f in under:
            for k in range(1, K):
                if arrivals[u][k] and placed_in[u, k]:
                    m.row([*placed_in[u, k], (o[f, k - 1], float(arrivals[u][k]))],
                          upper=float(arrivals[u][k]))

    # The end state fits each class.
    last = K - 1
    for ci, c in enumerate(classes):
        here = [i for i in range(len(types)) if (i, ci, last) in X]
        class_rows(m, c, [(types[i], X[i, ci, last]) for i in here])
        if not c.gpus:
            continue
        big = [i for i in here if types[i].sharing and 2 * types[i].share > MILLI_PER_GPU]
        small = [i for i in here if types[i].sharing and 2 * types[i].share <= MILLI_PER_GPU]
        gpu_row: list[tuple[int, float]] = [(X[i, ci, last], float(types[i].gpus))
                                            for i in here if types[i].whole]
        gpu_row += [(X[i, ci, last], 1.0) for i in big]
        gpu_row += [(X[i, ci, last], types[i].share / MILLI_PER_GPU) for i in small]
        beside: dict[int, list[tuple[int, float]]] = {i: [] for i in small}
        for share in sorted({types[i].share for i in big}):
            room = MILLI_PER_GPU - share
            fill: list[tuple[int, float]] = []
            for i in small:
                if types[i].share <= room:
                    z = m.var()
                    fill.append((z, float(types[i].share)))
                    beside[i].append((z, 1.0))
                    gpu_row.append((z, -types[i].share / MILLI_PER_GPU))
            if fill:
                m.row([*fill, *[(X[i, ci, last], -float(room)) for i in big
                                 if types[i].share == share]], upper=0.0)
        for i in small:
            if beside[i]:
                m.row([*beside[i], (X[i, ci, last], -1.0)], upper=0.0)
        m.row(gpu_row, upper=float(c.count * c.gpus))

    value, status = m.solve(time_limit=time_limit, integer=integer)
    if verbose and m.solution:
        sol = m.solution
        for i, t in enumerate(types):
            got = [sum(sol[X[i, ci, k]] for ci in homes[i]) for k in range(K)]
            arr = np.cumsum(arrivals[i])
            if sum(arrivals[i]) >= 20:
                flags = "".join(str(round(sol[o[i, k]])) for k in range(K)) if (i, 0) in o else "-"
                steps = " ".join(f"{g:.0f}/{a}" for g, a in zip(got, arr, strict=True))
                print(f"{t.share:5d}x{t.gpus} cpu {t.cpu:6d} mem {t.memory:7d} "
                      f"placed/arrived {steps} o {flags}")
    return BoundResult(
        percent=100.0 * value * MILLI_PER_GPU / total_milli,
        status=status,
        seconds=time.process_time() - started,
        epochs=K,
        forced=len(forced_ids),
    )
