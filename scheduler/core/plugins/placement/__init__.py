"""Placement policies selected by name: the FGD paper's six, `binpack`, `spread` and our default."""

from __future__ import annotations

from collections.abc import Callable

from scheduler.core.plugins.placement.base import PlacementContext, ScoredPlacement, TypicalShape
from scheduler.core.plugins.placement.fgd import FgdScorer
from scheduler.core.plugins.placement.live import score_binpack, score_spread
from scheduler.core.plugins.placement.paper import (
    RandomPlacement,
    score_bestfit,
    score_dotprod,
    score_gpu_clustering,
    score_gpu_packing,
)
from scheduler.core.plugins.placement.stranding import StrandingScorer
from scheduler.core.policy import Choice, PlacementPolicy

POLICIES: dict[str, Callable[[PlacementContext], PlacementPolicy]] = {
    "random": RandomPlacement,
    "dotprod": lambda _: ScoredPlacement(score_dotprod),
    "gpu-clustering": lambda _: ScoredPlacement(score_gpu_clustering),
    "gpu-packing": lambda _: ScoredPlacement(score_gpu_packing),
    "bestfit": lambda _: ScoredPlacement(score_bestfit),
    "fgd": lambda context: ScoredPlacement(FgdScorer(context)),
    "binpack": lambda _: ScoredPlacement(score_binpack),
    "spread": lambda _: ScoredPlacement(score_spread),
    "stranding-fgd": lambda context: ScoredPlacement(StrandingScorer(context)),
}
POLICIES["default"] = POLICIES["stranding-fgd"]  # the live scheduler's and simulator's default


def make_policy(name: str, context: PlacementContext) -> PlacementPolicy:
    """The policy called `name`; ValueError naming the known ones otherwise."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(
            f"unknown placement policy {name!r}; choose one of: {', '.join(POLICIES)}"
        ) from None
    return factory(context)


__all__ = ["POLICIES", "Choice", "PlacementContext", "PlacementPolicy", "TypicalShape", "make_policy"]
