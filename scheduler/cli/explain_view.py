"""`gpusched explain`: ranked reasons a job waits, with their numbers and node failure counts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from scheduler.cli.render import as_float, number, placement, status_text

KIND_MEANING = {
    "unschedulable": "capacity is taken now; finishing or evicted jobs may make room",
    "unresolvable": "no node could ever hold it as asked; change the request",
}


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def normalised(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The explain fields at the top level, whether the server nests them under `reason` or not."""
    reason = answer.get("reason")
    nested: Mapping[str, Any] = reason if isinstance(reason, Mapping) else {}
    flat = dict(answer)
    flat["job_id"] = answer.get("job_id") or answer.get("id")
    for key in ("kind", "summary", "items", "node_failures"):
        flat[key] = answer.get(key) or nested.get(key)
    return flat


def explanation(answer: Mapping[str, Any]) -> RenderableType:
    """The whole answer: headline, ranked reasons with their data, then failures per filter."""
    explain = normalised(answer)
    job_id = str(explain.get("job_id", "?"))
    status = str(explain.get("status", ""))
    kind = explain.get("kind")
    headline = Text.assemble("job ", (job_id, "bold"), " is ", status_text(status))
    if kind:
        headline.append(" — ")
        headline.append(str(kind), style="red" if kind == "unresolvable" else "yellow")
        if kind in KIND_MEANING:
            headline.append(f": {KIND_MEANING[str(kind)]}")
    parts: list[RenderableType] = [headline]
    summary = explain.get("summary")
    if summary:
        parts.append(Text(f"  {summary}", style="bold"))
    if explain.get("queue") and as_float(explain.get("queue_deserved_gpus")) is not None:
        parts.append(_queue_line(explain))
    where = placement(explain)
    if where:
        parts.append(Text(f"  runs on {where}"))
    items = [item for item in explain.get("items") or [] if isinstance(item, Mapping)]
    failures = explain.get("node_failures") or {}
    if not items and not failures:
        if status == "pending" or not summary:
            parts.append(Text(_nothing_to_explain(status), style="dim"))
        return Group(*parts)
    if items:
        parts.extend([Text(""), _reasons(items)])
    if isinstance(failures, Mapping) and failures:
        parts.extend([Text(""), _failures(failures)])
    return Group(*parts)


def _queue_line(explain: Mapping[str, Any]) -> Text:
    numbers = [
        ("deserved", explain.get("queue_deserved_gpus")),
        ("fair share", explain.get("queue_fair_share_gpus")),
        ("allocated", explain.get("queue_allocated_gpus")),
    ]
    shown = ", ".join(f"{label} {number(value)}" for label, value in numbers if value is not None)
    return Text(f"  queue {explain['queue']}: {shown} GPUs", style="dim")


def _nothing_to_explain(status: str) -> str:
    if status == "pending":
        return "  no reason recorded yet: the scheduler has not looked at it since it was submitted"
    return f"  nothing to explain: the job is {status or 'not waiting'}"


def _reasons(items: list[Mapping[str, Any]]) -> Table:
    table = Table(title="why it waits, most important first", title_justify="left", box=None)
    table.add_column("#", justify="right", style="bold")
    table.add_column("CODE", no_wrap=True, style="cyan")
    table.add_column("REASON", overflow="fold")
    for rank, item in enumerate(items, start=1):
        code = str(item.get("code", ""))
        reason = Text(str(item.get("message", "")))
        data = item.get("data")
        # A near miss (the node that came closest) is the most actionable line: mark it.
        if "near" in code or (isinstance(data, Mapping) and data.get("best_node")):
            reason.stylize("bold")
        if isinstance(data, Mapping) and data:
            reason.append("\n")
            reason.append("  ".join(f"{k}={_value(v)}" for k, v in data.items()), style="dim")
        table.add_row(str(rank), code, reason)
    return table


def _failures(failures: Mapping[str, Any]) -> Table:
    counts = {str(code): count for code, count in failures.items() if isinstance(count, int)}
    total = max(counts.values(), default=0)
    table = Table(title="nodes rejected, by check", title_justify="left", box=None)
    table.add_column("CHECK", style="cyan", no_wrap=True)
    table.add_column("NODES", justify="right")
    table.add_column("", no_wrap=True)
    for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        width = round(20 * count / total) if total else 0
        table.add_row(code, str(count), Text("█" * max(width, 1 if count else 0), style="red"))
    return table
