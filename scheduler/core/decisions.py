"""What a cycle gives out: decisions to carry out and the reason every unplaced job waits."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from scheduler.core.model import ReplicaPlacement, Resources


@dataclass(frozen=True, slots=True)
class Bind:
    """Start every replica of `job_id` where `placements` say (a gang comes whole)."""

    job_id: str
    placements: tuple[ReplicaPlacement, ...]


@dataclass(frozen=True, slots=True)
class Evict:
    """Stop `job_id` to make room: `action` is reclaim/preempt/consolidate, `for_job` the beneficiary."""

    job_id: str
    action: str
    message: str
    for_job: str | None = None


Decision = Bind | Evict


class WaitKind(enum.StrEnum):
    """Whether anything could change the answer (Unschedulable vs UnschedulableAndUnresolvable)."""

    UNSCHEDULABLE = "unschedulable"
    """Capacity is taken now; finishing or evicted jobs may make room."""
    UNRESOLVABLE = "unresolvable"
    """No node could ever hold the job as it is asked (too big, no such GPU model)."""


@dataclass(frozen=True, slots=True)
class ReasonItem:
    """One ranked cause: a stable code, a sentence with numbers, and the numbers themselves."""

    code: str
    message: str
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingReason:
    """Why a job was not placed this cycle, most important cause first."""

    kind: WaitKind
    items: tuple[ReasonItem, ...]
    node_failures: Mapping[str, int] = field(default_factory=dict)
    """How many nodes failed for each filter code (e.g. {"gpu-model": 900, "cpu": 12})."""

    @property
    def summary(self) -> str:
        return self.items[0].message if self.items else "waiting"


@dataclass(frozen=True, slots=True)
class CycleResult:
    """The output of one `run_cycle`."""

    decisions: tuple[Decision, ...]
    reasons: Mapping[str, PendingReason]
    fair_shares: Mapping[str, Resources] = field(default_factory=dict)
