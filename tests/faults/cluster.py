"""A cluster of real processes on loopback: `gpusched scheduler`, agents, or `gpusched up`."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.faults.checker import Run, load_runs
from tests.faults.processes import MARKER_VAR, Proc, free_port, gpusched_argv, kill_marked
from tests.faults.watcher import Watcher

T = TypeVar("T")
GPUS = "1x8xA100-80GB"
# Shortened but not razor-thin on a loaded 2-core machine; node_timeout > fence + grace. The
# fence stays at its default: a restarted scheduler takes seconds to answer, and a scheduler
# outage longer than the fence stops every running job (the agent cannot tell it from a
# partition), which the chaos run must not do.
TIMINGS = {
    "heartbeat_seconds": 0.5,
    "fence_seconds": 10.0,
    "grace_seconds": 3.0,
    "node_timeout_seconds": 17.0,
    "cycle_period_seconds": 0.5,
    "leader_lease_seconds": 3.0,
}
FINAL = ("succeeded", "failed", "preempted", "cancelled")


def wait_for(check: Callable[[], T | None], *, seconds: float, what: str,
             diagnose: Callable[[], str] = lambda: "") -> T:
    """Poll `check` until it returns something true; errors of a server that is down, and
    lookups into answers that are not complete yet (no node listed yet), count as not yet.
    Fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value: T | None
        try:
            value = check()
        except (httpx.HTTPError, IndexError, KeyError, ValueError):  # not there yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}\n{diagnose()}")
        time.sleep(0.2)


def eventually(check: Callable[[], object], *, seconds: float) -> bool:
    """Whether `check` comes true within `seconds` (for what a test reports rather than awaits)."""
    try:
        wait_for(check, seconds=seconds, what="")
    except AssertionError:
        return False
    return True


