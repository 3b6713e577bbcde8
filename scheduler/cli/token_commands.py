"""`gpusched tokens ...`: admin and queue-scoped user tokens (agent tokens come from joining)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from scheduler.cli.client import path_for
from scheduler.cli.output import (
    JsonOption,
    OutputFormat,
    OutputOption,
    TokenOption,
    UrlOption,
    connect,
    err_console,
    json_wanted,
    list_group,
    print_json,
)
from scheduler.cli.render import LIST_STYLE, age, when

tokens_app = typer.Typer(
    help="Bearer tokens: list (no subcommand), create, revoke (admin).",
    invoke_without_command=True,
    no_args_is_help=False,
)


def tokens_table(tokens: Sequence[Mapping[str, Any]]) -> Table:
    """One row per live token; the secret itself is never listed (the server does not keep it)."""
    table = Table(**LIST_STYLE)
    for header in ("ID", "KIND", "NAME", "QUEUES", "NODE", "AGE", "EXPIRES"):
        table.add_column(header, no_wrap=header != "QUEUES")
    for token in tokens:
        expires = token.get("expires_at")
        table.add_row(
            str(token.get("id", "")),
            str(token.get("kind", "")),
            str(token.get("name", "")),
            ",".join(map(str, token.get("queues") or [])) or "-",
            str(token.get("node") or "-"),
            age(token.get("created_at")),
            when(expires) if expires else "never",
        )
    return table


@tokens_app.callback()
def tokens(
    ctx: typer.Context,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List live tokens."""
    list_group(ctx, path="/v1/tokens", url=url, token=token,
               as_json=json_wanted(output, json_output), render=tokens_table)


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who or what it is for (e.g. a user's name).")],
    queues: Annotated[
        list[str] | None,
        typer.Option("--queue", "-q", help="A queue it may use (repeatable); makes a user token."),
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin token (everything).")] = False,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Make a token; prints it once (the server keeps only its hash)."""
    if admin == bool(queues):
        raise typer.BadParameter("give --queue Q (a user token) or --admin, not both or neither")
    body: dict[str, Any] = {"kind": "admin" if admin else "user", "name": name}
    if queues:
        body["queues"] = list(queues)
    with connect(url, token, ctx) as api:
        made = api.send("POST", "/v1/tokens", body)
    if json_wanted(output, json_output):
        print_json(made)
        return
    typer.echo(made.get("token", ""))
    scope = "everything" if admin else "queues " + ", ".join(queues or [])
    err_console().print(
        f"[dim]token {made.get('id')} for {name} ({scope}); shown only now: "
        "hand it over as GPUSCHED_TOKEN[/dim]"
    )


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id (from the list).")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    with connect(url, token, ctx) as api:
        api.send("DELETE", path_for("tokens", str(token_id)))
    typer.echo(f"token {token_id} revoked")


def register(app: typer.Typer) -> None:
    """Add the `tokens` group."""
    app.add_typer(tokens_app, name="tokens")
