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
        raise typer.BadParameter(
            f"{text!r}: use a seed, a range like 42-51, or a list like 1,2,3"
        ) from None
    return seeds


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _table(policy: str, trace: str, runs: list[RunResult], published: dict[str, float] | None) -> Table:
    table = Table(title=f"{policy} on {trace} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
    table.add_column("arrived %", justify="right")
    table.add_column("alloc % (median)", justify="right")
    table.add_column("min–max", justify="right")
    if published is not None:
        table.add_column("published", justify="right")
        table.add_column("Δ", justify="right")
    medians = median_alloc(runs)
    for bucket, median in medians.items():
        values = [v for r in runs if (v := r.alloc_at[bucket]) is not None]
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
        if policy not in POLICIES:
            typer.echo(f"error: unknown policy {policy!r}; choose one of: {', '.join(POLICIES)}", err=True)
            raise typer.Exit(2)
        if not 0 < arrive <= 10:
            typer.echo(f"error: --arrive {arrive} must be in (0, 10]", err=True)
            raise typer.Exit(2)
        seed_list = parse_seeds(seeds)
        try:
            node_list = read_nodes(nodes)
            pod_list = read_pods(pods)
            published = read_published(compare) if compare else None
        except TraceError as error:
            typer.echo(f"error: {error}", err=True)
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


def register_bench(app: typer.Typer) -> None:
    @app.command()
    def bench(
        nodes: int = typer.Option(5000, min=1, help="Synthetic nodes."),
        gpus_per_node: int = typer.Option(8, min=0, max=64, help="GPUs per node."),
        jobs: int = typer.Option(50_000, min=0, help="Pending jobs."),
        policy: str = typer.Option("fgd", help=f"One of: {', '.join(POLICIES)}."),
        repeat: int = typer.Option(3, min=1, help="Runs; the median is reported."),
        seed: int = typer.Option(0),
    ) -> None:
        """Placements per second of one allocate pass on a synthetic cluster."""
        import statistics
        import time

        from scheduler.core.config import CycleConfig
        from scheduler.core.cycle import run_cycle
        from scheduler.core.decisions import Bind
        from scheduler.core.model import Snapshot
        from scheduler.sim.synthetic import synthetic_jobs, synthetic_nodes

        if policy not in POLICIES:
            Console(stderr=True).print(f"[red]error:[/] unknown policy {policy!r}")
            raise typer.Exit(2)
        snapshot = Snapshot(
            tuple(synthetic_nodes(nodes, gpus_per_node=gpus_per_node, seed=seed)),
            tuple(synthetic_jobs(jobs, seed=seed)),
        )
        # CPU time of this process: on a shared machine wall time measures the neighbours too.
        rates, seconds, walls, placed = [], [], [], 0
        for _ in range(repeat):
            started, wall = time.process_time(), time.perf_counter()
            result = run_cycle(snapshot, CycleConfig(placement=policy, explain=False), now=0.0)
            elapsed = time.process_time() - started
            walls.append(time.perf_counter() - wall)
            placed = sum(len(d.placements) for d in result.decisions if isinstance(d, Bind))
            seconds.append(elapsed)
            rates.append(placed / elapsed)
        started = time.process_time()
        explained = run_cycle(snapshot, CycleConfig(placement=policy, explain=True), now=0.0)
        with_explain = time.process_time() - started
        typer.echo(json.dumps({
            "nodes": nodes, "gpus": nodes * gpus_per_node, "pending_jobs": jobs, "policy": policy,
            "replicas_placed": placed, "cycle_cpu_seconds_median": round(statistics.median(seconds), 3),
            "cycle_wall_seconds_median": round(statistics.median(walls), 3),
            "placements_per_second_median": round(statistics.median(rates)),
            "cycle_with_explain_cpu_seconds": round(with_explain, 3),
            "jobs_explained": len(explained.reasons),
        }))
