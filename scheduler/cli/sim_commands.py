"""`gpusched simulate`: replay a trace with the published protocol through the core."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from scheduler.core.plugins.placement import POLICIES
from scheduler.sim.replay import RunResult, median_alloc, replay
from scheduler.sim.report import PAPER_NAMES, read_published, summary
from scheduler.sim.trace import TraceError, read_nodes, read_pods

DATA = Path(__file__).resolve().parents[2] / "data" / "alibaba-gpu-v2023"


def parse_seeds(text: str) -> list[int]:
    """'42-51' or '42,43,50' or '7' → seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                low, high = part.split("-", 1)
                if int(high) < int(low):
                    raise typer.BadParameter(f"range {part!r} runs backwards")
                seeds.extend(range(int(low), int(high) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use a seed, a range like 42-51, or a list like 1,2,3")
    return seeds


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _table(policy: str, trace: str, runs: list[RunResult], published: dict | None) -> Table:
    table = Table(title=f"{policy} on {trace} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
    table.add_column("arrived %", justify="right")
    table.add_column("alloc % (median)", justify="right")
    table.add_column("min–max", justify="right")
    if published is not None:
        table.add_column("published", justify="right")
        table.add_column("Δ", justify="right")
    medians = median_alloc(runs)
    for bucket, median in medians.items():
        values = [r.alloc_at[bucket] for r in runs if r.alloc_at[bucket] is not None]
        spread = f"{min(values):.2f}–{max(values):.2f}" if values else "—"
        row = [bucket, _fmt(median), spread]
        if published is not None:
            paper = published.get(bucket)
            row += [_fmt(paper), _fmt(median - paper) if median is not None and paper else "—"]
        table.add_row(*row)
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        pods: Path = typer.Option(DATA / "openb_pod_list_default.csv", help="Pod list CSV."),
        nodes: Path = typer.Option(DATA / "openb_node_list_gpu_node.csv", help="Node list CSV."),
        policy: str = typer.Option("fgd", help=f"One of: {', '.join(POLICIES)}."),
        seeds: str = typer.Option("42-51", help="Seeds: 42-51, or 1,2,3."),
        arrive: float = typer.Option(1.3, help="Inflate the workload to this × cluster GPUs."),
        json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
        compare: Path | None = typer.Option(None, help="Published results CSV to show beside."),
    ) -> None:
        """Replay a trace with the published FGD protocol through the scheduling core."""
        err = Console(stderr=True)
        if policy not in POLICIES:
            err.print(f"[red]error:[/] unknown policy {policy!r}; choose one of: {', '.join(POLICIES)}")
            raise typer.Exit(2)
        if not 0 < arrive <= 10:
            err.print(f"[red]error:[/] --arrive {arrive} must be in (0, 10]")
            raise typer.Exit(2)
        seed_list = parse_seeds(seeds)
        try:
            node_list = read_nodes(nodes)
            pod_list = read_pods(pods)
            published = read_published(compare) if compare else None
        except TraceError as error:
            err.print(f"[red]error:[/] {error}", highlight=False)
            raise typer.Exit(2) from None
        runs: list[RunResult] = []
        if json_output:
            for seed in seed_list:
                runs.append(replay(node_list, pod_list, policy=policy, seed=seed, arrive=arrive))
            typer.echo(json.dumps(summary(policy, runs)))
            return
        console = Console()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("replaying", total=len(seed_list))
            for seed in seed_list:
                def step(done: int, total: int, seed: int = seed) -> None:
                    bar.update(task, description=f"seed {seed}: pod {done}/{total}")
                runs.append(replay(node_list, pod_list, policy=policy, seed=seed,
                                   arrive=arrive, progress=step))
                bar.advance(task)
        paper = None
        if published is not None:
            paper = published.get((pods.stem, PAPER_NAMES.get(policy, policy)))
        console.print(_table(policy, pods.stem, runs, paper))
        seconds = [r.seconds for r in runs]
        console.print(f"{len(runs)} run(s), {sum(seconds):.1f} s in all, "
                      f"{sum(seconds) / len(runs):.2f} s per run")
