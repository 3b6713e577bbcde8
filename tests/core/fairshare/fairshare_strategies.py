"""Hypothesis strategies: random small queue trees with demand and a cluster capacity."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from scheduler.core.model import Queue, Resources


@dataclass(frozen=True)
class Case:
    queues: tuple[Queue, ...]
    demand: dict[str, Resources]
    capacity: Resources
    usage: dict[str, Resources] | None = None

    def leaves(self) -> set[str]:
        parents = {q.parent for q in self.queues}
        return {q.name for q in self.queues if q.name not in parents}

    def by_name(self) -> dict[str, Queue]:
        return {q.name: q for q in self.queues}


def _res(gpu: int, cpu: int) -> Resources:
    return Resources(cpu_millis=cpu, memory_mib=0, gpu_milli=gpu)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_queues: int = 7,
    max_amount: int = 16_000,
    weights: st.SearchStrategy[float] | None = None,
    with_limits: bool = True,
    with_usage: bool = False,
) -> Case:
    """A tree of 1..max_queues queues; each queue's parent is an earlier queue or none."""
    count = draw(st.integers(1, max_queues))
    names = draw(st.permutations([f"q{i}" for i in range(count)]))
    amount = st.integers(0, max_amount)
    weight = weights if weights is not None else st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.0])
    queues = []
    for i, name in enumerate(names):
        parent = draw(st.one_of(st.none(), st.sampled_from(names[:i]))) if i else None
        limit = None
        if with_limits and draw(st.booleans()):
            limit = _res(draw(amount), draw(amount))
        queues.append(
            Queue(
                name=name,
                parent=parent,
                deserved=_res(draw(amount), draw(amount)),
                limit=limit,
                over_quota_weight=draw(weight),
                priority=draw(st.integers(0, 2)),
            )
        )
    parents = {q.parent for q in queues}
    demand = {
        q.name: _res(draw(st.integers(0, 2 * max_amount)), draw(amount))
        for q in queues
        if q.name not in parents
    }
    capacity = _res(draw(st.integers(0, 4 * max_amount)), draw(st.integers(0, 4 * max_amount)))
    usage = None
    if with_usage and draw(st.booleans()):
        usage = {name: _res(draw(amount), draw(amount)) for name in demand}
    return Case(queues=tuple(queues), demand=demand, capacity=capacity, usage=usage)
