"""The real gpusched app on a loopback port, state set up through its API, and a CLI runner.

No double of our own server: the CLI talks HTTP to `create_app` served by uvicorn in a thread,
on a SQLite database of its own. Its transport notes every request (what the CLI sent) and can
lose a reply or answer for a proxy in between — faults of the network, not of the API.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from api.app import create_app
from scheduler.cli import client_commands, output
from scheduler.cli.client import ApiClient
from scheduler.settings import Settings
from scheduler.store import tokens
from scheduler.store.db import make_engine, session_factory, upgrade
from tests.api.conftest import node_spec


@dataclass
class Seen:
    """One request the CLI sent."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Recorder(httpx.BaseTransport):
    """The CLI's transport: real HTTP, each request noted; replies may be lost or interposed."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.requests: list[Seen] = []
        self.lose: dict[tuple[str, str], int] = {}
        """(method, path) → how many more replies to lose after the server carried them out."""
        self.interpose: dict[tuple[str, str], Callable[[], httpx.Response]] = {}
        """(method, path) → what a proxy answers instead of the server."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        path = request.url.raw_path.decode().split("?")[0]  # as sent: a quoted `/` stays %2F
        key = (request.method, path)
        self.requests.append(
            Seen(
                method=request.method,
                path=path,
                query=dict(request.url.params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=json.loads(content) if content else None,
            )
        )
        if key in self.interpose:
            return self.interpose[key]()
        response = self._inner.handle_request(request)
        if self.lose.get(key, 0) > 0:
            self.lose[key] -= 1
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer")
        return response

    def close(self) -> None:
        """Kept open: the CLI closes its client after every command."""

    def shut(self) -> None:
        self._inner.close()


@dataclass
class Cluster:
    """The running server, an admin client for setting up state, and what the CLI sent it."""

    url: str
    app: FastAPI
    admin_token: str
    http: httpx.Client
    transport: Recorder
    agents: dict[str, dict[str, str]]

    @property
    def requests(self) -> list[Seen]:
        return self.transport.requests

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = self.http.request(method, path, **kwargs)
        assert reply.is_success, reply.text
        return reply.json() if reply.content else None

    def queue(self, name: str, **fields: Any) -> dict[str, Any]:
        return dict(self.ok("POST", "/v1/queues", json={"name": name, "deserved_gpus": 0, **fields}))

    def submit(self, queue: str, gpus: float = 1, **fields: Any) -> dict[str, Any]:
        body = {"queue": queue, "gpus": gpus, "command": ["python", "train.py"], **fields}
        return dict(self.ok("POST", "/v1/jobs", json=body))

    def token(self, kind: str, **fields: Any) -> str:
        with self.app.state.sessions() as session:
            raw, _ = tokens.create(session, kind, now=time.time(), name=f"t-{kind}", **fields)
            session.commit()
        return raw

    def join(self, name: str, gpus: int = 2, memory_mib: int = 81920) -> None:
        """Join a node as its agent does, and report once so it is ready."""
        join = self.ok("POST", "/v1/agents/join-tokens", json={})
        body = {"join_token": join["token"], "node": node_spec(name, gpus, memory_mib)}
        reply = httpx.post(f"{self.url}/v1/agents/join", json=body)
        assert reply.status_code == 201, reply.text
        self.agents[name] = {"Authorization": f"Bearer {reply.json()['token']}"}
        self.heartbeat(name, gpus=gpus, memory_mib=memory_mib)

    def heartbeat(
        self, name: str, *, gpus: int = 2, memory_mib: int = 81920, **body: Any
    ) -> dict[str, Any]:
        """One heartbeat of node `name`'s agent (a hand-written body); returns the reply."""
        reply = httpx.post(
            f"{self.url}/v1/agents/{name}/heartbeat",
            json={"node": node_spec(name, gpus, memory_mib), **body},
            headers=self.agents[name],
        )
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def cycle(self) -> None:
        """One scheduling cycle, as the loop of `gpusched up` runs them."""
        self.app.state.loop.run_once()

    def report(self, node: str, job_id: str, state: str, replica: int = 0, **fields: Any) -> None:
        """Node `node`'s agent reports a replica of `job_id` in `state` (running, succeeded, ...)."""
        replica_report = {"job_id": job_id, "replica": replica, "attempt": 1, "state": state,
                          "pid": 4242, **fields}
        self.heartbeat(node, replicas=[replica_report])

    def write_log(self, job_id: str, text: str, replica: int = 0) -> None:
        """The job's output so far, as the log route reads it from disk."""
        path = self.app.state.settings.logs_dir / job_id / f"{replica}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test serves a copy of it."""
    path = tmp_path_factory.mktemp("template") / "gpusched.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def api(migrated_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    db = tmp_path / "server" / "gpusched.db"
    db.parent.mkdir()
    shutil.copy(migrated_db, db)
    settings = Settings(home=tmp_path / "server", db=f"sqlite:///{db}")
    engine = make_engine(settings.db_url)
    app = create_app(settings, engine=engine, migrate=False)
    with session_factory(engine)() as session:
        admin, _ = tokens.create(session, "admin", now=time.time(), name="admin")
        session.commit()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # uvicorn offers no event to wait on
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    transport = Recorder()
    monkeypatch.setattr(output, "ApiClient", functools.partial(ApiClient, transport=transport))
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    try:
        yield Cluster(url, app, admin, http, transport, agents={})
    finally:
        http.close()
        transport.shut()
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        engine.dispose()


def make_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """gpusched (test copy)."""

    client_commands.register(app)
    return app


APP = make_app()


@dataclass
class Cli:
    """Runs `gpusched ARGS` in-process, GPUSCHED_URL/TOKEN/HOME pointing at the test server."""

    env: dict[str, str | None]

    def __call__(self, *args: str, **env: str | None) -> Result:
        return CliRunner().invoke(APP, list(args), env={**self.env, **env}, catch_exceptions=False)


@pytest.fixture
def cli(api: Cluster, tmp_path: Path) -> Cli:
    return Cli(
        env={
            "GPUSCHED_URL": api.url,
            "GPUSCHED_TOKEN": api.admin_token,
            "GPUSCHED_HOME": str(tmp_path / "home"),
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
    )


@pytest.fixture
def dead_url() -> str:
    """The URL of a port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}"
