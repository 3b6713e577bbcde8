"""A tiny scheduler speaking the agent protocol (docs/agent-protocol.md) for tests, benchmarks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from pydantic import ValidationError

from scheduler.protocol import Heartbeat

JOIN_TOKEN = "gsj_test-join"


class FakeScheduler:
    """Records joins, heartbeats and uploaded logs; `desired[node]` is what it answers.

    It acknowledges every finished replica report (as the store does once it recorded it) unless
    `acknowledge` is off; `legacy` answers as a scheduler from before attempts, acknowledgements
    and fencing did (no `acknowledged`, no `fence_seconds`).
    """

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # node token → node
        self.heartbeats: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[tuple[str, str]] = []
        """Heartbeats the protocol's Heartbeat model refused: (node, why)."""
        self.desired: dict[str, list[dict[str, Any]]] = {}
        self.logs: dict[tuple[str, str, int, int], bytearray] = {}  # (node, job, replica, attempt)
        self.down = False
        self.acknowledge = True
        self.legacy = False
        self.fence_seconds = 10.0
        self.lock = threading.Lock()

    def _reply(self, node: str, beat: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {"desired": self.desired.get(node, []), "heartbeat_seconds": 1.0}
        if self.legacy:
            return reply
        finished = [{"job_id": r["job_id"], "replica": r["replica"], "attempt": r["attempt"]}
                    for r in beat.get("replicas", []) if r["state"] != "running"]
        return {**reply, "fence_seconds": self.fence_seconds,
                "acknowledged": finished if self.acknowledge else []}

    def last_heartbeat(self, node: str) -> dict[str, Any]:
        with self.lock:
            return next(body for name, body in reversed(self.heartbeats) if name == node)

    def handle(self, method: str, path: str, query: dict[str, list[str]], auth: str,
               body: bytes) -> tuple[int, Any]:
        if self.down:
            return 503, {"detail": "down for maintenance"}
        parts = path.strip("/").split("/")
        with self.lock:
            if parts == ["v1", "agents", "join"]:
                data = json.loads(body)
                if data.get("join_token") != JOIN_TOKEN:
                    return 401, {"detail": "unknown or expired join token"}
                name = data["node"]["name"]
                token = f"gsa_{name}"
                self.tokens[token] = name
                return 200, {"node": name, "token": token}
            node = parts[2] if len(parts) > 3 else ""
            if self.tokens.get(auth.removeprefix("Bearer ")) != node:
                return 401, {"detail": "bad node token"}
            if parts[3:] == ["heartbeat"]:
                beat = json.loads(body)
                try:  # the real API's check, so that the agent's bodies are the protocol's
                    Heartbeat.model_validate(beat)
                except ValidationError as error:
                    self.refused.append((node, str(error)))
                    return 422, {"detail": error.errors(include_url=False, include_input=False,
                                                        include_context=False)}
                self.heartbeats.append((node, beat))
                return 200, self._reply(node, beat)
            if parts[3] == "logs":
                key = (node, parts[4], int(parts[5]), int(query.get("attempt", ["1"])[0]))
                current = self.logs.setdefault(key, bytearray())
                offset = int(query["offset"][0])
                if offset != len(current):
                    return 409, {"detail": f"offset {offset}, have {len(current)}",
                                 "size": len(current)}
                current.extend(body)
                return 200, {"size": len(current)}
        return 404, {"detail": "no such endpoint"}


@contextmanager
def serve(scheduler: FakeScheduler) -> Iterator[str]:
    """Run the fake scheduler on a free port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            status, reply = scheduler.handle("POST", url.path, parse_qs(url.query),
                                             self.headers.get("Authorization", ""),
                                             self.rfile.read(length))
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
