"""The node filter list: each filter's code and mask on a tiny cluster, and the list's readers."""

from __future__ import annotations

import pytest

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.filters import FILTERS, fits, static_fit
from scheduler.core.model import (
    GPU,
    GpuGrant,
    Job,
    JobStatus,
    Node,
    ReplicaPlacement,
    ReplicaRequest,
    Snapshot,
)
from scheduler.core.state import ClusterState
from scheduler.core.whatif import Releases, rows_after_release


def tiny_cluster() -> ClusterState:
    """Four nodes: a busy A100 node, an idle T4 node, a cordoned A100 node and a CPU-only node."""
    a100 = tuple(GPU(i, "A100", 40_000) for i in range(2))
    t4 = tuple(GPU(i, "T4", 16_000) for i in range(2))
    state = ClusterState([
        Node("busy", 8_000, 32_000, a100, max_pods=3),
        Node("idle", 8_000, 32_000, t4, max_pods=2),
        Node("cordoned", 8_000, 32_000, a100, cordoned=True),
        Node("cpu", 16_000, 64_000, (), ready=False),
    ])
    # busy: a whole-GPU replica (4,000m, 20,000 MiB, GPU 0) and a 0.6 share (2,000m, 10,000 MiB,
    # GPU 1) → free: 2,000m CPU, 2,000 MiB, 3 - 2 = 1 pod slot, 0 whole GPUs, 400 of GPU 1.
    for request, grant in HELD:
        state.take(0, request, (grant,))
    return state


HELD = [(ReplicaRequest(4_000, 20_000, 1_000), GpuGrant(0, 1000)),
        (ReplicaRequest(2_000, 10_000, 600), GpuGrant(1, 600))]


def test_the_codes_are_the_explanations_in_the_order_a_node_is_checked() -> None:
    assert [f.code for f in FILTERS] == [
        "node-not-ready", "node-cordoned", "gpu-model", "cpu", "memory", "pods", "gpus", "gpu-share",
    ]
    assert [f.code for f in FILTERS if f.static] == ["node-not-ready", "node-cordoned", "gpu-model"]


CASES = [
    # (filter code, request, pass per node [busy, idle, cordoned, cpu]; None = does not apply)
    ("node-not-ready", ReplicaRequest(), [True, True, True, False]),  # only "cpu" is not ready
    ("node-cordoned", ReplicaRequest(), [True, True, False, True]),
    # any model, CPU only: every node may hold it → the filter does not apply
    ("gpu-model", ReplicaRequest(1_000), None),
    # a GPU, any model: the CPU-only node has none
    ("gpu-model", ReplicaRequest(gpu_milli=500), [True, True, True, False]),
    ("gpu-model", ReplicaRequest(gpu_milli=500, gpu_models=frozenset({"T4"})), [False, True, False, False]),
    # busy has 8,000 - 4,000 - 2,000 = 2,000m free: 2,000 fits, 2,001 does not
    ("cpu", ReplicaRequest(2_000), [True, True, True, True]),
    ("cpu", ReplicaRequest(2_001), [False, True, True, True]),
    # busy has 32,000 - 20,000 - 10,000 = 2,000 MiB free; no memory asked → the filter does not apply
    ("memory", ReplicaRequest(memory_mib=2_001), [False, True, True, True]),
    ("memory", ReplicaRequest(), None),
    # busy: 3 slots - 2 used = 1 free, so it still passes
    ("pods", ReplicaRequest(), [True, True, True, True]),
    # whole GPUs: busy 0 free, idle 2, cordoned 2, cpu 0 → one GPU fits on idle and cordoned
    ("gpus", ReplicaRequest(gpu_milli=1_000), [False, True, True, False]),
    ("gpus", ReplicaRequest(gpu_milli=3_000), [False, False, False, False]),  # 3 > 2 GPUs
    ("gpus", ReplicaRequest(gpu_milli=500), None),  # a share, not whole GPUs
    # a share: busy's best GPU has 1000 - 600 = 400 free → 0.4 fits, 0.5 does not
    ("gpu-share", ReplicaRequest(gpu_milli=400), [True, True, True, False]),
    ("gpu-share", ReplicaRequest(gpu_milli=500), [False, True, True, False]),
    # 16,000 MiB of GPU memory: ceil(16,000 / 40,000 × 1000) = 400 of an A100 (busy has 400),
    # ceil(16,000 / 16,000 × 1000) = 1000 of a T4 (idle has 1000); the CPU node has no GPU memory
    ("gpu-share", ReplicaRequest(gpu_memory_mib=16_000), [True, True, True, False]),
    # 16,001 MiB: ceil(400.025) = 401 of an A100 (busy has 400), 1001 of a T4 (more than one GPU)
    ("gpu-share", ReplicaRequest(gpu_memory_mib=16_001), [False, False, True, False]),
    ("gpu-share", ReplicaRequest(gpu_milli=2_000), None),  # whole GPUs are the "gpus" filter's
]


