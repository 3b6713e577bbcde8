"""A slow, independent reference for the fair-share rule: hand out capacity in tiny steps.

It shares no code with scheduler.core.fairshare. Each step gives DELTA (in 1/STEPS_PER_UNIT of a
unit) to the eligible queue with the lowest given/weight, so the result approaches water-filling
to within a few steps. Shares are not rounded down, unlike the real division.
"""

from __future__ import annotations

from dataclasses import dataclass

STEPS_PER_UNIT = 64


@dataclass
class RefQueue:
    name: str
    parent: str | None
    deserved: int
    limit: int | None
    weight: float
    priority: int
    demand: int = 0  # only leaves


def _hand_out(
    amount: int,
    names: list[str],
    caps: dict[str, int],
    weights: dict[str, float],
    given: dict[str, int],
) -> int:
    """Give `amount` steps one at a time to the lowest given/weight queue under its cap."""
    for _ in range(amount):
        eligible = [n for n in names if given[n] < caps[n] and weights[n] > 0]
        if eligible:
            pick = min(eligible, key=lambda n: (given[n] / weights[n], n))
        else:
            zero = [n for n in names if given[n] < caps[n]]
            if not zero:
                return amount
            pick = min(zero, key=lambda n: (given[n], n))
        given[pick] += 1
        amount -= 1
    return amount


def reference_shares(queues: list[RefQueue], capacity: int) -> dict[str, float]:
    """Fair share of every queue, in units, by brute-force stepping."""
    children: dict[str | None, list[str]] = {}
    by_name = {q.name: q for q in queues}
    for q in queues:
        children.setdefault(q.parent, []).append(q.name)

    def need(name: str) -> int:  # in steps, capped by the limit
        kids = children.get(name, [])
        total = sum(need(k) for k in kids) if kids else by_name[name].demand * STEPS_PER_UNIT
        limit = by_name[name].limit
        return total if limit is None else min(total, limit * STEPS_PER_UNIT)

    shares: dict[str, int] = {}

    def split(parent: str | None, amount: int) -> None:
        kids = children.get(parent, [])
        if not kids:
            return
        caps = {k: need(k) for k in kids}
        deserved = {}
        for k in kids:
            q = by_name[k]
            d = q.deserved if q.limit is None else min(q.deserved, q.limit)
            deserved[k] = d * STEPS_PER_UNIT
        given = dict.fromkeys(kids, 0)
        first_caps = {k: min(deserved[k], caps[k]) for k in kids}
        left = _hand_out(amount, kids, first_caps, {k: float(deserved[k]) for k in kids}, given)
        for priority in sorted({by_name[k].priority for k in kids}, reverse=True):
            group = [k for k in kids if by_name[k].priority == priority]
            extra = dict.fromkeys(group, 0)
            room = {k: caps[k] - given[k] for k in group}
            left = _hand_out(left, group, room, {k: by_name[k].weight for k in group}, extra)
            for k in group:
                given[k] += extra[k]
        for k in kids:
            shares[k] = given[k]
            split(k, given[k])

    split(None, capacity * STEPS_PER_UNIT)
    return {name: steps / STEPS_PER_UNIT for name, steps in shares.items()}
