"""A small real HTTP server with canned answers per the REST contract, and a CLI runner."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from typer.testing import CliRunner, Result

from scheduler.cli import client_commands


@dataclass
class Seen:
    """One request the fake server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    text: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without answering (a reset as the client sees it)."""


Handler = Callable[[Seen], Reply]


class FakeApi:
    """Routes (method, path) to replies; a list is served in order, the last one sticks."""

    Reply = Reply

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def on(self, method: str, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self.routes[(method, path)] = replies[0]
        else:
            self.routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.on(method, path, Reply(status=status, body=body))

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def _answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            route = self.routes.get((seen.method, seen.path))
            if route is None:
                return Reply(404, {"detail": f"no route {seen.method} {seen.path}"})
            if callable(route):
                return route(seen)
            return route.pop(0) if len(route) > 1 else route[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
                reply = api._answer(seen)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.text is not None:
                    data = reply.text.encode() if isinstance(reply.text, str) else reply.text
                    content_type = "text/plain; charset=utf-8"
                elif reply.body is not None:
                    data = json.dumps(reply.body).encode()
                    content_type = "application/json"
                else:
                    data, content_type = b"", "application/json"
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return _Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    server.start()
    yield server
    server.stop()


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
def cli(api: FakeApi, tmp_path: Path) -> Cli:
    return Cli(
        env={
            "GPUSCHED_URL": api.url,
            "GPUSCHED_TOKEN": "gsk_test_admin",
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
