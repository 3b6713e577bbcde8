"""`gpusched top`: a live view of queues, GPUs and jobs, redrawn every few seconds."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from scheduler.cli.client import ApiClient, ApiError
from scheduler.cli.output import TokenOption, UrlOption, connect, console, fail
from scheduler.cli.render import as_float, bar, jobs_table, nodes_table, number, queues_table


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one frame shows, as the API returned it."""

    queues: list[Mapping[str, Any]] = field(default_factory=list)
    nodes: list[Mapping[str, Any]] = field(default_factory=list)
    running: list[Mapping[str, Any]] = field(default_factory=list)
    pending: list[Mapping[str, Any]] = field(default_factory=list)
    taken_at: float = 0.0


def fetch(api: ApiClient, *, max_jobs: int) -> Snapshot:
    """Read everything one frame needs (four GETs)."""
    return Snapshot(
        queues=api.list_all("/v1/queues"),
        nodes=api.list_all("/v1/nodes"),
        running=api.list_all("/v1/jobs", limit=max_jobs, status="running"),
        pending=api.list_all("/v1/jobs", limit=max_jobs, status="pending"),
        taken_at=time.time(),
    )


def cluster_line(snapshot: Snapshot, *, max_jobs: int) -> Text:
    """GPUs allocated of total (with a bar), mean utilisation, running and pending counts."""
    gpus = [gpu for node in snapshot.nodes for gpu in node.get("gpus") or []]
    allocated = sum(_num(gpu.get("allocated_fraction")) for gpu in gpus)
    utilisations = [_num(gpu.get("utilization")) for gpu in gpus if _is_num(gpu.get("utilization"))]
    line = Text("GPUs ")
    line.append(f"{number(allocated)}/{len(gpus)} allocated ")
    line.append_text(bar(allocated / len(gpus) if gpus else None, width=20, style="cyan"))
    if utilisations:
        line.append("   util ")
        line.append_text(bar(sum(utilisations) / len(utilisations) / 100.0, width=10))
    ready = sum(1 for node in snapshot.nodes if node.get("ready") and not node.get("cordoned"))
    line.append(f"   nodes {ready}/{len(snapshot.nodes)} schedulable")
    line.append(f"   running {_count(snapshot.running, max_jobs)}", style="green")
    line.append(f"   pending {_pending_total(snapshot, max_jobs)}", style="yellow")
    return line


def frame(
    snapshot: Snapshot | None, *, url: str, max_jobs: int, error: str | None
) -> RenderableType:
    """One screen: header, cluster totals, queues, GPUs, running then pending jobs."""
    stamp = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at if snapshot else None))
    header = Text.assemble(("gpusched top", "bold"), f"  {url}  {stamp}")
    parts: list[RenderableType] = [header]
    if error:
        parts.append(Text(f"error: {error} (showing the last good data)", style="red"))
    if snapshot is None:
        return Group(*parts)
    parts.append(cluster_line(snapshot, max_jobs=max_jobs))
    parts.append(
        queues_table(snapshot.queues) if snapshot.queues else Text("no queues", style="dim")
    )
    parts.append(nodes_table(snapshot.nodes) if snapshot.nodes else Text("no nodes", style="dim"))
    jobs = [*snapshot.running, *snapshot.pending]
    if jobs:
        parts.append(jobs_table(jobs, title="jobs (running, then pending)"))
    else:
        parts.append(Text("no running or pending jobs", style="dim"))
    return Group(*parts)


def register(app: typer.Typer) -> None:
    """Add `gpusched top`."""

    @app.command("top")
    def top(
        interval: Annotated[
            float, typer.Option("--interval", "-i", help="Seconds between refreshes.", min=0.2)
        ] = 2.0,
        once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
        max_jobs: Annotated[
            int,
            typer.Option("--jobs", help="Show at most this many running and pending jobs.", min=1),
        ] = 20,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Live view of queues (share vs allocated), GPUs (allocated, utilisation) and jobs."""
        with connect(url, token) as api:
            if once:
                snapshot = fetch(api, max_jobs=max_jobs)
                console().print(frame(snapshot, url=api.config.url, max_jobs=max_jobs, error=None))
                return
            try:
                _live(api, interval=interval, max_jobs=max_jobs)
            except KeyboardInterrupt:
                return


def _live(api: ApiClient, *, interval: float, max_jobs: int) -> None:
    # The first read decides whether there is anything to watch: a wrong URL or token ends here.
    snapshot: Snapshot | None = fetch(api, max_jobs=max_jobs)
    error: str | None = None
    with Live(
        frame(snapshot, url=api.config.url, max_jobs=max_jobs, error=None),
        console=console(),
        screen=True,
        auto_refresh=False,
    ) as live:
        while True:
            time.sleep(interval)
            try:
                snapshot, error = fetch(api, max_jobs=max_jobs), None
            except ApiError as err:
                if err.status in (401, 403):
                    live.stop()
                    fail(str(err))
                error = str(err)  # a restarting server: keep the last frame and retry
            view = frame(snapshot, url=api.config.url, max_jobs=max_jobs, error=error)
            live.update(view, refresh=True)


def _is_num(value: object) -> bool:
    return as_float(value) is not None


def _num(value: object) -> float:
    return as_float(value) or 0.0


def _count(jobs: Sequence[object], max_jobs: int) -> str:
    return f"{max_jobs}+" if len(jobs) >= max_jobs else str(len(jobs))


def _pending_total(snapshot: Snapshot, max_jobs: int) -> str:
    # Parents may count their subtree: only leaves are summed so no job is counted twice.
    parents = {queue.get("parent") for queue in snapshot.queues}
    leaves = [q for q in snapshot.queues if q.get("name") not in parents]
    counts = [q.get("pending_jobs") for q in leaves]
    if counts and all(_is_num(c) for c in counts):
        return number(sum(_num(c) for c in counts))
    return _count(snapshot.pending, max_jobs)
