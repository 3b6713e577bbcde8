"""Decayed past usage per queue, for time-based fairness (kept by the leader, in memory)."""

from __future__ import annotations

from dataclasses import replace

from scheduler.core.fairshare import allocated_by_queue, decay_usage
from scheduler.core.model import Resources, Snapshot


class QueueUsage:
    """Integrates each queue's allocation over time with exponential decay (half-life H).

    Kept in the scheduler's memory: a restart or a change of leader starts from zero usage, which
    only makes over-quota division even for about one half-life.
    """

    def __init__(self, half_life_seconds: float | None) -> None:
        self.half_life = half_life_seconds
        self.usage: dict[str, Resources] = {}
        self.last: float | None = None
        self.held: dict[str, Resources] = {}

    def observe(self, snapshot: Snapshot, now: float) -> Snapshot:
        """The snapshot with `queue_usage` filled in (unchanged when time-based fairness is off)."""
        if self.half_life is None:
            return snapshot
        if self.last is not None and now > self.last:
            seconds = now - self.last
            for queue in set(self.usage) | set(self.held):
                self.usage[queue] = decay_usage(
                    self.usage.get(queue, Resources()),
                    allocated=self.held.get(queue, Resources()),
                    seconds=seconds,
                    half_life_seconds=self.half_life,
                )
        self.last = now
        self.held = allocated_by_queue(snapshot.jobs)
        leaves = {queue.name for queue in snapshot.queues} - {
            queue.parent for queue in snapshot.queues if queue.parent
        }
        usage = {queue: amount for queue, amount in self.usage.items() if queue in leaves}
        return replace(snapshot, queue_usage=usage)
