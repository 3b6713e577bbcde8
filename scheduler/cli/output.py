"""What every client command shares: the --url/--token/--json options, consoles, and error exits."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from scheduler.cli.client import ApiClient, ApiError, resolve_config

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Server URL (default: $GPUSCHED_URL, else http://127.0.0.1:8080).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token (default: $GPUSCHED_TOKEN, else $GPUSCHED_HOME/admin-token).",
        show_default=False,
    ),
]


class OutputFormat(enum.StrEnum):
    """How a command prints what the API answered."""

    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="table (for people) or json (the API's objects)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Short for --output json.")]


def json_wanted(output: OutputFormat, json_flag: bool) -> bool:
    """`--json` is short for `--output json`."""
    return json_flag or output is OutputFormat.JSON


def console() -> Console:
    """A console on the current stdout (made per call so test runners that swap stdout see it)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def err_console() -> Console:
    """A console on the current stderr."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def print_json(payload: Any) -> None:
    """The API's object as indented JSON on stdout, plain (no colour) so it pipes into jq."""
    typer.echo(json.dumps(payload, indent=2, sort_keys=False, default=str))


def fail(message: str) -> NoReturn:
    """Say what went wrong on stderr and exit 1."""
    err_console().print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def remember_connection(ctx: typer.Context, url: str | None, token: str | None) -> None:
    """Let a group's --url/--token (`gpusched queues --url U create ...`) reach its subcommands."""
    obj = ctx.ensure_object(dict)
    if url:
        obj["url"] = url
    if token:
        obj["token"] = token


@contextmanager
def connect(url: str | None, token: str | None, ctx: typer.Context | None = None) -> Iterator[ApiClient]:
    """A client for the configured server; any `ApiError` inside ends the command with exit 1."""
    inherited = ctx.obj if ctx is not None and isinstance(ctx.obj, dict) else {}
    config = resolve_config(url or inherited.get("url"), token or inherited.get("token"))
    try:
        with ApiClient(config) as api:
            yield api
    except ApiError as err:
        fail(str(err))


def list_group(
    ctx: typer.Context,
    *,
    path: str,
    url: str | None,
    token: str | None,
    as_json: bool,
    render: Callable[[list[Any]], Any],
    empty: str | None = None,
) -> None:
    """A group's bare form (`gpusched queues`): list `path` as JSON or as a table."""
    remember_connection(ctx, url, token)
    if ctx.invoked_subcommand is not None:
        return
    with connect(url, token) as api:
        found = api.list_all(path)
    if as_json:
        print_json(found)
    elif not found and empty:
        err_console().print(empty)
    else:
        console().print(render(found))
