"""Reasons with numbers when a queue's fair share or limit keeps a job waiting."""

from __future__ import annotations

from scheduler.core.decisions import ReasonItem
from scheduler.core.model import MILLI_PER_GPU, Queue, Resources

QUEUE_OVER_LIMIT = "queue-over-limit"
QUEUE_AT_FAIR_SHARE = "queue-at-fair-share"


def format_amount(resource: str, amount: int) -> str:
    """An amount as people read it: GPUs with at least one decimal, CPUs in cores, memory in MiB."""
    if resource == "gpu_milli":
        gpus = amount / MILLI_PER_GPU
        return f"{gpus:.1f} GPUs" if amount % 100 == 0 else f"{gpus:g} GPUs"
    if resource == "cpu_millis":
        return f"{amount / 1000:g} CPUs"
    return f"{amount} MiB"


def _first_exceeded(held: Resources, bound: Resources) -> str | None:
    # GPUs first: on a GPU cluster that is the number people ask about.
    for resource in ("gpu_milli", "cpu_millis", "memory_mib"):
        if getattr(held, resource) > getattr(bound, resource):
            return resource
    return None


def queue_wait_reason(
    *,
    queue: Queue,
    allocated: Resources,
    fair_share: Resources,
    request: Resources,
    jobs_ahead: int,
) -> ReasonItem | None:
    """Why `queue` cannot take `request` now (its limit, then its fair share), or None.

    `allocated` is what the queue holds (for a parent queue: its whole subtree), `jobs_ahead`
    how many of the queue's pending jobs come before this one. Call it for each ancestor too:
    a parent's limit binds all its children.
    """
    after = allocated + request
    ahead = f"; {jobs_ahead} job{'s' if jobs_ahead != 1 else ''} ahead of this one"
    if queue.limit is not None and (resource := _first_exceeded(after, queue.limit)):
        held, limit = getattr(allocated, resource), getattr(queue.limit, resource)
        return ReasonItem(
            code=QUEUE_OVER_LIMIT,
            message=(
                f"queue {queue.name} over its limit ({_pair(resource, held, limit)})"
                + (ahead if jobs_ahead else "")
            ),
            data={
                "queue": queue.name,
                "resource": resource,
                "allocated": held,
                "limit": limit,
                "request": getattr(request, resource),
                "jobs_ahead": jobs_ahead,
            },
        )
    if resource := _first_exceeded(after, fair_share):
        held, share = getattr(allocated, resource), getattr(fair_share, resource)
        return ReasonItem(
            code=QUEUE_AT_FAIR_SHARE,
            message=(
                f"queue {queue.name} is at its fair share ({_pair(resource, held, share)})"
                + (ahead if jobs_ahead else "")
            ),
            data={
                "queue": queue.name,
                "resource": resource,
                "allocated": held,
                "fair_share": share,
                "request": getattr(request, resource),
                "jobs_ahead": jobs_ahead,
            },
        )
    return None


def _pair(resource: str, held: int, bound: int) -> str:
    # "12.0 of 12.0 GPUs": the unit once, after the bound.
    held_text = format_amount(resource, held).split(" ")[0]
    return f"{held_text} of {format_amount(resource, bound)}"
