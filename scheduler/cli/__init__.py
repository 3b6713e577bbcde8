"""The `gpusched` command: each module registers one group of subcommands on the typer app."""
