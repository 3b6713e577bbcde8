"""`gpusched submit|jobs|job|cancel|explain|logs`: a user's jobs over the REST API."""

from __future__ import annotations

import codecs
import math
import time
import uuid
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.text import Text

from scheduler.cli import cluster_commands, token_commands, top
from scheduler.cli.client import ApiClient, ApiError, path_for
from scheduler.cli.explain_view import explanation
from scheduler.cli.history import events_table
from scheduler.cli.logs import LogCursor
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
    print_json,
)
from scheduler.cli.render import job_detail, jobs_table
from scheduler.protocol import FINAL_STATUSES, JobStatus

SUBMIT_EXAMPLE = "gpusched submit --queue QUEUE --gpus 0.5 -- python train.py"


def parse_gpus(text: str) -> int | float:
    """`--gpus` as the API wants it: a whole number stays an int (2), a fraction a float (0.5)."""
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a number: give a fraction like 0.5 or a whole count like 2"
        ) from None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{text!r} is not a finite number")
    return int(value) if value.is_integer() and value >= 1 else value


def parse_env(pairs: list[str]) -> dict[str, str]:
    """`--env K=V` pairs as a dict; a pair without `=` or with an empty name is refused."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        env[key.strip()] = value
    return env


def submit_body(
    *,
    queue: str,
    command: list[str],
    gpus: str | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The POST /v1/jobs body: what was given, nothing the server should default."""
    body: dict[str, Any] = {"queue": queue, "command": command}
    if gpus is not None:
        body["gpus"] = parse_gpus(gpus)
    body.update({key: value for key, value in options.items() if value is not None})
    return body


