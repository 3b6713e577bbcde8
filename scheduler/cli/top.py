"""`gpusched top`: a live view of queues, GPUs and jobs, redrawn every few seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.rule import Rule
from rich.text import Text

from scheduler.cli.client import ApiClient, ApiError
from scheduler.cli.output import (
    JsonOption,
    OutputFormat,
    OutputOption,
    TokenOption,
    UrlOption,
    connect,
    console,
    fail,
    json_wanted,
    print_json,
)
from scheduler.cli.render import as_float, bar, jobs_table, nodes_table, number, queues_table

# Between frames; a module attribute so tests can replace the wait.
pause = time.sleep


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one frame shows, as the API returned it."""

    queues: list[Mapping[str, Any]] = field(default_factory=list)
    nodes: list[Mapping[str, Any]] = field(default_factory=list)
    running: list[Mapping[str, Any]] = field(default_factory=list)
    pending: list[Mapping[str, Any]] = field(default_factory=list)
    taken_at: float = 0.0
    nodes_hidden: str = ""
    """Why nodes are missing (a user token may not list them); empty when they were read."""

    def as_json(self) -> dict[str, Any]:
        """The frame's data as one JSON object (what `top --once --output json` prints)."""
        return {
            "taken_at": self.taken_at,
            "queues": self.queues,
            "nodes": self.nodes,
            "running": self.running,
            "pending": self.pending,
        }


def fetch(api: ApiClient, *, max_jobs: int) -> Snapshot:
    """Read everything one frame needs (four GETs); nodes may be refused to a non-admin token."""
    nodes: list[Mapping[str, Any]] = []
    hidden = ""
    try:
        nodes = api.list_all("/v1/nodes")
    except ApiError as err:
        if err.status != 403:
            raise
        hidden = "GPUs hidden: listing nodes needs an admin token"
    return Snapshot(
        queues=api.list_all("/v1/queues"),
        nodes=nodes,
        running=api.list_all("/v1/jobs", limit=max_jobs, status="running"),
        pending=api.list_all("/v1/jobs", limit=max_jobs, status="pending"),
        taken_at=time.time(),
        nodes_hidden=hidden,
    )


def cluster_line(snapshot: Snapshot, *, max_jobs: int) -> Text:
    """GPUs allocated of total (with a bar), mean utilisation, nodes, running and pending counts."""
    gpus = [gpu for node in snapshot.nodes for gpu in node.get("gpus") or []]
    allocated = sum(_num(gpu.get("allocated_fraction")) for gpu in gpus)
    utilisations = [_num(gpu.get("utilization")) for gpu in gpus if _is_num(gpu.get("utilization"))]
    line = Text()
    if not snapshot.nodes_hidden:
        line.append(f"GPUs {number(allocated)}/{len(gpus)} allocated ")
        line.append_text(bar(allocated / len(gpus) if gpus else None, width=20, style="cyan"))
        if utilisations:
            line.append("  util ")
            line.append_text(bar(sum(utilisations) / len(utilisations) / 100.0, width=10))
        ready = sum(1 for node in snapshot.nodes if node.get("ready") and not node.get("cordoned"))
        line.append(f"  nodes {ready}/{len(snapshot.nodes)} schedulable\n")
    line.append(f"jobs: running {_count(snapshot.running, max_jobs)}", style="green")
    line.append(f"  pending {_pending_total(snapshot, max_jobs)}", style="yellow")
    return line


