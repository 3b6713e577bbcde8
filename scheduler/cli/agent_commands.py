"""`gpusched agent`: the node agent (real GPUs through NVML, or simulated ones)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path

import typer


def _default_home() -> Path:
    return Path(os.environ.get("GPUSCHED_HOME") or Path.home() / ".local/share/gpusched")


def register(app: typer.Typer) -> None:
    @app.command()
    def agent(
        server: str = typer.Option(..., "--server", envvar="GPUSCHED_URL",
                                   help="Scheduler URL, e.g. http://sched:8080"),
        token: str | None = typer.Option(None, "--token", envvar="GPUSCHED_AGENT_TOKEN",
                                         help="Node token (or an admin token)."),
        join_token: str | None = typer.Option(None, "--join-token",
                                              help="Join token from `gpusched nodes join-token`."),
        replace: bool = typer.Option(
            False, "--replace",
            help="Take over the name of a lost (not ready) node; needs a join token made with "
                 "`gpusched nodes join-token --allow-replace`."),
        simulate_gpus: str | None = typer.Option(
            None, "--simulate-gpus",
            help="Simulated nodes NODESxGPUSxMODEL[-MEMORY], e.g. 2x8xA100-80GB."),
        home: Path | None = typer.Option(None, "--home", help="Agent home (logs, state, token)."),
        interval: float = typer.Option(1.0, "--interval", min=0.2, max=60.0,
                                       help="Seconds between samples and heartbeats."),
        name: str = typer.Option(socket.gethostname(), "--name", help="Node name."),
        redis_url: str | None = typer.Option(None, "--redis",
                                             help="Also stream telemetry to Redis."),
        shared_home: bool = typer.Option(
            False, "--shared-home", help="The scheduler reads logs from this home: don't upload."),
        verbose: bool = typer.Option(False, "--verbose", "-v"),
    ) -> None:
        """Run the node agent: report GPUs and run the replicas the scheduler places here."""
        from agent.daemon import AgentConfig, build_agents, run_agents
        from agent.nvml import NvmlError

        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if not verbose:
            logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
        config = AgentConfig(
            server=server, home=home or _default_home(), token=token, join_token=join_token,
            replace=replace, simulate_gpus=simulate_gpus, name=name, interval=interval, redis_url=redis_url,
            upload_logs=not shared_home,
        )
        try:
            agents = build_agents(config)
        except (ValueError, NvmlError) as exc:
            typer.echo(f"error: {exc}", err=True)
            if isinstance(exc, NvmlError):
                typer.echo("no NVIDIA driver here? try --simulate-gpus 1x1xT4", err=True)
            raise typer.Exit(2) from None
        stop = threading.Event()
        # SIGTERM/SIGINT stop the agent only; the replicas keep running and are adopted by an agent
        # back within fence_seconds. Past that, their lease watchers stop them: the scheduler may
        # declare the node lost and run their jobs elsewhere.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        typer.echo(f"agent for {', '.join(a.name for a in agents)} reporting to {server}")
        run_agents(agents, stop=stop)
