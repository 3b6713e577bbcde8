"""`gpusched up` (everything in one process) and `gpusched scheduler` (API + loop)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scheduler.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

REDIS_HELP = "Redis URL for wake-ups, live telemetry and the leader lock (optional)."


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        db: Annotated[str, typer.Option(help="Database URL (default: SQLite in home).")] = "",
        redis: Annotated[str, typer.Option(help=REDIS_HELP)] = "",
        simulate_gpus: Annotated[
            str, typer.Option(help="Simulated nodes, e.g. 2x8xA100-80GB (default: real GPUs).")
        ] = "",
        keep_jobs: Annotated[
            bool,
            typer.Option(help="On Ctrl-C or SIGTERM, leave the jobs running for the next "
                         "`gpusched up` to adopt (default: stop them: SIGTERM, grace, SIGKILL)."),
        ] = False,
    ) -> None:
        """Run the API, the scheduler loop and a local agent in one process."""
        settings = _settings(db=db, redis=redis)
        _serve(settings, host=host, port=port, simulate_gpus=simulate_gpus, local_agent=True,
               keep_jobs=keep_jobs)

    @app.command()
    def scheduler(
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",
        loop: Annotated[
            bool,
            typer.Option(
                help="Run the scheduling loop here too. --no-loop serves the API only: a replica "
                "that leaves the CPU to requests (give --redis so submits wake the loop at once)."
            ),
        ] = True,
        db: Annotated[str, typer.Option(help="Database URL, e.g. postgresql://...")] = "",
        redis: Annotated[str, typer.Option(help=REDIS_HELP)] = "",
    ) -> None:
        """Run the API and the scheduler loop (production; several replicas elect one leader)."""
        settings = _settings(db=db, redis=redis)
        _serve(settings, host=host, port=port, simulate_gpus="", local_agent=False, run_loop=loop)


def _settings(*, db: str, redis: str) -> Settings:
    overrides: dict[str, str] = {}
    if db:
        overrides["db"] = db
    if redis:
        overrides["redis"] = redis
    return Settings(**overrides)  # type: ignore[arg-type]


def _serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    simulate_gpus: str,
    local_agent: bool,
    run_loop: bool = True,
    keep_jobs: bool = False,
) -> None:
    from scheduler.service.build import build_loop
    from scheduler.store.db import make_engine, session_factory, upgrade

    sys.setswitchinterval(settings.gil_switch_interval_seconds)
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    loop = build_loop(settings, session_factory(engine))
    if run_loop:
        loop.start_early()  # the first decision need not wait for the web stack to import

    import uvicorn

    from api.app import create_app
    from api.bootstrap import ensure_admin_token

    app = create_app(settings, engine=engine, run_loop=run_loop, migrate=False, loop=loop)
    token_path = Path(settings.home) / "admin-token"
    ensure_admin_token(app.state.sessions, token_path)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    typer.echo(f"gpusched listening on {url}")
    typer.echo(f"admin token: {token_path} (the CLI reads it; or export GPUSCHED_TOKEN)")
    typer.echo(f"database: {settings.db_url.split('@')[-1]}")
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    stop = threading.Event()
    agent_thread = None
    if local_agent:
        # The local agent: same process, same GPUSCHED_HOME (it writes job logs in place).
        agent_thread = threading.Thread(
            target=_run_local_agent,
            kwargs={"server": server, "url": url, "settings": settings,
                    "sessions": app.state.sessions, "simulate_gpus": simulate_gpus, "stop": stop,
                    "stop_jobs": not keep_jobs},
            name="local-agent",
            daemon=True,
        )
        agent_thread.start()
        # uvicorn handles SIGTERM while it serves, then raises it again under the handler found
        # before: the default one would end the process before the jobs are stopped below.
        signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run()
    finally:
        stop.set()
        if agent_thread is not None:
            # The agent stops the jobs first (unless --keep-jobs): their grace, then SIGKILL.
            agent_thread.join(timeout=10 + (0 if keep_jobs else settings.grace_seconds + 10))


def _run_local_agent(
    *,
    server: Any,
    url: str,
    settings: Settings,
    sessions: sessionmaker[Session],
    simulate_gpus: str,
    stop: threading.Event,
    stop_jobs: bool,
) -> None:
    """Start the node agent once the API answers; without GPUs, say so and keep the API up.

    Each of its nodes speaks with an agent token of its own, minted here, never the admin token.
    """
    from agent.daemon import AgentConfig, build_agents, node_token_files, run_agents
    from agent.nvml import NvmlError
    from api.bootstrap import ensure_node_token

    while not server.started and not stop.is_set():
        time.sleep(0.05)
    config = AgentConfig(
        server=url,
        home=settings.home,
        simulate_gpus=simulate_gpus or None,
        redis_url=settings.redis or None,
        upload_logs=False,
        replica_lease=False,  # the agent dies only with the scheduler: jobs wait for adoption
    )
    try:
        for node, token_file in node_token_files(config).items():
            ensure_node_token(sessions, node=node, path=token_file)
        agents = build_agents(config)
    except (ValueError, NvmlError) as error:
        typer.echo(f"local agent not started: {error}", err=True)
        typer.echo("no NVIDIA driver here? try: gpusched up --simulate-gpus 1x2xA100-80GB", err=True)
        return
    typer.echo(f"local agent for {', '.join(a.name for a in agents)}")
    run_agents(agents, stop=stop, stop_jobs=stop_jobs)
