"""The rule bound (benchmarks/rule_bound.py) is never below what a rule-obeying run reaches.

Checked two ways: against the exact optimum of the game on tiny clusters (every choice of every
rule-obeying run enumerated), and against the policies of the core replayed on small clusters.
"""

from __future__ import annotations

import pytest

from benchmarks.offline_bound import free_choice_bound
from benchmarks.rule_bound import PodType, dominates, epoch_ends, pod_type, rule_bound
from scheduler.sim.protocol import build_workload
from scheduler.sim.replay import replay
from tests.sim.games import game_optimum, node, percent, pod, random_case, small_cluster


def test_two_810_pods_take_both_gpus_before_the_whole_ones_arrive() -> None:
    # The rule forces both 810 pods onto the two GPUs; the whole-GPU pods then fit nowhere.
    nodes = [node("a", 8000, 8000, 1), node("b", 8000, 8000, 1)]
    pods = [pod("p1", 1000, 100, 810), pod("p2", 1000, 100, 810),
            pod("w1", 1000, 100, 1000), pod("w2", 1000, 100, 1000)]
    truth = percent(game_optimum(nodes, pods), nodes)
    assert truth == pytest.approx(81.0)
    bound = rule_bound(nodes, pods, epochs=4, forced=3).percent
    assert truth - 1e-6 <= bound < 100.0
    # An all-knowing packer free to drop pods would take the two whole GPUs.
    assert free_choice_bound(nodes, pods, integer=False) == pytest.approx(100.0)
    # With integral switches the bound is exact here.
    assert rule_bound(nodes, pods, epochs=4, forced=3, integer=True).percent == pytest.approx(81.0)


def test_a_pod_that_fits_nowhere_keeps_fitting_nowhere() -> None:
    # The CPU-only pod eats node a's CPU; the whole GPU on a is stranded; b holds one share.
    nodes = [node("a", 4000, 8000, 1), node("b", 4000, 8000, 1)]
    pods = [pod("c", 3500, 100, 0), pod("s", 1000, 100, 500), pod("w", 1000, 100, 1000),
            pod("s2", 1000, 100, 500)]
    truth = percent(game_optimum(nodes, pods), nodes)
    bound = rule_bound(nodes, pods, epochs=4, forced=4).percent
    assert truth - 1e-6 <= bound


@pytest.mark.parametrize("seed", range(40))
def test_bound_is_at_least_the_game_optimum_on_tiny_clusters(seed: int) -> None:
    nodes, pods = random_case(seed)
    truth = percent(game_optimum(nodes, pods), nodes)
    for epochs, forced, integer in ((len(pods), 10, False), (2, 3, False), (len(pods), 10, True)):
        bound = rule_bound(nodes, pods, epochs=epochs, forced=forced, integer=integer)
        assert bound.percent >= truth - 1e-6, (seed, epochs, forced, integer, bound, truth)


def test_the_bound_bites_on_some_tiny_clusters() -> None:
    # Not a vacuous check: on some cases the bound is below what a free chooser could place.
    below = 0
    for seed in range(40):
        nodes, pods = random_case(seed)
        rule = rule_bound(nodes, pods, epochs=len(pods), forced=10).percent
        if rule < free_choice_bound(nodes, pods, integer=False) - 1.0:
            below += 1
    assert below >= 3


def test_bound_is_above_every_policy_on_a_small_cluster() -> None:
    nodes, pods = small_cluster()
    for seed in (42, 43):
        workload = build_workload(nodes, pods, seed=seed, arrive=1.3)
        bound = rule_bound(workload.nodes, workload.pods, epochs=8, forced=20).percent
        assert bound < 100.0
        for policy in ("fgd", "stranding-fgd", "bestfit", "dotprod", "gpu-packing", "random"):
            run = replay(nodes, pods, policy=policy, seed=seed, arrive=1.3)
            value = run.alloc_at["130"]
            assert value is not None and value <= bound + 0.01, (policy, seed, value, bound)


def test_dominance_and_epochs() -> None:
    whole = PodType(4000, 100, 1000, 1, frozenset())
    share = PodType(1000, 100, 810, 1, frozenset())
    assert dominates(whole, share) and not dominates(share, whole)
    assert dominates(PodType(4000, 100, 1000, 1, frozenset({"T4"})),
                     PodType(4000, 100, 1000, 1, frozenset({"T4", "G2"})))
    assert not dominates(PodType(4000, 100, 1000, 1, frozenset()),
                         PodType(4000, 100, 1000, 1, frozenset({"T4"})))
    assert pod_type(pod("x", 1, 2, 2000)) == PodType(1, 2, 1000, 2, frozenset())
    assert epoch_ends(10, 4) == [2, 5, 8, 10]
    assert epoch_ends(100, 3, start=0.5) == [50, 75, 100]
    with pytest.raises(ValueError):
        epoch_ends(10, 0)
