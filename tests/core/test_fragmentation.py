"""FGD's fragmentation: the vectorised measure equals its readable per-shape definition."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.core.plugins.placement.base import TypicalShape
from scheduler.core.plugins.placement.fgd import Fragmentation, shape_fragment

shapes_strategy = st.lists(
    st.builds(
        TypicalShape,
        cpu_millis=st.integers(0, 64_000),
        gpu_milli=st.sampled_from([0, 100, 250, 500, 700, 1000]),
        gpu_count=st.integers(0, 4),
        gpu_models=st.sampled_from([frozenset(), frozenset({"T4"}), frozenset({"V100M32"})]),
        weight=st.floats(0.01, 1.0),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(
    shapes=shapes_strategy,
    model=st.sampled_from(["T4", "V100M32"]),
    cpu_free=st.integers(0, 96_000),
    free=st.lists(st.integers(0, 1000), min_size=0, max_size=8),
)
def test_vectorised_fragmentation_matches_definition(
    shapes: list[TypicalShape], model: str, cpu_free: int, free: list[int]
) -> None:
    expected = sum(s.weight * shape_fragment(s, model, cpu_free, free) for s in shapes)
    assert abs(Fragmentation(shapes).of(model, cpu_free, free) - expected) < 1e-6


def test_fragment_cases_with_arithmetic() -> None:
    half = TypicalShape(4000, 500, 1, frozenset(), 1.0)
    # GPUs free: 300, 1000 → 300 < 500 is a fragment for a half-GPU pod; 1000 is usable → 300
    assert shape_fragment(half, "T4", 8000, [300, 1000]) == 300
    # not enough CPU for the typical pod → every idle share (1300) is a fragment
    assert shape_fragment(half, "T4", 2000, [300, 1000]) == 1300
    cpu_only = TypicalShape(4000, 0, 0, frozenset(), 1.0)
    assert shape_fragment(cpu_only, "T4", 8000, [300, 1000]) == 1300
    two_gpus = TypicalShape(4000, 1000, 2, frozenset(), 1.0)
    # only one wholly free GPU: a 2-GPU pod cannot use the node → 1300
    assert shape_fragment(two_gpus, "T4", 8000, [300, 1000]) == 1300
    pinned = TypicalShape(4000, 500, 1, frozenset({"V100M32"}), 1.0)
    assert shape_fragment(pinned, "T4", 8000, [300, 1000]) == 1300