class Cluster:
    """Processes sharing one marks directory; `close` leaves no process of theirs behind."""

    def __init__(self, root: Path, *, db: str = "", timings: dict[str, float] | None = None) -> None:
        self.root = root
        self.home = root / "scheduler"
        self.marks = root / "marks"
        for folder in (self.home, self.marks):
            folder.mkdir(parents=True, exist_ok=True)
        self.marker = uuid.uuid4().hex
        self.timings = {**TIMINGS, **(timings or {})}
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Proc | None = None
        self.agents: dict[str, Proc] = {}
        self.watcher = Watcher(self.marks)
        self.watcher.start()
        self._client: httpx.Client | None = None

    # -- processes -----------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("GPUSCHED_") or k == "GPUSCHED_NVML_LIBRARY"}
        env.update({f"GPUSCHED_{k.upper()}": f"{v:g}" for k, v in self.timings.items()})
        env.update({"GPUSCHED_HOME": str(self.home), MARKER_VAR: self.marker})
        if self.db:
            env["GPUSCHED_DB"] = self.db
        return env

    def start_scheduler(self) -> None:
        """`gpusched scheduler` (API + loop) on this cluster's port, home and database."""
        argv = gpusched_argv("scheduler", "--host", "127.0.0.1", "--port", str(self.port))
        self.server = Proc(argv, env=self.env(), log=self.root / "scheduler.log")
        self._await_server()

    def start_one_node(self, name: str = "a") -> str:
        """A scheduler with the default queue and one agent, ready; returns the node's name."""
        self.start_scheduler()
        self.queue()
        self.start_agent(name)
        node = f"{name}-sim-0"
        self.wait_ready(node)
        return node

    def start_up(self, *args: str) -> Proc:
        """`gpusched up` (API, loop and the embedded agent in one process) instead."""
        argv = gpusched_argv("up", "--host", "127.0.0.1", "--port", str(self.port), *args)
        self.server = Proc(argv, env=self.env(), log=self.root / "up.log")
        self._await_server()
        return self.server

    def _await_server(self) -> None:
        server = self.server
        assert server is not None

        def up() -> bool:
            if not server.running():
                raise AssertionError(f"the server exited: {server.tail()}")
            reply = httpx.get(f"{self.url}/healthz", timeout=2)
            return reply.status_code == 200 and (self.home / "admin-token").exists()

        wait_for(up, seconds=90, what="the server to answer", diagnose=server.tail)

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.kill()

    def start_agent(self, name: str, *, join: bool = True, server: str = "") -> Proc:
        """`gpusched agent` for node NAME-sim-0 with 8 simulated GPUs and a home of its own,
        talking to `server` (default: the scheduler); `join=False` restarts one that already
        holds its node token."""
        args = ["agent", "--server", server or self.url, "--simulate-gpus", GPUS, "--name", name,
                "--home", str(self.root / f"agent-{name}")]
        if join:
            args += ["--join-token", self.join_token()]
        proc = Proc(gpusched_argv(*args), env=self.env(), log=self.root / f"agent-{name}.log")
        self.agents[name] = proc
        return proc

    def join_token(self, **body: Any) -> str:
        reply = self.api().post("/v1/agents/join-tokens", json=body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["token"])

    def signal_agent(self, name: str, sig: signal.Signals) -> None:
        self.agents[name].signal(sig)

    def kill_agent(self, name: str) -> None:
        self.agents[name].kill()

    # -- the API -------------------------------------------------------------------------
    def admin_token(self) -> str:
        return (self.home / "admin-token").read_text().strip()

    def api(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=15,
                                        headers={"Authorization": f"Bearer {self.admin_token()}"})
        return self._client

    def queue(self, name: str = "faults", gpus: float = 16) -> str:
        reply = self.api().post("/v1/queues", json={"name": name, "deserved_gpus": gpus})
        assert reply.status_code == 201, reply.text
        return name

    def submit(self, command: list[str], *, gpus: float, key: str | None = None,
               queue: str = "faults", **fields: Any) -> str:
        """Submit a job (retried with one Idempotency-Key while the server is down)."""
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        body = {"queue": queue, "gpus": gpus, "command": command, **fields}

        def post() -> str | None:
            reply = self.api().post("/v1/jobs", json=body, headers=headers)
            if reply.status_code >= 500:
                return None
            assert reply.status_code == 201, reply.text
            return str(reply.json()["id"])

        return wait_for(post, seconds=60, what="a submit to be accepted", diagnose=self.diagnose)

    def job(self, job_id: str) -> dict[str, Any]:
        reply = self.api().get(f"/v1/jobs/{job_id}")
        reply.raise_for_status()
        return dict(reply.json())

    def statuses(self, ids: list[str]) -> dict[str, str]:
        return {job_id: self.job(job_id)["status"] for job_id in ids}

    def all_statuses(self) -> dict[str, str]:
        """Every job's status, in one request (the chaos run has hundreds)."""
        reply = self.api().get("/v1/jobs", params={"limit": 1000})
        reply.raise_for_status()
        return {row["id"]: row["status"] for row in reply.json()}

    def heard_from(self, node: str, *, since: float) -> bool:
        """Whether the node's agent has heartbeated since `since` (wall time)."""
        rows = [n for n in self.api().get("/v1/nodes").json() if n["name"] == node]
        return bool(rows) and (rows[0]["last_heartbeat_at"] or 0) > since

    def wait_status(self, ids: list[str], status: str | tuple[str, ...] = "succeeded", *,
                    seconds: float = 90) -> dict[str, str]:
        wanted = (status,) if isinstance(status, str) else status

        def reached() -> dict[str, str] | None:
            now = self.statuses(ids)
            return now if all(s in wanted for s in now.values()) else None

        return wait_for(reached, seconds=seconds, what=f"jobs {ids} to be {wanted}",
                        diagnose=lambda: f"{self.statuses(ids)}\n{self.diagnose()}")

    def wait_final(self, ids: list[str], *, seconds: float = 90) -> dict[str, str]:
        """Wait until every job has ended (however it ended); their statuses."""
        return self.wait_status(ids, FINAL, seconds=seconds)

    def node_ready(self, node: str) -> bool | None:
        """The node's readiness as the API shows it; None while it is unknown."""
        for row in self.api().get("/v1/nodes").json():
            if row["name"] == node:
                return bool(row["ready"])
        return None

    def wait_ready(self, node: str, ready: bool = True, *, seconds: float = 60) -> None:
        wait_for(lambda: self.node_ready(node) is ready, seconds=seconds,
                 what=f"node {node} ready={ready}", diagnose=self.diagnose)

    # -- marks -----------------------------------------------------------------------------
    def started(self, job_id: str) -> list[Any]:
        """The start marks of a job's runs so far."""
        return sorted(self.marks.glob(f"start.{job_id}.*"))

    def wait_started(self, ids: list[str], *, runs: int = 1, seconds: float = 60) -> None:
        wait_for(lambda: all(len(self.started(j)) >= runs for j in ids), seconds=seconds,
                 what=f"{runs} run(s) of each of {ids} to start", diagnose=self.diagnose)

    def alive(self, job_id: str) -> bool:
        self.watcher.poll()
        return any(mark.job == job_id for mark in self.watcher.alive())

    def wait_all_gone(self, *, seconds: float = 60) -> None:
        """Wait until no job process of this cluster is alive (so every run has its end)."""

        def gone() -> bool:
            self.watcher.poll()
            return not self.watcher.alive()

        wait_for(gone, seconds=seconds, what="every job process to end",
                 diagnose=lambda: f"alive: {self.watcher.alive()}")

    def runs(self) -> list[Run]:
        self.watcher.poll()
        return load_runs(self.marks, self.watcher.gone_times())

    def diagnose(self) -> str:
        procs = [("server", self.server), *self.agents.items()]
        return "\n".join(f"--- {name}:\n{proc.tail(1500)}" for name, proc in procs if proc)

    # -- teardown --------------------------------------------------------------------------
    def close(self) -> list[int]:
        """Kill every process of this cluster, jobs included; returns any that survived."""
        if self._client is not None:
            self._client.close()
        for proc in [self.server, *self.agents.values()]:
            if proc is not None:
                proc.signal(signal.SIGCONT)  # a stopped agent must be able to die
                proc.kill()
        survivors = kill_marked(self.marker)
        self.watcher.stop()
        # Kept beside the marks for whoever reads a failure: what the watcher saw, and when.
        gone = self.watcher.gone_times()
        (self.root / "observed-gone.json").write_text(json.dumps(gone, indent=1, sort_keys=True))
        return survivors
