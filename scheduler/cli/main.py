"""Entry point of the `gpusched` command."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gpusched",
    help="GPU cluster scheduler: fair-share queues, fractional GPUs, gangs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """GPU cluster scheduler: fair-share queues, fractional GPUs, gangs."""


def _register_all() -> None:
    # Each command group lives in its own module and adds itself here.
    from scheduler.cli import (
        agent_commands,
        client_commands,
        fairshare_commands,
        service_commands,
        sim_commands,
    )

    sim_commands.register(app)
    sim_commands.register_bench(app)
    fairshare_commands.register(app)
    agent_commands.register(app)
    client_commands.register(app)
    service_commands.register(app)


def main() -> None:
    _register_all()
    app()
