"""run_cycle: one pure scheduling cycle from a snapshot to decisions (being built)."""

from __future__ import annotations

from scheduler.core.config import CycleConfig
from scheduler.core.decisions import CycleResult
from scheduler.core.model import Snapshot


def run_cycle(snapshot: Snapshot, config: CycleConfig, now: float) -> CycleResult:
    """Decide binds and evictions for `snapshot` at time `now`, with a reason for every pending job."""
    raise NotImplementedError("the allocate action lands with the foundation issue")
