"""The stranding-aware fragmentation policy (`stranding-fgd`, the simulator's `default`)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scheduler.core.filters import fits
from scheduler.core.model import GPU, MILLI_PER_GPU, Node, ReplicaRequest
from scheduler.core.plugins.placement import POLICIES, PlacementContext, ScoredPlacement, TypicalShape
from scheduler.core.plugins.placement.fgd import FgdScorer, Fragmentation
from scheduler.core.plugins.placement.stranding import (
    FillerFragmentation,
    StrandedFragmentation,
    StrandingScorer,
    cpu_scarcity,
    filler_stranded,
    mix_cpu_per_gpu,
    per_gpu_weights,
    stranded,
)
from scheduler.core.state import ClusterState
from tests.support.services import require_module

# One typical shape: 10 cores and one whole GPU. The clusters below have at least 10 cores per GPU,
# so the filler reach applies: the only filler is the shape itself, taking FILLER_SHARE (0.3) ×
# 10,000 = 3,000 thousandths of a core per further GPU.
ONE_SHAPE = (TypicalShape(10_000, MILLI_PER_GPU, 1, frozenset(), 1.0),)


def make_node(name: str, *, cpu: int, gpus: int, model: str = "T4") -> Node:
    return Node(name, cpu, 1_000_000, tuple(GPU(i, model, 15_360, f"{name}-{i}") for i in range(gpus)),
                max_pods=100)


def choose(policy: str, nodes: list[Node], request: ReplicaRequest,
           shapes: tuple[TypicalShape, ...] = ONE_SHAPE) -> str:
    state = ClusterState(nodes)
    placement = POLICIES[policy](PlacementContext(typical_shapes=shapes))
    choice = placement.choose(state, request, fits(state, request))
    assert choice is not None
    return nodes[choice[0]].name


def test_mix_cpu_per_gpu_is_the_weighted_cpu_per_gpu_scaled() -> None:
    shapes = (TypicalShape(12_000, 500, 1, frozenset(), 0.5),
              TypicalShape(32_000, MILLI_PER_GPU, 4, frozenset(), 0.25),  # 8,000 per GPU
              TypicalShape(8_000, 0, 0, frozenset(), 0.25))  # CPU-only: not counted
    # (0.5 × 12,000 + 0.25 × 8,000) / 0.75 = 10,666.7; × 0.05 = 533
    assert mix_cpu_per_gpu(shapes) == 533


def test_cpu_only_pod_goes_where_it_strands_no_gpu() -> None:
    # "poor" (first in session order): 4 idle GPUs, 30 cores. Before: the shape fits and CPU
    # reaches 1 + (30,000 − 10,000) // 3,000 = 7 GPUs ≥ 4, nothing stranded. A 12-core CPU-only pod
    # leaves 18,000: reach 1 + 8,000 // 3,000 = 3 GPUs, so 1,000 stranded: Δ = −1,000,
    # score int(sigmoid(−1) × 100) = 26. "rich": 2 GPUs, 100 cores, still reaches both: Δ 0, score 50.
    nodes = [make_node("poor", cpu=30_000, gpus=4), make_node("rich", cpu=100_000, gpus=2)]
    request = ReplicaRequest(12_000, 1024)
    assert choose("stranding-fgd", nodes, request) == "rich"
    # FGD sees no fragmentation on either (the shape still fits once): tie, earliest node wins.
    assert choose("fgd", nodes, request) == "poor"


def test_cpu_heavy_gpu_pod_avoids_stranding_the_other_gpus() -> None:
    # A 30-core one-GPU pod on "tight" (4 GPUs, 40 cores) leaves 10,000 CPU and 3 GPUs: the shape
    # fits once and CPU reaches 1 + 0 // 3,000 = 1 GPU, so 2,000 stranded: Δ = −2,000, score 11.
    # On "roomy" (4 GPUs, 100 cores) 70,000 is left, every GPU reachable: Δ 0, score 50.
    nodes = [make_node("tight", cpu=40_000, gpus=4), make_node("roomy", cpu=100_000, gpus=4)]
    request = ReplicaRequest(30_000, 1024, MILLI_PER_GPU)
    assert choose("stranding-fgd", nodes, request) == "roomy"
    assert choose("fgd", nodes, request) == "tight"


def test_score_arithmetic_of_one_node() -> None:
    state = ClusterState([make_node("tight", cpu=40_000, gpus=4)])
    scorer = StrandingScorer(PlacementContext(typical_shapes=ONE_SHAPE))
    score, grants = scorer(state, 0, ReplicaRequest(30_000, 1024, MILLI_PER_GPU))
    assert score == 11  # int(100 / (1 + e²)) = int(11.92)
    assert [(g.gpu_index, g.milli) for g in grants] == [(0, MILLI_PER_GPU)]


def test_sharing_pod_keeps_the_whole_gpu_free() -> None:
    # Shapes: half a GPU (weight 0.5) and a whole GPU (0.5); plenty of CPU. GPUs free: 1000, 600.
    # Before: half shape 0 stranded, whole shape 600 (GPU 1) → 0.5·0 + 0.5·600 = 300.
    # The half pod on GPU 1 leaves (1000, 100): 100 stranded for both → 100, Δ = +200 → score 54.
    # On GPU 0 it leaves (500, 600): the whole shape no longer fits → 0.5·1100 = 550, Δ = −250.
    shapes = (TypicalShape(1000, 500, 1, frozenset(), 0.5),
              TypicalShape(1000, MILLI_PER_GPU, 1, frozenset(), 0.5))
    state = ClusterState([make_node("n", cpu=100_000, gpus=2)])
    state.gpu_free[0][1] = 600
    score, grants = StrandingScorer(PlacementContext(typical_shapes=shapes))(
        state, 0, ReplicaRequest(1000, 1024, 500))
    assert [(g.gpu_index, g.milli) for g in grants] == [(1, 500)]
    assert score == 54  # int(100 / (1 + e^-0.2)) = int(54.98)


def random_shapes(rng: random.Random) -> tuple[TypicalShape, ...]:
    shapes = []
    for _ in range(rng.randint(1, 6)):
        count = rng.choice([0, 1, 1, 1, 2, 4])
        milli = 0 if not count else (MILLI_PER_GPU if count > 1 else rng.choice([250, 500, 810, 1000]))
        models = frozenset(rng.sample(["T4", "P100"], rng.randint(0, 1)))
        shapes.append(TypicalShape(rng.choice([0, 2000, 8000, 12000]), milli, count, models,
                                   rng.random() + 0.01))
    return tuple(shapes)


def test_vectorised_measure_equals_the_readable_definition() -> None:
    rng = random.Random(5)
    for _ in range(300):
        shapes = random_shapes(rng)
        measure = StrandedFragmentation(shapes)
        model = rng.choice(["T4", "P100"])
        free = [rng.choice([0, 100, 250, 500, 750, 1000]) for _ in range(rng.choice([1, 2, 4, 8]))]
        cpu = rng.randint(0, 100_000)
        expected = sum(s.weight * stranded(s, model, cpu, free, per_gpu_cpu=measure.per_gpu_cpu)
                       for s in shapes)
        assert measure.of(model, cpu, free) == pytest.approx(expected)
        # The memo by CPU band must never hand back another band's value.
        assert measure.of(model, cpu, free) == pytest.approx(
            measure._compute(model, cpu, tuple(sorted(free, reverse=True))))


@pytest.mark.parametrize("kind", [StrandedFragmentation, FillerFragmentation])
def test_with_ample_cpu_the_measure_is_fgds(kind: type[StrandedFragmentation]) -> None:
    rng = random.Random(9)
    for _ in range(200):
        shapes = random_shapes(rng)
        free = [rng.choice([0, 100, 250, 500, 750, 1000]) for _ in range(rng.choice([1, 2, 8]))]
        model = rng.choice(["T4", "P100"])
        assert kind(shapes).of(model, 10**9, free) == pytest.approx(
            Fragmentation(shapes).of(model, 10**9, free))


def test_never_fails_a_pod_that_some_node_fits() -> None:
    rng = random.Random(11)
    for trial in range(20):
        nodes = [make_node(f"n{i}", cpu=rng.choice([8000, 16_000, 64_000]),
                           gpus=rng.choice([1, 2, 4, 8]), model=rng.choice(["T4", "P100"]))
                 for i in range(rng.randint(1, 6))]
        state = ClusterState(nodes)
        placement = POLICIES["default"](PlacementContext(typical_shapes=random_shapes(rng),
                                                         seed=trial))
        assert isinstance(placement, ScoredPlacement)
        for _ in range(60):
            milli = rng.choice([0, 200, 470, 810, 1000, 2000, 4000])
            request = ReplicaRequest(rng.choice([0, 1000, 4000, 11_000]), 1024, milli,
                                     gpu_models=frozenset(rng.sample(["T4", "P100"],
                                                                     rng.randint(0, 1))))
            mask = fits(state, request)
            choice = placement.choose(state, request, mask)
            if not mask.any():
                assert choice is None
                continue
            assert choice is not None, f"{request} fits {mask.sum()} node(s) but was not placed"
            i, grants = choice
            assert mask[i]
            assert sum(g.milli for g in grants) == milli
            assert all(state.gpu_free[i][g.gpu_index] >= g.milli for g in grants)
            assert len({g.gpu_index for g in grants}) == len(grants)
            state.take(i, request, grants)


def test_default_names_this_policy() -> None:
    placement = POLICIES["default"](PlacementContext(typical_shapes=ONE_SHAPE))
    assert isinstance(placement, ScoredPlacement)
    assert isinstance(placement.scorer, StrandingScorer)
    assert not isinstance(placement.scorer, FgdScorer)


def test_offline_bound_counts_one_big_share_per_gpu_and_pooled_cpu() -> None:
    require_module("highspy")
    from benchmarks.offline_bound import free_choice_bound, offline_greedy
    from scheduler.sim.trace import TracePod

    nodes = [make_node("p100", cpu=16_000, gpus=2, model="P100")]
    # Three 0.81-GPU pods: each needs a GPU of its own (more than half), so two fit: 1,620 of
    # 2,000 thousandths = 81%, although 3 × 810 = 2,430 would "fit" by summed share alone.
    shares = tuple(TracePod(f"s{i}", ReplicaRequest(3000, 1024, 810)) for i in range(3))
    assert free_choice_bound(nodes, shares, integer=False) == pytest.approx(81.0)
    # Whole GPUs of 10 cores each: CPU pools to 16,000 → 1.6 pods in the LP (80%), 1 when integral.
    whole = tuple(TracePod(f"w{i}", ReplicaRequest(10_000, 1024, MILLI_PER_GPU)) for i in range(2))
    assert free_choice_bound(nodes, whole, integer=False) == pytest.approx(80.0)
    assert free_choice_bound(nodes, whole, integer=True) == pytest.approx(50.0)
    # A feasible packing never beats the bound.
    assert offline_greedy(tuple(nodes), shares + whole, policy="bestfit") <= free_choice_bound(
        nodes, shares + whole, integer=False) + 1e-9


def test_unseen_mixes_are_valid_pod_lists_with_their_proportions(tmp_path: Path) -> None:
    from benchmarks.mixes import MIXES, generate
    from scheduler.sim.trace import read_pods

    paths = generate(tmp_path, pods=600)
    assert len(paths) == len(MIXES)
    by_name = {path.stem.removeprefix("openb_pod_list_"): read_pods(path) for path in paths}
    cpu_only = {name: sum(not p.request.wants_gpu for p in pods) / len(pods)
                for name, pods in by_name.items()}
    assert cpu_only["mix-nocpu"] == 0
    assert cpu_only["mix-cpuheavy"] > 0.25  # weight 0.35 of 600 draws
    assert sum(bool(p.request.gpu_models) for p in by_name["mix-spec"]) > 100  # weight 0.25


def test_random_mixes_are_reproducible_and_differ(tmp_path: Path) -> None:
    from benchmarks.mixes import generate, random_mixes

    mixes = random_mixes(4)
    assert list(mixes) == ["h0", "h1", "h2", "h3"]
    assert all(sum(weights.values()) == pytest.approx(1.0) for _, weights in mixes.values())
    assert len({tuple(weights.values()) for _, weights in mixes.values()}) == 4
    first = generate(tmp_path / "a", pods=200, random_count=2)
    again = generate(tmp_path / "b", pods=200, random_count=2)
    assert [p.read_text() for p in first] == [p.read_text() for p in again]
    heavy = random_mixes(8, cpu_heavy=True)
    assert list(heavy) == [f"s{number}" for number in range(8)]
    assert all(0.25 < weights["cpu"] < 0.48 for _, weights in heavy.values())


@pytest.mark.parametrize("kind", [StrandedFragmentation, FillerFragmentation])
def test_memo_starts_over_at_its_limit(monkeypatch: pytest.MonkeyPatch,
                                       kind: type[StrandedFragmentation]) -> None:
    from scheduler.core.plugins.placement import stranding

    monkeypatch.setattr(stranding, "MEMO_LIMIT", 3)
    measure = kind(ONE_SHAPE)
    for free in ([1000], [900], [800], [700], [600]):
        measure.of("T4", 50_000, free)
        assert len(measure._memo) <= 3
        if isinstance(measure, FillerFragmentation):
            assert len(measure._levels) <= 3 and len(measure._gpu_parts) <= 3
    assert measure.of("T4", 50_000, [1000]) == measure._compute("T4", 50_000, (1000,))


def test_filler_measure_equals_the_readable_definition() -> None:
    rng = random.Random(6)
    for _ in range(400):
        shapes = random_shapes(rng)
        measure = FillerFragmentation(shapes)
        model = rng.choice(["T4", "P100"])
        free = [rng.choice([0, 100, 250, 500, 750, 1000]) for _ in range(rng.choice([0, 1, 2, 4, 8]))]
        for cpu in (rng.randint(0, 100_000), rng.randint(0, 20_000), rng.choice([2000, 8000])):
            expected = sum(s.weight * filler_stranded(s, model, cpu, free, shapes) for s in shapes)
            assert measure.of(model, cpu, free) == pytest.approx(expected)


def test_filler_reach_counts_what_low_cpu_fillers_can_use() -> None:
    # Half a GPU with 2 cores (4,000 per whole GPU: step 0.3 × 4,000 = 1,200) and a whole GPU with
    # 12 cores (step 3,600), equally frequent. 4 idle GPUs, 14 cores free. The whole shape fits
    # once and leaves 2,000: the half filler reaches 2,000 // 1,200 = 1 more GPU, the whole filler
    # none, so 1,000 + ½ × 1,000 usable: 2,500 stranded. The half shape leaves 12,000: both fillers
    # reach the 3 other GPUs, nothing stranded. Weighted: ½ × 2,500 = 1,250.
    half = TypicalShape(2000, 500, 1, frozenset(), 0.5)
    whole = TypicalShape(12_000, MILLI_PER_GPU, 1, frozenset(), 0.5)
    free = [1000] * 4
    assert filler_stranded(whole, "T4", 14_000, free, (half, whole)) == pytest.approx(2500)
    assert filler_stranded(half, "T4", 14_000, free, (half, whole)) == 0
    assert FillerFragmentation((half, whole)).of("T4", 14_000, free) == pytest.approx(1250)
    # With 11 cores the whole shape no longer fits, so it is no filler either: the half shape's
    # 9,000 left reaches 9,000 // 1,200 = 7 ≥ 3 GPUs; the whole shape strands all 4,000.
    assert FillerFragmentation((half, whole)).of("T4", 11_000, free) == pytest.approx(2000)


def test_cpu_scarcity_is_the_asked_cpu_per_gpu_over_the_clusters() -> None:
    shapes = (TypicalShape(6000, 500, 1, frozenset(), 0.5),  # 0.5 GPU
              TypicalShape(8000, 0, 0, frozenset(), 0.5))  # CPU-only
    # Asked: (0.5 × 6,000 + 0.5 × 8,000) / (0.5 × 0.5 GPU) = 28,000 per GPU; cluster 14,000.
    assert cpu_scarcity(shapes, 28_000, 2) == pytest.approx(2.0)
    assert cpu_scarcity(shapes[1:], 28_000, 2) == float("inf")
    assert cpu_scarcity(shapes, 0, 2) == float("inf")  # a cluster without CPU: scarce, no error
    assert cpu_scarcity((), 28_000, 2) == 0.0


def test_the_reach_rule_follows_cpu_scarcity() -> None:
    context = PlacementContext(typical_shapes=ONE_SHAPE)  # asks 10,000 per GPU
    roomy = ClusterState([make_node("n", cpu=40_000, gpus=4)])  # 10,000 per GPU: not scarce
    assert type(StrandingScorer(context).measure(roomy)) is FillerFragmentation
    tight = ClusterState([make_node("n", cpu=39_000, gpus=4)])
    assert type(StrandingScorer(context).measure(tight)) is StrandedFragmentation


def test_multi_gpu_shapes_weigh_per_gpu() -> None:
    shapes = (TypicalShape(1000, MILLI_PER_GPU, 1, frozenset(), 0.5),
              TypicalShape(1000, MILLI_PER_GPU, 4, frozenset(), 0.3),
              TypicalShape(1000, 0, 0, frozenset(), 0.2))
    # 4-GPU shape: 0.3 / 4 = 0.075; the total 0.775 is scaled back to 1.0.
    weights = [s.weight for s in per_gpu_weights(shapes)]
    assert weights == pytest.approx([0.5 / 0.775, 0.075 / 0.775, 0.2 / 0.775])
    assert sum(weights) == pytest.approx(1.0)
    one_gpu_only = shapes[:1] + shapes[2:]
    assert per_gpu_weights(one_gpu_only) == one_gpu_only


def test_breaking_a_whole_node_costs_a_multi_gpu_shape_per_gpu() -> None:
    # Shapes: one whole GPU and eight whole GPUs, equally frequent. A one-GPU pod on an idle 8-GPU
    # node leaves 7 GPUs the 8-GPU shape cannot use. FGD: Δ = −0.5 × 7,000 → int(sigmoid(−3.5) ×
    # 100) = 2. Here the 8-GPU shape weighs 0.5 / 8, rescaled to 1/9: Δ = −7,000 / 9 → 31.
    shapes = (TypicalShape(1000, MILLI_PER_GPU, 1, frozenset(), 0.5),
              TypicalShape(1000, MILLI_PER_GPU, 8, frozenset(), 0.5))
    state = ClusterState([make_node("idle", cpu=100_000, gpus=8)])
    request = ReplicaRequest(1000, 1024, MILLI_PER_GPU)
    context = PlacementContext(typical_shapes=shapes)
    assert FgdScorer(context)(state, 0, request)[0] == 2
    assert StrandingScorer(context)(state, 0, request)[0] == 31
