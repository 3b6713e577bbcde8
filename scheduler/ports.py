"""The ports the scheduling loop talks to; each backend (scheduler/backends/*) implements them.

The loop knows nothing else of the cluster: a source gives it the core's Snapshot, a sink
carries out what the core decided, and the backend's own chores between cycles (node liveness)
and its leader lease sit behind two more small ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from scheduler.core.decisions import CycleResult
from scheduler.core.model import Snapshot


class NotLeader(Exception):
    """This process no longer holds the lease; its decisions must not be carried out."""


@dataclass(slots=True)
class Applied:
    """What a sink carried out: bound and evicted job ids, and the wait time of each bound job."""

    bound: list[str] = field(default_factory=list)
    evicted: list[tuple[str, str]] = field(default_factory=list)
    """(job id, action) of each eviction."""
    waits: list[float] = field(default_factory=list)
    skipped: int = 0
    """Decisions about jobs that changed since the snapshot (e.g. cancelled): not applied."""
    deferred: list[str] = field(default_factory=list)
    """Binds onto capacity this cycle's evictions free: they wait until the victims' processes
    are gone (the victims' shares are held meanwhile)."""
    jobs_by_status: Mapping[str, int] = field(default_factory=dict)
    """How many jobs the cluster holds in each status once the decisions are carried out."""


class ClusterSource(Protocol):
    """Where the loop reads the cluster from."""

    def snapshot(self) -> Snapshot:
        """Nodes with their GPUs, queues, held shares, and every pending and running job."""
        ...


class DecisionSink(Protocol):
    """What carries a cycle's decisions out, fenced by the leader lease."""

    def apply(self, result: CycleResult, *, snapshot: Snapshot, now: float) -> Applied:
        """Carry out binds, evictions and fair shares, then record each pending job's reason,
        all only while this process leads (else NotLeader). `snapshot`: what was decided on."""
        ...

    def forget(self) -> None:
        """Another scheduler writes meanwhile: assume nothing about what is recorded."""
        ...


class NodeLiveness(Protocol):
    """Nodes that fell silent, found before each snapshot (where the backend must do it)."""

    def expire_silent(self, *, now: float, since: float) -> int:
        """Mark nodes silent too long not ready and their jobs lost; the number of jobs lost.
        Silence counts from `since` at the earliest (when this scheduler began leading)."""
        ...


class LeaderLease(Protocol):
    """Who may carry decisions out: one holder at a time, for a term it renews."""

    holder: str

    def acquire(self, *, now: float) -> bool:
        """Take or renew the lease; True when this holder holds it afterwards."""
        ...

    def release(self) -> None:
        """Give the lease up (on shutdown) so that a standby takes over at once."""
        ...
