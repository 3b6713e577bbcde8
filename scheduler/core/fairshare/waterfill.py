"""Exact water-filling of one amount among claimants with weights and caps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimant of a water-fill: it rises in step with `weight` and never above `cap`."""

    weight: Fraction
    cap: Fraction


def water_fill(amount: Fraction, claims: Sequence[Claim]) -> list[Fraction]:
    """Split `amount` so each claim gets min(cap, level * weight) for one common level.

    Claims with weight 0 get only what the weighted claims leave once all of them are capped,
    shared among themselves equally (the limit of a vanishing weight, so a larger weight never
    gets less). The result is exact and never sums above `amount` or puts a claim above its cap.
    """
    if amount < 0:
        raise ValueError("cannot divide a negative amount")
    given = [Fraction(0)] * len(claims)
    weighted = [i for i, c in enumerate(claims) if c.weight > 0 and c.cap > 0]
    unweighted = [i for i, c in enumerate(claims) if c.weight <= 0 and c.cap > 0]
    left = _fill_level(amount, claims, weighted, given)
    if left > 0 and unweighted:
        equal = [Claim(weight=Fraction(1), cap=claims[i].cap) for i in unweighted]
        shares = [Fraction(0)] * len(unweighted)
        _fill_level(left, equal, range(len(unweighted)), shares)
        for i, share in zip(unweighted, shares, strict=True):
            given[i] = share
    return given


def _fill_level(
    amount: Fraction, claims: Sequence[Claim], indices: Sequence[int], given: list[Fraction]
) -> Fraction:
    """Water-fill `amount` among `indices` (positive weights) into `given`; return what is left."""
    total_cap = sum((claims[i].cap for i in indices), Fraction(0))
    if total_cap <= amount:
        for i in indices:
            given[i] = claims[i].cap
        return amount - total_cap
    # Claims fill up in order of the level at which they reach their cap; ties end up equal
    # whatever their order, so the result does not depend on the input order.
    order = sorted(indices, key=lambda i: claims[i].cap / claims[i].weight)
    remaining = amount
    weight_left = sum((claims[i].weight for i in indices), Fraction(0))
    for position, i in enumerate(order):
        level = remaining / weight_left
        claim = claims[i]
        if claim.cap <= level * claim.weight:
            given[i] = claim.cap
            remaining -= claim.cap
            weight_left -= claim.weight
            continue
        for j in order[position:]:
            given[j] = level * claims[j].weight
        return Fraction(0)
    return remaining
