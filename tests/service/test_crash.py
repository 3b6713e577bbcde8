"""Crash safety: SIGKILL the service while 1,000 jobs stream in and run; restart; walk the store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from scheduler.store.db import make_engine, session_factory
from scheduler.store.tables import JobRow
from tests.support import invariants

JOBS = 1000
NODES = 4
KILL_AFTER = 100  # answered submits of the second batch before the SIGKILL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`gpusched up` as a child process on its own GPUSCHED_HOME."""

    def __init__(self, home: Path, *, extra_args: list[str] | None = None) -> None:
        self.home = home
        self.extra_args = extra_args or []
        self._outputs: list[Any] = []
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "GPUSCHED_HOME": str(self.home),
            "GPUSCHED_NODE_TIMEOUT_SECONDS": "600",
            "GPUSCHED_CYCLE_PERIOD_SECONDS": "1",
        }
        self._outputs = [(self.home / name).open("ab") for name in ("service.out", "service.log")]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from scheduler.cli.main import main; main()",
                "up",
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            env=env,
            # Files, not pipes: a pipe nobody reads fills up and blocks the service.
            stdout=self._outputs[0],
            stderr=self._outputs[1],
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"the service did not come up: {self.log()}")

    def log(self) -> str:
        path = self.home / "service.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def kill(self, sig: signal.Signals = signal.SIGKILL, *, timeout: float = 30) -> int:
        """Send `sig` and wait for the service to exit; its exit status."""
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        for stream in self._outputs:
            stream.close()
        return code

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(self.home / 'admin-token').read_text().strip()}"}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    yield svc
    if svc.process is not None and svc.process.poll() is None:
        svc.kill()


def _node(name: str) -> dict[str, Any]:
    gpus = [
        {"index": i, "uuid": f"GPU-{name}-{i}", "model": "A100-80GB", "memory_mib": 81920}
        for i in range(8)
    ]
    return {"name": name, "cpu_millis": 64000, "memory_mib": 512000, "gpus": gpus}


class KillAfter:
    """SIGKILLs the service from the submitting thread that sees the `count`-th 201 (once)."""

    def __init__(self, service: Service, count: int) -> None:
        self.service = service
        self.count = count
        self.seen = 0
        self.fired = False
        self._lock = threading.Lock()

    def acknowledged(self) -> None:
        with self._lock:
            self.seen += 1
            if self.seen != self.count:
                return
            self.fired = True
            self.service.kill()  # under the lock: no acknowledgement is counted meanwhile


def _submit(
    client: httpx.Client, admin: dict[str, str], n: int, killer: KillAfter | None = None
) -> str | None:
    body = {"queue": "crash", "gpus": (n % 5 + 1) / 10, "command": ["sleep", "1"]}
    try:
        reply = client.post("/v1/jobs", json=body, headers={**admin, "Idempotency-Key": f"k{n}"})
    except httpx.HTTPError:
        return None  # the service died under us: this one is retried after the restart
    if reply.status_code != 201:
        return None
    if killer is not None:
        killer.acknowledged()
    return str(reply.json()["id"])


def _agents_finish_some(client: httpx.Client, tokens: dict[str, str]) -> None:
    """Play the agents: report every desired replica of the node as succeeded."""
    for name, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        reply = client.post(
            f"/v1/agents/{name}/heartbeat", json={"node": _node(name)}, headers=headers
        )
        done = [
            {"job_id": d["job_id"], "replica": d["replica"], "attempt": d["attempt"],
             "state": "succeeded", "exit_code": 0}
            for d in reply.json()["desired"]
        ]
        ended = client.post(
            f"/v1/agents/{name}/heartbeat",
            json={"node": _node(name), "replicas": done},
            headers=headers,
        )
        assert ended.status_code == 200, ended.text


def test_sigkill_mid_run_loses_nothing(service: Service) -> None:
    service.start()
    acknowledged: dict[int, str] = {}
    with httpx.Client(base_url=service.url, timeout=30) as client:
        admin = service.admin
        assert (
            client.post(
                "/v1/queues", json={"name": "crash", "deserved_gpus": 32}, headers=admin
            ).status_code
            == 201
        )
        made = client.post("/v1/agents/join-tokens", json={"uses": NODES}, headers=admin)
        join = made.json()["token"]
        tokens = {}
        for i in range(NODES):
            reply = client.post(
                "/v1/agents/join", json={"join_token": join, "node": _node(f"n{i}")}
            )
            tokens[f"n{i}"] = reply.json()["token"]
        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(lambda n: _submit(client, admin, n), range(JOBS // 2)))
            _agents_finish_some(client, tokens)
            # Keep submitting; the service is killed once KILL_AFTER of this batch are answered.
            killer = KillAfter(service, KILL_AFTER)
            second = list(
                pool.map(lambda n: _submit(client, admin, n, killer), range(JOBS // 2, JOBS))
            )
    assert None not in first
    assert service.process is not None and service.process.returncode == -signal.SIGKILL
    # Killed mid-stream: KILL_AFTER submits of the batch were answered before the kill, and
    # the rest (but a few already on the wire) were not.
    answered = sum(job_id is not None for job_id in second)
    assert killer.fired and KILL_AFTER <= answered < JOBS // 2 - 100, answered
    acknowledged = {n: i for n, i in enumerate(first + second) if i is not None}

    service.start()
    with httpx.Client(base_url=service.url, timeout=30) as client:
        admin = service.admin
        with ThreadPoolExecutor(8) as pool:
            # Retries reuse their key: no duplicates, and acknowledged jobs keep their id.
            again = list(pool.map(lambda n: _submit(client, admin, n), range(JOBS)))
        assert None not in again
        assert all(again[n] == job_id for n, job_id in acknowledged.items())
        # The restarted scheduler places work again and the agents finish some of it.
        deadline = time.monotonic() + 60
        finished_rounds = 0
        while finished_rounds < 3 and time.monotonic() < deadline:
            running = client.get("/v1/jobs?status=running&limit=1", headers=admin)
            if int(running.headers["X-Total-Count"]) > 0:
                _agents_finish_some(client, tokens)
                finished_rounds += 1
            time.sleep(0.3)
        assert finished_rounds == 3, service.log()
    service.kill()

    engine = make_engine(f"sqlite:///{service.home / 'gpusched.db'}")
    with session_factory(engine)() as session:
        assert invariants.violations(session) == []
        total = session.scalar(select(func.count()).select_from(JobRow))
        statuses = dict(
            session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        )
    engine.dispose()
    assert total == JOBS
    assert statuses.get("succeeded", 0) > 0 and sum(statuses.values()) == JOBS
