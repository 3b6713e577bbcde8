"""A Statement records tentative binds and evictions on the session with checkpoint/rollback.

Actions try a scenario (evict these, place that) on a statement and keep it only if it helps;
`decisions()` turns what was kept into the cycle's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from scheduler.core.decisions import Bind, Decision, Evict
from scheduler.core.model import Job, ReplicaPlacement


class Ledger(Protocol):
    """What a statement changes: who holds what (the session, in a cycle)."""

    def occupy(self, job: Job, placements: tuple[ReplicaPlacement, ...]) -> None:
        """Reserve what `placements` name for `job`."""
        ...

    def vacate(self, job: Job) -> tuple[ReplicaPlacement, ...]:
        """Free what `job` holds; returns its placements."""
        ...


@dataclass(frozen=True, slots=True)
class _Op:
    kind: str  # "bind" or "evict"
    job: Job
    placements: tuple[ReplicaPlacement, ...]
    action: str = ""
    message: str = ""
    for_job: str | None = None


class Statement:
    """Tentative changes applied to the ledger at once, undoable in reverse."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._ops: list[_Op] = []

    def checkpoint(self) -> int:
        return len(self._ops)

    def bind(self, job: Job, placements: tuple[ReplicaPlacement, ...]) -> None:
        """Place every replica of `job` as given (already checked to fit)."""
        self.ledger.occupy(job, placements)
        self._ops.append(_Op("bind", job, placements))

    def evict(self, job: Job, *, action: str, message: str, for_job: str | None = None) -> None:
        """Free what a running `job` holds, on behalf of `for_job`."""
        placements = self.ledger.vacate(job)
        self._ops.append(_Op("evict", job, placements, action, message, for_job))

    def rollback(self, checkpoint: int = 0) -> None:
        """Undo every change made after `checkpoint`, newest first."""
        while len(self._ops) > checkpoint:
            op = self._ops.pop()
            if op.kind == "bind":
                self.ledger.vacate(op.job)
            else:
                self.ledger.occupy(op.job, op.placements)

    def evicted_job_ids(self) -> set[str]:
        return {op.job.id for op in self._ops if op.kind == "evict"}

    def decisions(self) -> tuple[Decision, ...]:
        """What was kept: evictions first (room is made before binds use it), then binds."""
        evictions: list[Decision] = [
            Evict(op.job.id, op.action, op.message, op.for_job)
            for op in self._ops
            if op.kind == "evict"
        ]
        evicted = {op.job.id for op in self._ops if op.kind == "evict"}
        binds: list[Decision] = [
            Bind(op.job.id, op.placements)
            for op in self._ops
            if op.kind == "bind" and op.job.id not in evicted
        ]
        return tuple(evictions + binds)
