"""The session's extension points: one small Protocol per hook, and the registry plugins see.

A plugin implements only what it needs: its `on_session_open` registers callbacks through
`Hooks`, one method per extension point, and never reaches into the session's lists. Several
plugins may register the same hook; how their answers combine is stated per hook below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import NamedTuple, Protocol

from scheduler.core.decisions import ReasonItem
from scheduler.core.model import Job, Resources


class JobOrderKey(Protocol):
    """A sort key for pending jobs inside a queue, smallest first."""

    def __call__(self, job: Job) -> object: ...


class QueueOrderKey(Protocol):
    """A sort key for queues: the smallest key's queue places its next job first."""

    def __call__(self, queue: str) -> object: ...


class AllocateVeto(Protocol):
    """Why `job` may not be placed now (e.g. its queue is at its limit), or None."""

    def __call__(self, job: Job) -> ReasonItem | None: ...


class AllocationHook(Protocol):
    """Told after `job` took resources in the session (or after it gave them back)."""

    def __call__(self, job: Job) -> None: ...


class ReclaimGate(Protocol):
    """Why `job`'s queue may not reclaim from other queues now (e.g. it is at its fair share)."""

    def __call__(self, job: Job) -> ReasonItem | None: ...


class ReclaimVeto(Protocol):
    """True when `victim` may NOT be evicted to make room for `reclaimer`."""

    def __call__(self, reclaimer: Job, victim: Job) -> bool: ...


class VictimQueues(Protocol):
    """The queues whose jobs `job` may reclaim from at all."""

    def __call__(self, job: Job) -> Sequence[str]: ...


class QueueStanding(NamedTuple):
    """Where a queue stands against its fair share, for explanations."""

    ratio: Fraction
    """Allocated GPUs over fair-share GPUs."""
    allocated: Resources
    fair_share: Resources


class QueueStatus(Protocol):
    """Where `queue` stands against its fair share, or None when this hook does not know it."""

    def __call__(self, queue: str) -> QueueStanding | None: ...


class FairShares(Protocol):
    """Each queue's fair share in this cycle, reported in the cycle's result."""

    def __call__(self) -> Mapping[str, Resources]: ...


class Hooks(Protocol):
    """What `on_session_open` may do: register callbacks, one method per extension point."""

    def add_job_order(self, key: JobOrderKey) -> None:
        """Keys compose in registration order: an earlier key decides first."""

    def add_queue_order(self, key: QueueOrderKey) -> None:
        """Keys compose in registration order: an earlier key decides first."""

    def add_allocate_veto(self, veto: AllocateVeto) -> None:
        """The first veto (in registration order) that gives a reason stops the job."""

    def add_on_allocate(self, hook: AllocationHook) -> None:
        """Every hook is told, in registration order."""

    def add_on_deallocate(self, hook: AllocationHook) -> None:
        """Every hook is told, in registration order."""

    def add_reclaim_gate(self, gate: ReclaimGate) -> None:
        """The first gate that gives a reason stops reclaim for the job; with none, no reclaim."""

    def add_reclaim_veto(self, veto: ReclaimVeto) -> None:
        """A victim is spared when any veto says so."""

    def add_victim_queues(self, queues: VictimQueues) -> None:
        """Each narrows: a queue may be reclaimed from only when every hook names it."""

    def add_queue_status(self, status: QueueStatus) -> None:
        """The first hook that knows a queue answers for it."""

    def add_fair_shares(self, shares: FairShares) -> None:
        """Shares are merged; the first hook that names a queue gives its share."""


class Plugin(Protocol):
    name: str

    def on_session_open(self, hooks: Hooks) -> None:
        """Register callbacks (and nothing else)."""
