"""`schemathesis run --checks all` against the real app on SQLite: 0 failures, and the bootstrap
admin token survives.

The app runs in uvicorn on a loopback port without the scheduling loop, and no agent is attached
(its one node is cordoned, too): nothing is ever bound, so no fuzzed command reaches a process.
One check is excluded by name: `use_after_free` ("a deleted resource is still readable"), since
a cancelled job (`DELETE /v1/jobs/{id}`) stays readable by design. The bootstrap token is kept
by `_keeping`: token ids are small integers, so a fuzzer revokes the first one within seconds
(issue 12 item 6), and a revocation of the last admin token answering 409 would not stop it
once the fuzzer has made another admin token. Examples per operation and the seed are fixed,
so the run is short (about 25 s on one core) and the same on every machine.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_app
from scheduler.protocol import GpuSpec, NodeSpec
from scheduler.settings import Settings
from scheduler.store import nodes, tokens
from scheduler.store.tables import QueueRow

_ROOT = Path(__file__).resolve().parents[2]
_SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
_EXAMPLES = 30
_SEED = 20261208


def _keeping(app: ASGIApp, *, token: str, token_id: int) -> ASGIApp:
    """`app`, where the bootstrap admin revoking its own token gets 409 (documented there)."""

    def is_revocation(scope: Scope) -> bool:
        prefix = "/v1/tokens/"
        path: str = scope["path"]
        if scope["method"] != "DELETE" or not path.startswith(prefix):
            return False
        with contextlib.suppress(ValueError):
            if int(path[len(prefix) :]) == token_id:
                return (b"authorization", f"Bearer {token}".encode()) in scope["headers"]
        return False

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_revocation(scope):
            keep = JSONResponse({"detail": "the bootstrap token is kept"}, status_code=409)
            await keep(scope, receive, send)
            return
        await app(scope, receive, send)

    return guarded


@contextlib.contextmanager
def _served(home: Path) -> Iterator[tuple[str, str, int]]:
    """The app on a free loopback port: (base URL, bootstrap admin token, its id)."""
    app = create_app(Settings(home=home, db=f"sqlite:///{home / 'gpusched.db'}"))
    with app.state.sessions() as session:
        raw, row = tokens.create(session, "admin", now=time.time(), name="bootstrap")
        session.add(QueueRow(name="vision", deserved_milli=2000, created_at=time.time()))
        node, _ = nodes.upsert(
            session,
            NodeSpec(
                name="node-a", cpu_millis=64000, memory_mib=512000,
                gpus=[GpuSpec(index=0, uuid="GPU-a-0", model="A100", memory_mib=81920)],
            ),
            now=time.time(),
        )
        node.cordoned = True
        session.commit()
        token_id = row.id
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kept = _keeping(app, token=raw, token_id=token_id)
    server = uvicorn.Server(uvicorn.Config(kept, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {port}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", raw, token_id
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_schemathesis_all_checks_find_nothing(tmp_path: Path) -> None:
    with _served(tmp_path) as (url, admin, admin_id):
        command = [
            str(_SCHEMATHESIS),
            "--config-file", str(_ROOT / "tests/api/schemathesis.toml"),
            "run", f"{url}/openapi.json",
            "--header", f"Authorization: Bearer {admin}",
            "--checks", "all",
            "--exclude-checks", "use_after_free",
            "--max-examples", str(_EXAMPLES),
            "--seed", str(_SEED),
            "--workers", "1",
            "--generation-database", "none",
            "--request-timeout", "30",
            "--no-color",
        ]  # fmt: skip
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280)
        assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-4000:]
        assert " passed" in run.stdout and "failure" not in run.stdout.split("SUMMARY")[-1]
        survivor = httpx.get(f"{url}/v1/tokens", headers={"Authorization": f"Bearer {admin}"})
        assert survivor.status_code == 200
        assert admin_id in [token["id"] for token in survivor.json()]
