"""`gpusched fairshare --what-if FILE.json`: fair shares of a described cluster, nothing run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scheduler.core.fairshare import QueueTreeError, build_tree, divide_fair_share
from scheduler.core.model import MILLI_PER_GPU, Queue, Resources

RESOURCE_KEYS = ("gpus", "cpu_millis", "memory_mib")
QUEUE_KEYS = {
    "name", "parent", "deserved", "limit", "over_quota_weight", "priority", "demand", "usage",
}  # fmt: skip


class WhatIfError(ValueError):
    """The what-if file is not valid; the message names the queue and field at fault."""


@dataclass(frozen=True)
class WhatIf:
    """A parsed what-if file: exactly the inputs of the live division."""

    capacity: Resources
    queues: tuple[Queue, ...]
    demand: dict[str, Resources]
    usage: dict[str, Resources] | None


def _number(value: object, where: str) -> Decimal:
    # bool is an int in Python but never a sensible amount.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise WhatIfError(f"{where} must be a number, got {_shown(value)}")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise WhatIfError(f"{where} must be a finite number >= 0, got {value}")
    return number


def _refuse_constant(name: str) -> object:
    raise WhatIfError(f"{name} is not a valid amount: use a finite number")


def _shown(value: object) -> str:
    """A value as it appeared in the file, cut short if long."""
    text = json.dumps(value, default=float)  # default: the Decimals parsed from the file
    return text if len(text) <= 40 else text[:37] + "..."


def _units(number: Decimal, *, per_unit: int, where: str, exact: bool) -> int:
    """`number` in whole units of 1/per_unit; unless `exact`, rounded to the nearest unit."""
    scaled = number * per_unit
    if scaled == scaled.to_integral_value():
        return int(scaled)
    if exact:
        step = "a whole number" if per_unit == 1 else f"a multiple of {Decimal(1) / per_unit}"
        raise WhatIfError(f"{where} must be {step}, got {number}")
    return int(scaled.to_integral_value())


def _resources(
    value: object, where: str, *, missing: Resources | None = None, exact: bool = True
) -> Resources:
    """Parse {"gpus", "cpu_millis", "memory_mib"}; a missing key takes its value from `missing`.

    Amounts must be exact (whole millis and MiB, thousandths of a GPU) unless `exact` is False,
    as for usage, where they are rounded.
    """
    if not isinstance(value, dict):
        raise WhatIfError(f"{where} must be an object with keys {', '.join(RESOURCE_KEYS)}")
    unknown = sorted(set(value) - set(RESOURCE_KEYS))
    if unknown:
        raise WhatIfError(
            f"{where} has unknown key {unknown[0]!r} (use {', '.join(RESOURCE_KEYS)})"
        )
    default = missing or Resources()
    amounts = {
        "gpus": default.gpu_milli,
        "cpu_millis": default.cpu_millis,
        "memory_mib": default.memory_mib,
    }
    for key in RESOURCE_KEYS:
        if key in value:
            field = f"{where}.{key}"
            amounts[key] = _units(
                _number(value[key], field),
                per_unit=MILLI_PER_GPU if key == "gpus" else 1,
                where=field,
                exact=exact,
            )
    return Resources(
        cpu_millis=amounts["cpu_millis"],
        memory_mib=amounts["memory_mib"],
        gpu_milli=amounts["gpus"],
    )


def _queue(raw: object, index: int, capacity: Resources) -> tuple[Queue, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise WhatIfError(f"queues[{index}] must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise WhatIfError(f"queues[{index}].name must be a non-empty string")
    where = f"queue {name!r}"
    unknown = sorted(set(raw) - QUEUE_KEYS)
    if unknown:
        raise WhatIfError(f"{where} has unknown field {unknown[0]!r}")
    parent = raw.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent):
        raise WhatIfError(f"{where}: parent must be a queue name or null")
    limit_raw = raw.get("limit")
    # A resource a limit does not mention is not limited: capping at the capacity is the same.
    limit = None if limit_raw is None else _resources(limit_raw, f"{where}.limit", missing=capacity)
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise WhatIfError(f"{where}: priority must be a whole number, got {_shown(priority)}")
    weight = _number(raw.get("over_quota_weight", 1), f"{where}.over_quota_weight")
    queue = Queue(
        name=name,
        parent=parent,
        deserved=_resources(raw.get("deserved", {}), f"{where}.deserved"),
        limit=limit,
        over_quota_weight=float(weight),
        priority=priority,
    )
    return queue, raw


def parse_what_if(text: str) -> WhatIf:
    """Parse and check a what-if document; raise WhatIfError saying what is wrong and where."""
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, InvalidOperation) as error:
        raise WhatIfError(f"not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise WhatIfError("the file must hold a JSON object with 'capacity' and 'queues'")
    if "capacity" not in document:
        raise WhatIfError("'capacity' is missing (e.g. {\"gpus\": 16})")
    capacity = _resources(document["capacity"], "capacity")
    raw_queues = document.get("queues")
    if not isinstance(raw_queues, list):
        raise WhatIfError("'queues' must be a list of queue objects")
    parsed = [_queue(raw, i, capacity) for i, raw in enumerate(raw_queues)]
    queues = tuple(queue for queue, _ in parsed)
    try:
        tree = build_tree(queues)
    except QueueTreeError as error:
        raise WhatIfError(str(error)) from None
    demand: dict[str, Resources] = {}
    usage: dict[str, Resources] = {}
    for queue, raw in parsed:
        for key, into in (("demand", demand), ("usage", usage)):
            if key not in raw:
                continue
            amount = _resources(raw[key], f"queue {queue.name!r}.{key}", exact=key != "usage")
            if amount != Resources() and not tree.is_leaf(queue.name):
                raise WhatIfError(
                    f"queue {queue.name!r}.{key}: only leaf queues hold jobs; put it on a child"
                )
            into[queue.name] = amount
    leaf_only = {k: v for k, v in demand.items() if tree.is_leaf(k)}
    has_usage = any(tree.is_leaf(q.name) and "usage" in raw for q, raw in parsed)
    return WhatIf(
        capacity=capacity,
        queues=queues,
        demand=leaf_only,
        usage={k: v for k, v in usage.items() if tree.is_leaf(k)} if has_usage else None,
    )


def fair_share_document(shares: Mapping[str, Resources]) -> dict[str, Any]:
    """The --json output: {"fair_share": {queue: {"gpus", "cpu_millis", "memory_mib"}}}."""
    return {
        "fair_share": {
            name: {
                "gpus": share.gpu_milli / MILLI_PER_GPU,
                "cpu_millis": share.cpu_millis,
                "memory_mib": share.memory_mib,
            }
            for name, share in shares.items()
        }
    }


def _table(what_if: WhatIf, shares: Mapping[str, Resources]) -> Table:
    queues = {q.name: q for q in what_if.queues}
    table = Table(title=f"Fair share of {what_if.capacity.gpus:g} GPUs")
    for column in ("queue", "fair share GPUs", "deserved GPUs", "demand GPUs", "CPU millis", "MiB"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for name, share in shares.items():
        depth, parent = 0, queues[name].parent
        while parent is not None:
            depth, parent = depth + 1, queues[parent].parent
        demand = what_if.demand.get(name)
        table.add_row(
            "  " * depth + name,
            f"{share.gpus:g}",
            f"{queues[name].deserved.gpus:g}",
            "" if demand is None else f"{demand.gpus:g}",
            str(share.cpu_millis),
            str(share.memory_mib),
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def fairshare(
        what_if: Annotated[
            Path | None,
            typer.Option(
                "--what-if", help="JSON file with capacity and queues (format: docs/fairshare.md)."
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Compute each queue's fair share of a described cluster, without scheduling anything.

        A limit that leaves a resource out does not limit that resource.
        """
        if what_if is None:
            typer.echo("error: give --what-if FILE.json describing the cluster", err=True)
            raise typer.Exit(2)
        try:
            text = what_if.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            typer.echo(f"error: cannot read {what_if}: {error}", err=True)
            raise typer.Exit(2) from None
        try:
            parsed = parse_what_if(text)
            shares = divide_fair_share(
                queues=parsed.queues,
                demand=parsed.demand,
                capacity=parsed.capacity,
                usage=parsed.usage,
            )
        except (WhatIfError, QueueTreeError) as error:
            typer.echo(f"error: {what_if}: {error}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps(fair_share_document(shares), indent=2))
        else:
            Console().print(_table(parsed, shares))
