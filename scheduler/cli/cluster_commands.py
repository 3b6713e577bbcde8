"""`gpusched queues ...` and `gpusched nodes ...`: what operators manage over the REST API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scheduler.cli.client import path_for
from scheduler.cli.output import (
    JsonOption,
    OutputFormat,
    OutputOption,
    TokenOption,
    UrlOption,
    connect,
    console,
    err_console,
    json_wanted,
    list_group,
    print_json,
)
from scheduler.cli.render import nodes_table, queues_table, when


def gpu_amount(value: float | None) -> int | float | None:
    """A GPU count for the API: 4.0 is sent as 4, 2.5 stays 2.5."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def queue_changes(
    *,
    deserved: float | None,
    limit: float | None,
    no_limit: bool,
    weight: float | None,
    priority: int | None,
    parent: str | None,
) -> dict[str, Any]:
    """The fields to send (POST or PATCH): only those given; `no_limit` sends limit_gpus null."""
    if no_limit and limit is not None:
        raise typer.BadParameter("give --limit-gpus or --no-limit, not both")
    fields: dict[str, Any] = {
        "parent": parent,
        "deserved_gpus": gpu_amount(deserved),
        "limit_gpus": gpu_amount(limit),
        "over_quota_weight": weight,
        "priority": priority,
    }
    changes = {key: value for key, value in fields.items() if value is not None}
    if no_limit:
        changes["limit_gpus"] = None
    return changes


queues_app = typer.Typer(
    help="Queues and their GPU quotas: list (no subcommand), show, create, set, delete.",
    invoke_without_command=True,
    no_args_is_help=False,
)
nodes_app = typer.Typer(
    help="GPU nodes: list (no subcommand), cordon, uncordon, join-token.",
    invoke_without_command=True,
    no_args_is_help=False,
)

ParentOption = Annotated[
    str | None, typer.Option("--parent", help="Parent queue (the tree shares its quota).")
]
DeservedOption = Annotated[
    float | None, typer.Option("--deserved-gpus", help="GPUs guaranteed to this queue.", min=0.0)
]
LimitOption = Annotated[
    float | None, typer.Option("--limit-gpus", help="Never more than this many GPUs.", min=0.0)
]
WeightOption = Annotated[
    float | None,
    typer.Option("--weight", help="Over-quota weight: share of spare GPUs.", min=0.0),
]
PriorityOption = Annotated[
    int | None, typer.Option("--priority", help="Queues of higher priority get spare GPUs first.")
]