def frame(
    snapshot: Snapshot | None,
    *,
    url: str,
    max_jobs: int,
    error: str | None,
    height: int | None = None,
) -> RenderableType:
    """One screen: header, cluster totals, queues, GPUs, running then pending jobs.

    With a `height` (a terminal's), the job list is cut to what fits, saying how many are left.
    """
    header = Text.assemble(("gpusched top", "bold"), f"  {url}")
    if snapshot is not None:
        header.append(time.strftime("  %H:%M:%S", time.localtime(snapshot.taken_at)))
    parts: list[RenderableType] = [header]
    if error:
        parts.append(Text(f"error: {error} (showing the last good data)", style="red"))
    if snapshot is None:
        return Group(*parts)
    parts.append(cluster_line(snapshot, max_jobs=max_jobs))
    parts.append(Rule("queues", align="left", style="dim"))
    parts.append(queues_table(snapshot.queues) if snapshot.queues else Text("no queues", style="dim"))
    parts.append(Rule("GPUs", align="left", style="dim"))
    if snapshot.nodes_hidden:
        parts.append(Text(snapshot.nodes_hidden, style="dim"))
    elif snapshot.nodes:
        parts.append(nodes_table(snapshot.nodes))
    else:
        parts.append(Text("no nodes", style="dim"))
    parts.append(Rule("jobs: running, then pending", align="left", style="dim"))
    jobs = [*snapshot.running, *snapshot.pending]
    hidden = 0
    if height is not None and jobs:
        # Rows above the jobs: header, error, 2 cluster lines, 3 rules, both tables with headers.
        gpu_rows = sum(max(1, len(node.get("gpus") or [])) for node in snapshot.nodes)
        used = 6 + bool(error) + len(snapshot.queues) + 1 + gpu_rows + 1
        room = max(1, height - used - 2)  # the jobs header and the "more" line
        hidden = max(0, len(jobs) - room)
        jobs = jobs[:room]
    parts.append(jobs_table(jobs) if jobs else Text("no running or pending jobs", style="dim"))
    if hidden:
        parts.append(Text(f"... {hidden} more (a taller window shows more)", style="dim"))
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
        json_output: JsonOption = False,
        output: OutputOption = OutputFormat.TABLE,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Live view of queues (share vs allocated), GPUs (allocated, utilisation) and jobs."""
        as_json = json_wanted(output, json_output)
        if as_json and not once:
            raise typer.BadParameter("JSON output is one snapshot: add --once")
        with connect(url, token) as api:
            if once:
                snapshot = fetch(api, max_jobs=max_jobs)
                if as_json:
                    print_json(snapshot.as_json())
                    return
                console().print(frame(snapshot, url=api.config.url, max_jobs=max_jobs, error=None))
                return
            try:
                watch(api, interval=interval, max_jobs=max_jobs)
            except KeyboardInterrupt:
                return


def watch(api: ApiClient, *, interval: float, max_jobs: int) -> None:
    """Redraw every `interval` seconds until interrupted; a server that goes away is waited for.

    On a terminal the frame is redrawn in place; otherwise (piped, logged) each frame is printed
    after the last, like `top -b`.
    """
    # The first read decides whether there is anything to watch: a wrong URL or token ends here.
    out = console()
    terminal = out if out.is_terminal else None
    frames = _frames(api, interval=interval, max_jobs=max_jobs, terminal=terminal)
    if not out.is_terminal:
        for view in frames:
            out.print(view)
            out.print()
        return
    with Live(next(frames), console=out, screen=True, auto_refresh=False) as live:
        try:
            for view in frames:
                live.update(view, refresh=True)
        except typer.Exit:
            live.stop()
            raise


def _frames(
    api: ApiClient, *, interval: float, max_jobs: int, terminal: Console | None
) -> Iterator[RenderableType]:
    # On a terminal, the job list fits the window's height as it is now (it may be resized).
    def height() -> int | None:
        return terminal.size.height if terminal is not None else None

    snapshot = fetch(api, max_jobs=max_jobs)
    url = api.config.url
    yield frame(snapshot, url=url, max_jobs=max_jobs, error=None, height=height())
    while True:
        pause(interval)
        error: str | None = None
        try:
            snapshot = fetch(api, max_jobs=max_jobs)
        except ApiError as err:
            if err.status in (401, 403):
                fail(str(err))
            error = str(err)  # a restarting server: keep the last frame and retry
        yield frame(snapshot, url=url, max_jobs=max_jobs, error=error, height=height())


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
