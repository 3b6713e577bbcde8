"""Settings of one scheduling cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CycleConfig:
    """How a cycle decides. The same config, snapshot and seed give the same decisions."""

    placement: str = "default"
    """Name of the placement policy (see scheduler.core.plugins.placement.POLICIES)."""
    seed: int = 0
    actions: tuple[str, ...] = ("allocate", "reclaim", "preempt")
    min_runtime_seconds: float = 60.0
    """A running job younger than this is never evicted (protects fresh jobs from churn)."""
    usage_half_life_seconds: float | None = None
    """When set, past usage decayed with this half-life lowers a queue's over-quota share."""
    explain: bool = True
    """Compute a structured reason for every job left pending."""