@queues_app.callback()
def queues(
    ctx: typer.Context,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List queues: deserved GPUs, fair share, allocated, pending jobs."""
    list_group(ctx, path="/v1/queues", url=url, token=token,
               as_json=json_wanted(output, json_output), render=queues_table,
               empty="no queues yet: gpusched queues create NAME --deserved-gpus N")


@queues_app.command("show")
def show_queue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Queue name.")],
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show one queue."""
    with connect(url, token, ctx) as api:
        found = api.get(path_for("queues", name))
    if json_wanted(output, json_output):
        print_json(found)
    else:
        console().print(queues_table([found]))


@queues_app.command("create")
def create_queue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Queue name.")],
    deserved: Annotated[
        float, typer.Option("--deserved-gpus", help="GPUs guaranteed to this queue.", min=0.0)
    ],
    parent: ParentOption = None,
    limit: LimitOption = None,
    weight: WeightOption = None,
    priority: PriorityOption = None,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a queue (admin)."""
    body = {"name": name} | queue_changes(
        deserved=deserved,
        limit=limit,
        no_limit=False,
        weight=weight,
        priority=priority,
        parent=parent,
    )
    with connect(url, token, ctx) as api:
        created = api.send("POST", "/v1/queues", body)
    if json_wanted(output, json_output):
        print_json(created)
    else:
        typer.echo(f"queue {name} created")


@queues_app.command("set")
def set_queue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Queue name.")],
    deserved: DeservedOption = None,
    limit: LimitOption = None,
    no_limit: Annotated[bool, typer.Option("--no-limit", help="Remove the GPU limit.")] = False,
    weight: WeightOption = None,
    priority: PriorityOption = None,
    parent: ParentOption = None,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Change a queue's quota, limit, weight, priority or parent (admin)."""
    changes = queue_changes(
        deserved=deserved,
        limit=limit,
        no_limit=no_limit,
        weight=weight,
        priority=priority,
        parent=parent,
    )
    if not changes:
        raise typer.BadParameter(
            "nothing to change: give --deserved-gpus, --limit-gpus, --no-limit, --weight, "
            "--priority or --parent"
        )
    with connect(url, token, ctx) as api:
        updated = api.send("PATCH", path_for("queues", name), changes)
    if json_wanted(output, json_output):
        print_json(updated)
    else:
        typer.echo(f"queue {name} updated: " + ", ".join(f"{k}={v}" for k, v in changes.items()))


@queues_app.command("delete")
def delete_queue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Queue name.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a queue (admin); the server refuses while it has jobs or children."""
    with connect(url, token, ctx) as api:
        api.send("DELETE", path_for("queues", name))
    typer.echo(f"queue {name} deleted")


@nodes_app.callback()
def nodes(
    ctx: typer.Context,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List nodes and their GPUs: model, allocated, utilisation, memory, health."""
    list_group(ctx, path="/v1/nodes", url=url, token=token,
               as_json=json_wanted(output, json_output), render=nodes_table,
               empty="no nodes yet: start an agent, or `gpusched up` for a local one")


def _set_cordon(
    ctx: typer.Context, *, name: str, action: str, as_json: bool, url: str | None, token: str | None
) -> None:
    with connect(url, token, ctx) as api:
        node = api.send("POST", path_for("nodes", name, action))
    if as_json:
        print_json(node)
    else:
        typer.echo(f"node {name} {action}ed")


@nodes_app.command("cordon")
def cordon(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Node name.")],
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Stop placing new jobs on a node; running jobs stay (admin)."""
    as_json = json_wanted(output, json_output)
    _set_cordon(ctx, name=name, action="cordon", as_json=as_json, url=url, token=token)


@nodes_app.command("uncordon")
def uncordon(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Node name.")],
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Let the scheduler place jobs on a node again (admin)."""
    as_json = json_wanted(output, json_output)
    _set_cordon(ctx, name=name, action="uncordon", as_json=as_json, url=url, token=token)


@nodes_app.command("join-token")
def join_token(
    ctx: typer.Context,
    ttl: Annotated[
        float | None,
        typer.Option("--ttl", help="Seconds until it expires (server default: a day).", min=1),
    ] = None,
    uses: Annotated[
        int | None,
        typer.Option("--uses", help="How many nodes may join with it (default: one).", min=1),
    ] = None,
    allow_replace: Annotated[
        bool,
        typer.Option(
            "--allow-replace",
            help="A join with replace may take over the name of a lost (not ready) node.",
        ),
    ] = False,
    json_output: JsonOption = False,
    output: OutputOption = OutputFormat.TABLE,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Make a token a new node's agent joins with (admin); prints the token."""
    with connect(url, token, ctx) as api:
        body: dict[str, Any] = {} if ttl is None else {"ttl_seconds": ttl}
        if uses is not None:
            body["uses"] = uses
        if allow_replace:
            body["allow_replace"] = True
        made = api.send("POST", "/v1/agents/join-tokens", body)
        server = api.config.url
    if json_wanted(output, json_output):
        print_json(made)
        return
    typer.echo(made.get("token", ""))
    expires = made.get("expires_at")
    count = made.get("uses", 1)
    scope = f"{count} join{'s' if count != 1 else ''}"
    if made.get("allow_replace"):
        scope += ", may replace a lost node"
    err_console().print(
        f"[dim]{scope}; expires {when(expires) if expires else 'never'}; the agent on the new "
        f"node joins {server} with it (`gpusched agent --server {server}`)[/dim]"
    )


def register(app: typer.Typer) -> None:
    """Add the `queues` and `nodes` groups."""
    app.add_typer(queues_app, name="queues")
    app.add_typer(nodes_app, name="nodes")
