"""Rich renderings of the API's objects (jobs, queues, nodes, explanations) for the terminal."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from scheduler.protocol import FINAL_STATUSES, JobStatus

STATUS_STYLE: dict[str, str] = {
    JobStatus.PENDING: "yellow",
    JobStatus.RUNNING: "green",
    JobStatus.SUCCEEDED: "blue",
    JobStatus.FAILED: "red",
    JobStatus.PREEMPTED: "magenta",
    JobStatus.CANCELLED: "dim",
}
# Borderless like kubectl: rows stay one line each, easy to grep and to read.
LIST_STYLE: dict[str, Any] = {"box": None, "header_style": "bold", "pad_edge": False}


def number(value: object, *, digits: int = 2) -> str:
    """A number without noise: 2 → "2", 0.5 → "0.5", 1.3333 → "1.33", None → "-"."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    rounded = round(float(value), digits)
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:.{digits}f}".rstrip("0")


def mib(value: object) -> str:
    """MiB as a short size: 81920 → "80G", 512 → "512M"."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    if value >= 1024:
        return f"{number(value / 1024, digits=1)}G"
    return f"{number(value, digits=0)}M"


def duration(seconds: float) -> str:
    """A span in its largest unit: "45s", "12m", "3h", "2d"."""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def age(timestamp: object, *, now: float | None = None) -> str:
    """How long ago a Unix time was ("45s", "3h"); "-" when unknown, "0s" for a future time."""
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return "-"
    return duration(max(0.0, (time.time() if now is None else now) - float(timestamp)))


def when(timestamp: object, *, now: float | None = None) -> str:
    """A Unix time as local date and time, with how long ago (or how far ahead) it is."""
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(timestamp)))
    delta = float(timestamp) - (time.time() if now is None else now)
    return f"{stamp} (in {duration(delta)})" if delta > 0 else f"{stamp} ({duration(delta)} ago)"


def status_text(status: object) -> Text:
    """A job status in its colour."""
    label = str(status or "-")
    return Text(label, style=STATUS_STYLE.get(label, ""))


def bar(fraction: object, *, width: int = 10, style: str = "green") -> Text:
    """A horizontal bar for a fraction in [0, 1] (clamped), followed by its percentage."""
    if not isinstance(fraction, int | float) or isinstance(fraction, bool):
        return Text("-".ljust(width) + "    -", style="dim")
    share = min(1.0, max(0.0, float(fraction)))
    filled = round(share * width)
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {round(float(fraction) * 100):>3}%")
    return text


def job_gpus(job: Mapping[str, Any]) -> str:
    """The request of a job: "0.5", "2", "4x8" (replicas x per replica), with GPU memory if any."""
    per_replica = number(job.get("gpus"))
    replicas = job.get("replicas") or 1
    text = per_replica if replicas == 1 else f"{replicas}x{per_replica}"
    if job.get("gpu_memory_mib"):
        text += f" ({mib(job['gpu_memory_mib'])})"
    return text


def reason_summary(reason: object) -> str:
    """One line for why a job waits, whether the API sends a sentence or an explain-like object."""
    if isinstance(reason, str):
        return reason
    if isinstance(reason, Mapping):
        if reason.get("summary"):
            return str(reason["summary"])
        items = reason.get("items")
        if isinstance(items, Sequence) and items and isinstance(items[0], Mapping):
            return str(items[0].get("message", ""))
    return ""


def placement(job: Mapping[str, Any]) -> str:
    """Where a job runs: "node-a:0,1 node-b:3" with fractions for shared GPUs."""
    by_node: dict[str, list[str]] = {}
    for allocation in job.get("allocations") or ():
        fraction = allocation.get("gpu_fraction")
        gpu = str(allocation.get("gpu_index", "?"))
        if isinstance(fraction, int | float) and 0 < fraction < 1:
            gpu += f"({number(fraction)})"
        by_node.setdefault(str(allocation.get("node", "?")), []).append(gpu)
    return " ".join(f"{node}:{','.join(gpus)}" for node, gpus in by_node.items())


def jobs_table(jobs: Iterable[Mapping[str, Any]], *, title: str | None = None) -> Table:
    """One row per job: id, name, queue, status, GPUs, age, and where it runs or why it waits."""
    jobs = list(jobs)
    with_user = any(job.get("user") for job in jobs)  # who submitted: shown when the server says
    table = Table(title=title, title_justify="left", **LIST_STYLE)
    headers = ("ID", "NAME", "QUEUE", *(("USER",) if with_user else ()), "STATUS", "GPUS", "PRIO", "AGE")
    for header in headers:
        table.add_column(header, no_wrap=True)
    table.add_column("NODE / REASON", overflow="fold")
    for job in jobs:
        status = str(job.get("status", ""))
        where = placement(job) if status == "running" else reason_summary(job.get("reason"))
        if not where and status in FINAL_STATUSES:
            ran = placement(job)  # an ended job's allocations say where it last ran
            where = str(job.get("message") or "") or (f"ran on {ran}" if ran else "")
        table.add_row(
            str(job.get("id", "")),
            str(job.get("name") or ""),
            str(job.get("queue", "")),
            *([str(job.get("user") or "-")] if with_user else []),
            status_text(status),
            job_gpus(job),
            number(job.get("priority", 0)),
            age(job.get("created_at")),
            where,
        )
    return table


def job_detail(job: Mapping[str, Any]) -> RenderableType:
    """Everything about one job as a two-column sheet, then its allocations."""
    sheet = Table.grid(padding=(0, 2))
    sheet.add_column(style="bold")
    sheet.add_column(overflow="fold")
    command = job.get("command")
    rows: list[tuple[str, RenderableType]] = [
        ("id", str(job.get("id", ""))),
        ("name", str(job.get("name") or "-")),
        ("queue", str(job.get("queue", ""))),
        ("user", str(job.get("user") or "-")),
        ("status", status_text(job.get("status"))),
        ("gpus", job_gpus(job) + " per replica" * (int(job.get("replicas") or 1) > 1)),
        ("cpu / memory", f"{number(job.get('cpu_millis', 0))}m / {mib(job.get('memory_mib'))}"),
        ("priority", number(job.get("priority", 0))),
        ("preemptible", str(job.get("preemptible", "-")).lower()),
        ("requeue", str(job.get("requeue", "-")).lower()),
        ("command", " ".join(map(str, command)) if isinstance(command, list) else "-"),
        ("created", when(job.get("created_at"))),
    ]
    if job.get("started_at"):
        rows.append(("started", when(job["started_at"])))
    if job.get("finished_at"):
        rows.append(("finished", when(job["finished_at"])))
    if job.get("attempts"):
        rows.append(("attempts", number(job["attempts"])))
    if job.get("exit_code") is not None:
        rows.append(("exit code", str(job["exit_code"])))
    if job.get("message"):
        rows.append(("message", str(job["message"])))
    if job.get("reason"):
        rows.append(("waiting", Text(reason_summary(job["reason"]), style="yellow")))
    if job.get("env"):
        rows.append(("env", " ".join(f"{k}={v}" for k, v in dict(job["env"]).items())))
    for key, value in rows:
        sheet.add_row(key, value)
    allocations = job.get("allocations") or []
    if not allocations:
        return sheet
    # Once the job ended its shares are free: they say where it last ran.
    title = "last ran on" if job.get("status") in FINAL_STATUSES else "allocations"
    table = Table(title=title, title_justify="left", **LIST_STYLE)
    for header in ("REPLICA", "NODE", "GPU", "UUID", "FRACTION"):
        table.add_column(header, no_wrap=True)
    for allocation in allocations:
        table.add_row(
            number(allocation.get("replica")),
            str(allocation.get("node", "")),
            number(allocation.get("gpu_index")),
            str(allocation.get("gpu_uuid", "")),
            number(allocation.get("gpu_fraction")),
        )
    return Group(sheet, Text(""), table)


def queue_rows(queues: Sequence[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """Queues in tree order (each parent before its children) with their depth."""
    by_parent: dict[str | None, list[Mapping[str, Any]]] = {}
    names = {str(queue.get("name")) for queue in queues}
    for queue in queues:
        parent = queue.get("parent")
        # An orphan (parent unknown to this listing) is shown at the top rather than lost.
        key = str(parent) if parent and str(parent) in names else None
        by_parent.setdefault(key, []).append(queue)
    ordered: list[tuple[int, Mapping[str, Any]]] = []

    def walk(parent: str | None, depth: int) -> None:
        for queue in sorted(by_parent.get(parent, []), key=lambda q: str(q.get("name"))):
            ordered.append((depth, queue))
            walk(str(queue.get("name")), depth + 1)

    walk(None, 0)
    return ordered


def queues_table(queues: Sequence[Mapping[str, Any]]) -> Table:
    """The queue tree: deserved, fair share, allocated (and its ratio to fair), limit, pending."""
    table = Table(**LIST_STYLE)
    table.add_column("QUEUE", no_wrap=True)
    for header in ("DESERVED", "FAIR SHARE", "ALLOCATED"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("ALLOC / FAIR", no_wrap=True)
    for header in ("LIMIT", "WEIGHT", "PRIO", "PENDING"):
        table.add_column(header, justify="right", no_wrap=True)
    with_running = any("running_jobs" in queue for queue in queues)
    if with_running:
        table.add_column("RUNNING", justify="right", no_wrap=True)
    for depth, queue in queue_rows(queues):
        fair = queue.get("fair_share_gpus")
        allocated = queue.get("allocated_gpus")
        fair_value, allocated_value = as_float(fair), as_float(allocated)
        ratio = (
            allocated_value / fair_value
            if fair_value and fair_value > 0 and allocated_value is not None
            else None
        )
        over = ratio is not None and ratio > 1.0
        table.add_row(
            "  " * depth + str(queue.get("name", "")),
            number(queue.get("deserved_gpus")),
            number(fair),
            number(allocated),
            bar(ratio, style="yellow" if over else "green"),
            number(queue.get("limit_gpus")),
            number(queue.get("over_quota_weight")),
            number(queue.get("priority")),
            number(queue.get("pending_jobs")),
            *([number(queue.get("running_jobs"))] if with_running else []),
        )
    return table


def node_state(node: Mapping[str, Any]) -> Text:
    """ready / not-ready, and cordoned when it is."""
    text = Text("ready", style="green") if node.get("ready") else Text("not-ready", style="red")
    if node.get("cordoned"):
        text.append(",cordoned", style="yellow")
    return text


def nodes_table(nodes: Sequence[Mapping[str, Any]]) -> Table:
    """One row per GPU (a node without GPUs gets one row): state, model, allocation, use, health."""
    table = Table(**LIST_STYLE)
    for header in ("NODE", "STATE", "ENFORCE", "GPU", "MODEL"):
        table.add_column(header, no_wrap=True)
    table.add_column("ALLOCATED", no_wrap=True)
    table.add_column("UTIL", no_wrap=True)
    table.add_column("MEMORY", justify="right", no_wrap=True)
    table.add_column("HEALTH", overflow="fold")
    for node in sorted(nodes, key=lambda n: str(n.get("name"))):
        gpus = sorted(node.get("gpus") or [], key=lambda g: g.get("index", 0))
        first = True
        for gpu in gpus or [None]:
            name, state, enforce = (
                (str(node.get("name", "")), node_state(node), str(node.get("enforcement") or "-"))
                if first
                else ("", Text(""), "")
            )
            first = False
            if gpu is None:
                table.add_row(name, state, enforce, "-", "(no GPUs)", "", "", "", "")
                continue
            table.add_row(
                name,
                state,
                enforce,
                number(gpu.get("index")),
                str(gpu.get("model", "")),
                bar(gpu.get("allocated_fraction"), style="cyan"),
                bar(_percent(gpu.get("utilization")), style="green"),
                f"{mib(gpu.get('memory_used_mib'))}/{mib(gpu.get('memory_mib'))}",
                _health(gpu),
            )
    return table


def _health(gpu: Mapping[str, Any]) -> Text:
    if gpu.get("present") is False:
        return Text("gone (not seen by the agent)", style="red")
    if gpu.get("healthy", True):
        return Text("ok", style="green")
    return Text(str(gpu.get("health_reason") or "unhealthy"), style="red")


def _percent(value: object) -> float | None:
    # NVML reports utilisation in percent; bars take fractions.
    number_value = as_float(value)
    return None if number_value is None else number_value / 100.0


def as_float(value: object) -> float | None:
    """A JSON number as a float; None for anything else (bool, string, null)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
