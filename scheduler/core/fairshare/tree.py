"""The queue tree checked once: unique names, known parents, no cycles, sane numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.core.model import Queue, Resources


class QueueTreeError(ValueError):
    """The queues do not form a valid tree; the message names the queue and what is wrong."""


@dataclass(frozen=True, slots=True)
class QueueTree:
    """Queues by name with their children sorted by name, so every walk is deterministic."""

    queues: Mapping[str, Queue]
    children: Mapping[str | None, tuple[str, ...]]
    """Children of each queue; the key None holds the top-level queues."""

    def is_leaf(self, name: str) -> bool:
        return not self.children.get(name)

    def top_down(self) -> list[str]:
        """Every queue name, each parent before its children."""
        ordered: list[str] = []
        stack = list(reversed(self.children.get(None, ())))
        while stack:
            name = stack.pop()
            ordered.append(name)
            stack.extend(reversed(self.children.get(name, ())))
        return ordered


def build_tree(queues: Sequence[Queue]) -> QueueTree:
    """Check `queues` and index them as a tree; raise QueueTreeError naming the faulty queue."""
    by_name: dict[str, Queue] = {}
    for queue in queues:
        if not queue.name:
            raise QueueTreeError("a queue has an empty name")
        if queue.name in by_name:
            raise QueueTreeError(f"queue {queue.name!r} is defined twice")
        _check_numbers(queue)
        by_name[queue.name] = queue
    children: dict[str | None, list[str]] = {None: []}
    for queue in by_name.values():
        if queue.parent is not None and queue.parent not in by_name:
            raise QueueTreeError(f"queue {queue.name!r} has unknown parent {queue.parent!r}")
        children.setdefault(queue.parent, []).append(queue.name)
    for queue in by_name.values():
        _check_no_cycle(queue.name, by_name)
    return QueueTree(
        queues=by_name,
        children={parent: tuple(sorted(names)) for parent, names in children.items()},
    )


def _check_numbers(queue: Queue) -> None:
    _check_resources(queue.name, "deserved", queue.deserved)
    if queue.limit is not None:
        _check_resources(queue.name, "limit", queue.limit)
    weight = queue.over_quota_weight
    if not math.isfinite(weight) or weight < 0:
        raise QueueTreeError(
            f"queue {queue.name!r}: over_quota_weight must be a finite number >= 0, got {weight}"
        )


def _check_resources(queue: str, field_name: str, amount: Resources) -> None:
    for resource, value in (
        ("gpu_milli", amount.gpu_milli),
        ("cpu_millis", amount.cpu_millis),
        ("memory_mib", amount.memory_mib),
    ):
        if value < 0:
            raise QueueTreeError(f"queue {queue!r}: {field_name}.{resource} is negative ({value})")


def _check_no_cycle(start: str, by_name: Mapping[str, Queue]) -> None:
    seen = {start}
    parent = by_name[start].parent
    while parent is not None:
        if parent in seen:
            raise QueueTreeError(f"queue {start!r} is part of a parent cycle through {parent!r}")
        seen.add(parent)
        parent = by_name[parent].parent
