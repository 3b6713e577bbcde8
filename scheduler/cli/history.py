"""A job's event log (`GET /v1/jobs/{id}/events`) as `gpusched job ID` shows it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from scheduler.cli.render import LIST_STYLE, STATUS_STYLE, placement

# Where the details are names or a share list, a short phrase reads better than key=value.
_SHOWN_AS = {"from": "was", "by": "by", "queue": "queue"}


def events_table(events: Sequence[Mapping[str, Any]]) -> Table:
    """One row per event, oldest first: time, what happened, the node, and its details."""
    table = Table(title="events", title_justify="left", **LIST_STYLE)
    for header in ("TIME", "EVENT", "NODE", "DETAILS"):
        table.add_column(header, no_wrap=header != "DETAILS", overflow="fold")
    for event in events:
        kind = str(event.get("kind", ""))
        table.add_row(
            _clock(event.get("at")),
            Text(kind.removeprefix("job."), style=_style(event)),
            str(event.get("node") or "-"),
            event_details(event),
        )
    return table


def event_details(event: Mapping[str, Any]) -> str:
    """The event's data in a line: a bind's nodes and GPUs, an end's status and message."""
    data = event.get("data")
    if not isinstance(data, Mapping):
        return ""
    parts: list[str] = []
    shares = data.get("allocations")
    if isinstance(shares, list) and shares:
        parts.append("on " + _shares(shares))
    elif isinstance(data.get("nodes"), list):
        parts.append("on " + ",".join(map(str, data["nodes"])))
    for key, value in data.items():
        if key in ("allocations", "nodes") or value in (None, ""):
            continue
        parts.append(f"{_SHOWN_AS.get(key, key)} {value}" if key in _SHOWN_AS else f"{key}={value}")
    return " ".join(parts)


def _shares(shares: list[Any]) -> str:
    """Shares as `placement` shows a job's allocations: "node-a:0,1 node-b:3(0.5)"."""
    allocations = [
        {**share, "gpu_fraction": share["milli"] / 1000}
        for share in shares
        if isinstance(share, Mapping) and isinstance(share.get("milli"), int)
    ]
    return placement({"allocations": allocations})


def _clock(timestamp: object) -> str:
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(timestamp)))


def _style(event: Mapping[str, Any]) -> str:
    # An end is coloured by the status it left the job in (a requeue shows as pending).
    data = event.get("data")
    status = data.get("status") if isinstance(data, Mapping) else None
    kind = str(event.get("kind", "")).removeprefix("job.")
    return STATUS_STYLE.get(str(status or kind), "")
