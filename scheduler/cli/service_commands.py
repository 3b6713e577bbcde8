"""`gpusched up` (everything in one process) and `gpusched scheduler` (API + loop)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from scheduler.service.settings import Settings


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        db: Annotated[str, typer.Option(help="Database URL (default: SQLite in home).")] = "",
        redis: Annotated[str, typer.Option(help="Redis URL for wake-ups (optional).")] = "",
        simulate_gpus: Annotated[
            str, typer.Option(help="Simulated nodes, e.g. 2x8xA100-80GB (default: real GPUs).")
        ] = "",
    ) -> None:
        """Run the API, the scheduler loop and a local agent in one process."""
        settings = _settings(db=db, redis=redis)
        _serve(settings, host=host, port=port, simulate_gpus=simulate_gpus, local_agent=True)

    @app.command()
    def scheduler(
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",
        db: Annotated[str, typer.Option(help="Database URL, e.g. postgresql://...")] = "",
        redis: Annotated[str, typer.Option(help="Redis URL for wake-ups (optional).")] = "",
    ) -> None:
        """Run the API and the scheduler loop (production; several replicas elect one leader)."""
        settings = _settings(db=db, redis=redis)
        _serve(settings, host=host, port=port, simulate_gpus="", local_agent=False)


def _settings(*, db: str, redis: str) -> Settings:
    overrides: dict[str, str] = {}
    if db:
        overrides["db"] = db
    if redis:
        overrides["redis"] = redis
    return Settings(**overrides)  # type: ignore[arg-type]


def _serve(
    settings: Settings, *, host: str, port: int, simulate_gpus: str, local_agent: bool
) -> None:
    import uvicorn

    from api.app import create_app
    from api.bootstrap import ensure_admin_token

    settings.home.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, run_loop=True)
    token_path = Path(settings.home) / "admin-token"
    ensure_admin_token(app.state.sessions, token_path)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    typer.echo(f"gpusched listening on {url}")
    typer.echo(f"admin token: {token_path} (the CLI reads it; or export GPUSCHED_TOKEN)")
    typer.echo(f"database: {settings.db_url.split('@')[-1]}")
    if local_agent:
        # HOOK(local agent): the `agent` package starts here, sharing GPUSCHED_HOME (it writes
        # job logs directly) and joining with a join token minted from the admin token. The lead
        # wires it after merging the agent branch; until then `up` runs API + loop only.
        os.environ.setdefault("GPUSCHED_URL", url)
        if simulate_gpus:
            typer.echo(f"simulated GPUs requested: {simulate_gpus} (started by the local agent)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