def register(app: typer.Typer) -> None:
    """Add the job commands, then the queue/node groups and `top`."""

    @app.command(context_settings={"allow_interspersed_args": False})
    def submit(
        command: Annotated[
            list[str] | None,
            typer.Argument(help="The command to run, after `--`.", metavar="-- COMMAND..."),
        ] = None,
        queue: Annotated[str, typer.Option("--queue", "-q", help="Queue to submit to.")] = "",
        gpus: Annotated[
            str | None,
            typer.Option("--gpus", "-g", help="GPUs per replica: a fraction (0.5) or whole (2)."),
        ] = None,
        gpu_memory: Annotated[
            int | None, typer.Option("--gpu-memory", help="GPU memory per replica, MiB.", min=1)
        ] = None,
        cpu: Annotated[int | None, typer.Option("--cpu", help="CPU per replica, millicores.", min=0)] = None,
        memory: Annotated[
            int | None, typer.Option("--memory", help="Memory per replica, MiB.", min=0)
        ] = None,
        replicas: Annotated[
            int | None,
            typer.Option("--replicas", "-n", help="Replicas; more than 1 is a gang.", min=1),
        ] = None,
        priority: Annotated[int | None, typer.Option("--priority", help="Job priority.")] = None,
        no_preempt: Annotated[
            bool, typer.Option("--no-preempt", help="Never evict this job for another.")
        ] = False,
        no_requeue: Annotated[
            bool, typer.Option("--no-requeue", help="If preempted, stay preempted.")
        ] = False,
        env: Annotated[list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE (repeatable).")] = None,
        name: Annotated[str | None, typer.Option("--name", help="A name to find it by.")] = None,
        json_output: JsonOption = False,
        output: OutputOption = OutputFormat.TABLE,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Submit a job; prints its id."""
        if not queue:
            raise typer.BadParameter(f"which queue? e.g. {SUBMIT_EXAMPLE}", param_hint="--queue")
        if not command:
            raise typer.BadParameter(f"give the command after `--`: {SUBMIT_EXAMPLE}")
        if gpus is None and gpu_memory is None:
            raise typer.BadParameter(f"how many GPUs? e.g. {SUBMIT_EXAMPLE}", param_hint="--gpus")
        options: dict[str, Any] = {
            "gpu_memory_mib": gpu_memory,
            "cpu_millis": cpu,
            "memory_mib": memory,
            "replicas": replicas,
            "priority": priority,
            "preemptible": False if no_preempt else None,
            "requeue": False if no_requeue else None,
            "env": parse_env(env) if env else None,
            "name": name,
        }
        body = submit_body(queue=queue, command=list(command), gpus=gpus, options=options)
        # One key per invocation: the client's retry after a reset finds the job already made.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        with connect(url, token) as api:
            response = api.request("POST", "/v1/jobs", json=body, headers=headers)
            job = api.json_of(response)
        if response.headers.get("Idempotent-Replayed") == "true":
            # Only after a retry: the first attempt reached the server and made the job.
            err_console().print("[dim]the server already had this submission: no second job[/dim]")
        if json_wanted(output, json_output):
            print_json(job)
        else:
            typer.echo(job.get("id", "") if isinstance(job, dict) else job)

    @app.command()
    def jobs(
        queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue.")] = None,
        status: Annotated[JobStatus | None, typer.Option("--status", "-s", help="Only this status.")] = None,
        limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.", min=1)] = 200,
        json_output: JsonOption = False,
        output: OutputOption = OutputFormat.TABLE,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """List jobs, newest first."""
        with connect(url, token) as api:
            found, total = api.list_page(
                "/v1/jobs", limit=limit, queue=queue, status=status.value if status else None
            )
        if json_wanted(output, json_output):
            print_json(found)
        elif not found:
            err_console().print("no jobs" + (f" in queue {queue}" if queue else ""))
        else:
            console().print(jobs_table(found))
        if not json_wanted(output, json_output) and total is not None and total > len(found):
            err_console().print(f"[dim]{len(found)} of {total} shown; --limit for more[/dim]")

    @app.command()
    def job(
        job_id: Annotated[str, typer.Argument(metavar="ID", help="Job id.")],
        json_output: JsonOption = False,
        output: OutputOption = OutputFormat.TABLE,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Show one job: request, status, where it runs or last ran, why it waits, its events."""
        as_json = json_wanted(output, json_output)
        with connect(url, token) as api:
            found = api.get(path_for("jobs", job_id))
            history = None if as_json else _events_of(api, job_id)
        if as_json:
            print_json(found)
            return
        console().print(job_detail(found))
        if history:
            console().print(Text(""), events_table(history))

    @app.command()
    def cancel(
        job_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Job ids.")],
        json_output: JsonOption = False,
        output: OutputOption = OutputFormat.TABLE,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Cancel jobs (running ones are stopped); exit 1 if any could not be cancelled."""
        failed = 0
        replies: list[Any] = []
        as_json = json_wanted(output, json_output)
        with connect(url, token) as api:
            for job_id in job_ids:
                try:
                    reply = api.send("DELETE", path_for("jobs", job_id))
                except ApiError as err:
                    if err.status in (None, 401):
                        raise  # the server or the token is the problem, not this job
                    failed += 1
                    err_console().print(f"[red]error:[/red] {escape(job_id)}: {escape(str(err))}")
                    continue
                replies.append(reply)
                status = reply.get("status") if isinstance(reply, dict) else None
                if not as_json:
                    typer.echo(f"{job_id}: {status or 'cancelled'}")
        if as_json:
            print_json(replies)
        if failed:
            raise typer.Exit(1)

    @app.command()
    def explain(
        job_id: Annotated[str, typer.Argument(metavar="ID", help="Job id.")],
        json_output: JsonOption = False,
        output: OutputOption = OutputFormat.TABLE,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Why a job is pending: ranked reasons with numbers, and node failures per check."""
        with connect(url, token) as api:
            answer = api.get(path_for("jobs", job_id, "explain"))
        if json_wanted(output, json_output):
            print_json(answer)
        else:
            console().print(explanation(answer))

    @app.command()
    def logs(
        job_id: Annotated[str, typer.Argument(metavar="ID", help="Job id.")],
        follow: Annotated[
            bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
        ] = False,
        replica: Annotated[int | None, typer.Option("--replica", help="Only this replica.", min=0)] = None,
        interval: Annotated[
            float, typer.Option("--interval", help="Seconds between polls with --follow.", min=0)
        ] = 1.0,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Print a job's output (with --follow, until it finishes)."""
        with connect(url, token) as api:
            if not follow:
                text = _read_log(api, job_id, replica).content.decode(errors="replace")
                typer.echo(text, nl=False)
                if not text:
                    err_console().print(f"[dim]no output from job {escape(job_id)} yet[/dim]")
                return
            try:
                _follow_logs(api, job_id=job_id, replica=replica, interval=interval)
            except KeyboardInterrupt:
                return

    cluster_commands.register(app)
    token_commands.register(app)
    top.register(app)


def _events_of(api: ApiClient, job_id: str) -> list[Any] | None:
    """The job's event log; None from a server that keeps none (one older than the route)."""
    try:
        found = api.get(path_for("jobs", job_id, "events"))
    except ApiError as err:
        if err.status == 404:
            return None
        raise
    return found if isinstance(found, list) else None


def _read_log(api: ApiClient, job_id: str, replica: int | None) -> httpx.Response:
    """One read of a job's log: the server sends its last `tail_bytes` (the whole of a short log)."""
    return api.request("GET", path_for("jobs", job_id, "logs"), params={"replica": replica})


def _follow_logs(api: ApiClient, *, job_id: str, replica: int | None, interval: float) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    cursor = LogCursor()
    while True:
        # Status first, then logs: whatever was written before the job ended is read after it.
        status = api.get(path_for("jobs", job_id)).get("status")
        content = _read_log(api, job_id, replica).content  # "" until the job writes
        chunk, gap = cursor.advance(content=content)
        if gap:
            err_console().print("[dim]... (output skipped: it grew faster than read)[/dim]")
        if chunk:
            typer.echo(decoder.decode(chunk), nl=False)
        elif status in FINAL_STATUSES:
            typer.echo(decoder.decode(b"", final=True), nl=False)
            err_console().print(f"[dim]job {job_id} {status}[/dim]")
            return
        time.sleep(interval)
