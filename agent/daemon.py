"""Build the node agents (real GPUs or `--simulate-gpus`) and run them at an interval."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from agent.devices import DeviceSource
from agent.node import NodeAgent
from agent.nvml import NvmlSource
from agent.reporter import Reporter
from agent.runner import Runner
from agent.simulated import SimulatedSource, parse_simulate_spec
from agent.watchdog import Watchdog

log = logging.getLogger(__name__)
# Resources a simulated node offers per GPU (roughly a DGX's CPU and memory per GPU).
SIM_CPU_MILLIS_PER_GPU = 8000
SIM_MEMORY_MIB_PER_GPU = 65536


@dataclass
class AgentConfig:
    """How `gpusched agent` (or `gpusched up`'s embedded agent) runs."""

    server: str
    home: Path
    token: str | None = None
    join_token: str | None = None
    replace: bool = False
    """Join under the name of a lost node (a join token made with --allow-replace)."""
    simulate_gpus: str | None = None
    name: str = field(default_factory=socket.gethostname)
    interval: float = 1.0
    redis_url: str | None = None
    upload_logs: bool = True
    """False when the agent shares GPUSCHED_HOME with the scheduler and writes logs in place."""
    nvml_library: str | None = field(
        default_factory=lambda: os.environ.get("GPUSCHED_NVML_LIBRARY")
    )
    """An NVML library to load instead of the driver's libnvidia-ml.so.1 (tests, odd installs)."""
    over_grant_grace_seconds: float = 10.0
    labels: dict[str, str] = field(default_factory=dict)
    replica_lease: bool = True
    """Replicas stop themselves when this agent dies and stays silent past fence_seconds. Off
    for `gpusched up`, whose agent dies only with its scheduler (nothing can run them elsewhere)."""


def mps_available() -> bool:
    """True when an MPS control daemon listens (its pipe directory holds `control`)."""
    pipe_dir = os.environ.get("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps")
    return Path(pipe_dir, "control").exists()


def build_agents(config: AgentConfig) -> list[NodeAgent]:
    """One NodeAgent per node: the local GPUs, or each simulated node (NAME-sim-0, -1, ...)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", config.name):
        raise ValueError(f"bad node name {config.name!r}: use letters, digits, '.', '_' or '-'")
    stream = None
    if config.redis_url:
        from agent.stream import TelemetryStream  # redis-py only where it is used

        stream = TelemetryStream(config.redis_url)
    if config.simulate_gpus:
        spec = parse_simulate_spec(config.simulate_gpus)
        nodes: list[tuple[str, DeviceSource, str]] = []
        for name in node_token_files(config):
            nodes.append((name, SimulatedSource(node_name=name, spec=spec), "none"))
        cpu, memory = (spec.gpus_per_node * SIM_CPU_MILLIS_PER_GPU,
                       spec.gpus_per_node * SIM_MEMORY_MIB_PER_GPU)
        labels = {**config.labels, "gpusched.io/simulated": "true"}
    else:
        mps = mps_available()
        nvml = NvmlSource(library_path=config.nvml_library)
        nodes = [(config.name, nvml, "mps" if mps else "watchdog")]
        cpu, memory = (os.cpu_count() or 1) * 1000, _host_memory_mib()
        labels = {**config.labels, "gpusched.io/nvidia-driver": nvml.driver_version}
    # Sharing the scheduler's home, logs go where it reads them; otherwise they are uploaded, and
    # kept apart so an agent run beside the scheduler with the same home never doubles a log.
    log_dir = config.home / "agent" / "logs" if config.upload_logs else config.home / "logs"
    agents = []
    for name, source, enforcement in nodes:
        node_dir = config.home / "agent" / name
        lock = _lock_node(node_dir, name)
        agents.append(NodeAgent(
            name=name,
            source=source,
            runner=Runner(log_dir=log_dir, state_file=node_dir / "replicas.json",
                          mps_available=enforcement == "mps",
                          lease_file=node_dir / "run" / "lease" if config.replica_lease else None),
            reporter=Reporter(server=config.server, node=name, token_file=node_dir / "token",
                              token=_token_for(config, node_dir / "token"),
                              join_token=config.join_token, replace=config.replace),
            watchdog=Watchdog(grace_seconds=config.over_grant_grace_seconds),
            cpu_millis=cpu,
            memory_mib=memory,
            enforcement=enforcement,
            labels=dict(labels),
            upload_logs=config.upload_logs,
            stream=stream,
            interval=config.interval,
            lock=lock,
        ))
    return agents


def node_token_files(config: AgentConfig) -> dict[str, Path]:
    """The nodes `config` runs (NAME, or NAME-sim-0, -1, ...), each with its node token's file.

    Raises ValueError for a bad --simulate-gpus.
    """
    names = [config.name]
    if config.simulate_gpus:
        count = parse_simulate_spec(config.simulate_gpus).nodes
        names = [f"{config.name}-sim-{i}" for i in range(count)]
    return {name: config.home / "agent" / name / "token" for name in names}


def run_agents(agents: list[NodeAgent], *, stop: threading.Event, stop_jobs: bool = False) -> None:
    """Tick every agent once per interval until `stop` is set; one bad tick never ends the loop.

    With `stop_jobs`, the replicas are stopped (SIGTERM, grace, SIGKILL) before the agents close;
    otherwise they keep running for the next agent to adopt.
    """
    while not stop.is_set():
        began = time.monotonic()
        for agent in agents:
            try:
                agent.tick()
            except Exception:
                log.exception("agent %s: tick failed; trying again next interval", agent.name)
        interval = min(agent.interval for agent in agents)
        stop.wait(max(0.0, interval - (time.monotonic() - began)))
    if stop_jobs:
        stop_replicas(agents, reason="stopped with the agent (gpusched up without --keep-jobs)")
    for agent in agents:
        agent.close()


def stop_replicas(agents: list[NodeAgent], *, reason: str, poll_seconds: float = 0.05) -> None:
    """Stop every replica of `agents` and wait until each is gone (its grace, then SIGKILL)."""
    for agent in agents:
        agent.runner.stop_all(reason=reason)
    deadlines = [rep.stop_deadline for agent in agents for rep in agent.runner.replicas.values()
                 if rep.stop_deadline is not None]
    # SIGKILL goes at the deadline; a few seconds more let the killed processes be reaped.
    give_up = max(deadlines, default=time.time()) + 5.0
    while any(agent.runner.running() for agent in agents) and time.time() < give_up:
        for agent in agents:
            agent.runner.poll()
        time.sleep(poll_seconds)
    for agent in agents:
        for key in agent.runner.running():
            log.error("agent %s: %s/%d still runs after SIGKILL", agent.name, key[0], key[1])


def start_in_thread(config: AgentConfig) -> tuple[threading.Thread, threading.Event]:
    """Run the agents in a daemon thread (as `gpusched up` embeds them); set the event to stop."""
    agents = build_agents(config)
    stop = threading.Event()
    thread = threading.Thread(target=run_agents, args=(agents,), kwargs={"stop": stop},
                              name="gpusched-agent", daemon=True)
    thread.start()
    return thread, stop


def _token_for(config: AgentConfig, node_token_file: Path) -> str | None:
    """--token, else the joined node token (the Reporter reads it), else the home's admin token."""
    # The admin-token fallback serves an agent started beside the scheduler with no flags, the
    # way the CLI finds its token; the server decides whether it accepts it for agent endpoints.
    if config.token or config.join_token or node_token_file.exists():
        return config.token
    admin = config.home / "admin-token"
    return (admin.read_text().strip() or None) if admin.exists() else None


def _lock_node(node_dir: Path, name: str) -> TextIO:
    """Hold the node's lock for the agent's life: two agents on one state would run jobs twice."""
    node_dir.mkdir(parents=True, exist_ok=True)
    lock = open(node_dir / "agent.lock", "a+")  # noqa: SIM115 (held until NodeAgent.close)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        home = node_dir.parent.parent
        raise ValueError(f"another agent (pid {holder}) already runs node {name} from {home}; "
                         "stop it or use another --home/--name") from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _host_memory_mib() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0
