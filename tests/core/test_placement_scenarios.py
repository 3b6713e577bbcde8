"""Placement scenarios for every policy, with the arithmetic of each expectation in comments."""

from __future__ import annotations

import pytest

from scheduler.core.model import ReplicaRequest
from scheduler.core.plugins.placement import POLICIES
from scheduler.core.plugins.placement.base import PlacementContext, TypicalShape
from scheduler.core.plugins.placement.fgd import FgdScorer
from scheduler.core.plugins.placement.paper import score_bestfit, score_gpu_packing
from scheduler.core.state import ClusterState
from tests.core.scenario import cycle, job, node, placed


def test_two_halves_share_one_gpu_under_binpack() -> None:
    result = cycle([node("a"), node("b")], [job("j1", gpus=0.5), job("j2", gpus=0.5)])
    # binpack: after j1, GPU 0 of node a has 500 left; j2 fits exactly there → both on a/0.
    assert placed(result) == {"j1": [("a", ((0, 500),))], "j2": [("a", ((0, 500),))]}


def test_sharing_replica_takes_the_tightest_gpu() -> None:
    # j1 0.7 → a/0 (300 left); j2 0.4 cannot fit a/0 → a/1 (600 left); j3 0.3 → a/0 (300 fits, tighter).
    result = cycle([node("a", gpus=2)], [job("j1", gpus=0.7), job("j2", gpus=0.4), job("j3", gpus=0.3)])
    assert placed(result)["j3"] == [("a", ((0, 300),))]


def test_multi_gpu_replica_takes_wholly_free_gpus() -> None:
    # j1 0.5 on a/0; j2 asks for 2 whole GPUs: a/0 is partly used → a/1 and a/2.
    result = cycle([node("a", gpus=4)], [job("j1", gpus=0.5), job("j2", gpus=2)])
    assert placed(result)["j2"] == [("a", ((1, 1000), (2, 1000)))]


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_gpu_model_constraint_is_respected_by_every_policy(policy: str) -> None:
    nodes = [node("t4", model="T4"), node("v100", model="V100M32")]
    result = cycle(nodes, [job(f"j{i}", gpus=1, models=["V100M32"]) for i in range(3)], policy)
    assert {p[0] for reps in placed(result).values() for p in reps} == {"v100"}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_gang_is_placed_whole_or_not_at_all(policy: str) -> None:
    # Two nodes of 4 GPUs: a gang of 3 × 2 GPUs needs 6 of the 8 → fits; a second one cannot.
    nodes = [node("a", gpus=4), node("b", gpus=4)]
    result = cycle(nodes, [job("g1", gpus=2, replicas=3), job("g2", gpus=2, replicas=3)], policy)
    binds = placed(result)
    assert len(binds["g1"]) == 3
    assert "g2" not in binds
    assert result.reasons["g2"].items[0].message == "gang needs 3 replicas, 1 fit"


def test_bestfit_score_arithmetic() -> None:
    state = ClusterState([node("a", gpus=8, cpu=96_000)])
    request = ReplicaRequest(cpu_millis=32_000, memory_mib=0, gpu_milli=1000)
    # left = ½·(96000−32000)/128000 + ½·(8000−1000)/8000 = 0.25 + 0.4375 = 0.6875 → int(31.25) = 31
    assert score_bestfit(state, 0, request)[0] == 31


def test_gpu_packing_bands() -> None:
    state = ClusterState([node("a", gpus=4)])
    half = ReplicaRequest(1000, 0, 500)
    # empty node: max(100/3 − 4 free, 4) = 29
    assert score_gpu_packing(state, 0, half)[0] == 29
    state.take(0, half, score_gpu_packing(state, 0, half)[1])
    # GPU 0 has 500 left: 100 − (500·100/1000)/10 = 95 → shared GPU band
    assert score_gpu_packing(state, 0, half)[0] == 95
    # a whole GPU on a used node takes 1 fresh GPU: 100/2 − 1 = 49
    assert score_gpu_packing(state, 0, ReplicaRequest(1000, 0, 1000))[0] == 49


def test_fgd_prefers_the_gpu_that_leaves_a_usable_share() -> None:
    # One typical shape: half a GPU. GPU 0 has 500 free, GPU 1 has 1000 free.
    # Putting 0.5 on GPU 0 leaves no fragment; on GPU 1 leaves 500 that fits the shape → also 0,
    # but the node-level fragmentation before is 0 as well, so both Δ=0 → score int(0.5·100)=50,
    # and the first GPU reaching it (GPU 0) wins.
    shapes = (TypicalShape(1000, 500, 1, frozenset(), 1.0),)
    scorer = FgdScorer(PlacementContext(typical_shapes=shapes))
    state = ClusterState([node("a", gpus=2)])
    half = ReplicaRequest(1000, 0, 500)
    state.take(0, half, scorer(state, 0, half)[1])
    score, grants = scorer(state, 0, ReplicaRequest(1000, 0, 300))
    # 0.3 on GPU 0 leaves 200 < 500 → fragment 200 → Δ = −200 → int(sigmoid(−0.2)·100) = 45;
    # on GPU 1 leaves 700 ≥ 500 → no fragment → Δ = 0 → 50. GPU 1 wins with 50.
    assert (score, grants[0].gpu_index) == (50, 1)


def test_cpu_only_job_prefers_cpu_only_nodes_under_binpack() -> None:
    result = cycle([node("gpu"), node("cpu", gpus=0)], [job("c", cpu=4000)])
    assert placed(result)["c"] == [("cpu", ())]


def test_gpu_memory_request_becomes_a_share_of_the_chosen_gpu() -> None:
    # 20 GiB of an 80 GiB (81920 MiB) GPU: ceil(20480·1000/81920) = 250 thousandths.
    result = cycle([node("a", gpus=1)], [job("m", gpu_memory=20480)])
    assert placed(result)["m"] == [("a", ((0, 250),))]


def test_same_seed_same_decisions_for_random() -> None:
    nodes = [node(f"n{i}", gpus=2) for i in range(10)]
    jobs = [job(f"j{i}", gpus=0.3) for i in range(12)]
    assert cycle(nodes, jobs, "random", seed=7) == cycle(nodes, jobs, "random", seed=7)


def test_a_cluster_without_nodes_explains_itself() -> None:
    result = cycle([], [job("j", gpus=0.5)])
    assert result.decisions == ()
    assert result.reasons["j"].summary.startswith("no node has joined the cluster yet")
