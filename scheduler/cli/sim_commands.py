"""`gpusched simulate` and `gpusched bench`: trace replay and scale benchmarks on the core."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate() -> None:
        """Replay a trace (being built)."""
        raise typer.Exit(1)