@pytest.mark.parametrize(("code", "request_", "expected"), CASES)
def test_each_filter_masks_the_nodes_it_names(
    code: str, request_: ReplicaRequest, expected: list[bool] | None
) -> None:
    (node_filter,) = [f for f in FILTERS if f.code == code]
    mask = node_filter.mask(tiny_cluster(), request_)
    assert (None if mask is None else mask.tolist()) == expected


def test_a_node_fits_when_it_passes_every_filter() -> None:
    state = tiny_cluster()
    # 0.4 GPU with 1,000m CPU: busy (400 free) and idle pass; cordoned and the not-ready CPU node do not
    assert fits(state, ReplicaRequest(1_000, 1_000, 400)).tolist() == [True, True, False, False]
    # static part alone: readiness, cordon and GPU model (busy and idle have GPUs)
    assert static_fit(state, ReplicaRequest(gpu_milli=400)).tolist() == [True, True, False, False]


def test_what_if_rows_pass_the_same_filters_once_victims_are_gone() -> None:
    state = tiny_cluster()
    # busy once nothing, then a victim with both replicas, is gone: row 0 is busy after an empty
    # group, row 1 after both replicas: 2,000 + 4,000 + 2,000 = 8,000m CPU, both GPUs whole again.
    releases = Releases()
    releases.start(0)
    both = releases.start(0)
    for request, grant in HELD:
        releases.give_back(both, request, (grant,))
    rows = rows_after_release(state, releases)
    assert rows.node.tolist() == [0, 0] and rows.step.tolist() == [0, 1]
    assert rows.cpu_free_arr.tolist() == [2_000, 8_000]
    assert rows.whole_free.tolist() == [0, 2]
    assert fits(rows, ReplicaRequest(4_000, 1_000, 2_000)).tolist() == [False, True]


def test_an_unhealthy_gpu_frees_nothing_in_a_what_if_row() -> None:
    gpus = (GPU(0, "A100", 40_000, healthy=False), GPU(1, "A100", 40_000))
    state = ClusterState([Node("n", 8_000, 32_000, gpus)])
    request = ReplicaRequest(1_000, 1_000, 2_000)
    state.take(0, request, (GpuGrant(0, 1000), GpuGrant(1, 1000)))
    releases = Releases()
    releases.give_back(releases.start(0), request, (GpuGrant(0, 1000), GpuGrant(1, 1000)))
    rows = rows_after_release(state, releases)
    # GPU 0 is unhealthy: 0 free before and, as far as new work goes, after → 1 whole GPU free
    assert rows.whole_free.tolist() == [1]
    assert fits(rows, request).tolist() == [False]


def test_the_explanation_charges_each_node_to_its_first_failing_filter() -> None:
    a100 = tuple(GPU(i, "A100", 40_000) for i in range(2))
    t4 = tuple(GPU(i, "T4", 16_000) for i in range(2))
    nodes = (Node("busy", 8_000, 32_000, a100), Node("t4", 16_000, 32_000, t4),
             Node("cordoned", 8_000, 32_000, t4, cordoned=True), Node("cpu", 16_000, 64_000, (), ready=False))
    # a CPU-only job runs on t4 with 8,000m: 16,000 - 8,000 = 8,000m left there
    cpu_job = Job("r", "q", ReplicaRequest(8_000), status=JobStatus.RUNNING,
                  placements=(ReplicaPlacement(0, "t4"),))
    job = Job("j", "q", ReplicaRequest(9_000, 1_000, 500, gpu_models=frozenset({"T4"})))
    result = run_cycle(Snapshot(nodes, (cpu_job, job)), CycleConfig(), now=0.0)
    reason = result.reasons["j"]
    # cpu: not ready; cordoned: cordoned; busy: an A100, not a T4; t4: 9,000 > 8,000m CPU free
    assert reason.node_failures == {"node-not-ready": 1, "node-cordoned": 1, "gpu-model": 1, "cpu": 1}
    # the cpu filter ruled out the last node: the near miss is t4, with 8,000m free
    assert [item.code for item in reason.items] == ["cpu"]
    assert reason.items[0].data == {"needed": 9_000, "best_free": 8_000}
