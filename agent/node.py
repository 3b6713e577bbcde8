"""One node's agent: sample the GPUs, attribute and police processes, heartbeat, reconcile."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from agent import procfs
from agent.devices import DeviceSource, GpuSample, sample_to_json
from agent.reporter import MAX_BACKOFF_SECONDS, Reporter
from agent.runner import Runner
from agent.spec import ReplicaKey, memory_limit_mib
from agent.watchdog import Watchdog
from scheduler import protocol

if TYPE_CHECKING:  # redis is imported only by agents that stream telemetry
    from agent.stream import TelemetryStream

log = logging.getLogger(__name__)
DEFAULT_FENCE_SECONDS = 10.0
"""How long an agent goes without a successful heartbeat before the first reply said otherwise."""
LEASE_MARGIN_SECONDS = 1.0
"""The replicas' own watchers fire this much after the agent's fence: a live agent goes first."""


@dataclass
class NodeAgent:
    """Everything one node does once per interval (`tick`); the device source is the only seam."""

    name: str
    source: DeviceSource
    runner: Runner
    reporter: Reporter
    watchdog: Watchdog
    cpu_millis: int
    memory_mib: int
    enforcement: str = "none"
    labels: dict[str, str] = field(default_factory=dict)
    upload_logs: bool = True
    stream: TelemetryStream | None = None
    interval: float = 1.0
    lock: TextIO | None = None
    """The node's agent lock file, held open while this agent runs."""
    clock: Callable[[], float] = time.monotonic
    fence_seconds: float = DEFAULT_FENCE_SECONDS
    """Silence after which this agent stops its replicas: the scheduler may run them elsewhere."""
    last_heartbeat_ok: float = field(init=False)
    """When the last heartbeat reply came (at first: when this agent started)."""
    fenced: bool = False

    def __post_init__(self) -> None:
        self.last_heartbeat_ok = self.clock()

    def node_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "cpu_millis": self.cpu_millis, "memory_mib": self.memory_mib,
            "labels": dict(self.labels), "enforcement": self.enforcement,
            "gpus": [gpu.model_dump() for gpu in self.source.inventory()],
        }

    def tick(self) -> dict[str, Any]:
        """One round; returns the heartbeat body it sent (or tried to send)."""
        self.runner.poll()
        try:
            samples = self.source.sample()
        except Exception:
            # A broken sampler must not stop heartbeats: the node would look dead, its jobs lost.
            log.exception("node %s: reading GPUs failed; heartbeat without telemetry", self.name)
            samples = []
        gpu_memory = {gpu.uuid: gpu.memory_mib for gpu in self.source.inventory()}
        telemetry, usage = self._attribute(samples)
        self._police(usage, gpu_memory)
        self._feed_simulation()
        if self.upload_logs and self.reporter.connected:
            self._upload_logs()
        body = {"node": self.node_json(), "telemetry": telemetry, "replicas": self.runner.report()}
        finished = protocol.FINISHED_STATES
        reported = [k for k, r in self.runner.replicas.items() if r.state in finished]
        # The agent retries often, fenced or not: a scheduler back after a short outage must hear
        # from it before its fence, and one back after a long outage must hear the exits it kept
        # before the node timeout (counted from the scheduler's start) declares the node lost.
        self.reporter.max_backoff = min(MAX_BACKOFF_SECONDS, self.fence_seconds / 10)
        reply = self.reporter.heartbeat(body)
        if reply is None:
            self._fence_if_silent()
        else:
            self._follow(reply, reported=reported, gpu_memory=gpu_memory)
        if self.stream is not None:
            self.stream.publish(self.name, telemetry)
        return body

    def _follow(self, reply: dict[str, Any], *, reported: list[ReplicaKey],
                gpu_memory: dict[str, int]) -> None:
        """Act on a heartbeat reply: acknowledgements, then the desired set, then the timings."""
        if self.fenced:
            log.warning("node %s: the scheduler answers again; resuming", self.name)
            self.fenced = False
        self.last_heartbeat_ok = self.clock()
        fence = reply.get("fence_seconds")
        if isinstance(fence, int | float) and not isinstance(fence, bool) and fence > 0:
            self.fence_seconds = float(fence)
        self.runner.renew_lease(seconds=self.fence_seconds + LEASE_MARGIN_SECONDS)
        # A scheduler from before acknowledgements recorded every report it answered.
        legacy = "acknowledged" not in reply
        acked = set(reported) if legacy else _parse_acknowledged(reply["acknowledged"])
        # A finished replica may be forgotten once the scheduler has its end and its whole log.
        self.runner.acknowledge(k for k in acked if self._log_flushed(k))
        desired, keep = _parse_desired(reply["desired"])
        self.runner.reconcile(desired, gpu_memory=gpu_memory, keep=keep)
        seconds = reply.get("heartbeat_seconds")
        if isinstance(seconds, int | float) and seconds > 0:
            self.interval = min(60.0, max(0.2, float(seconds)))

    def _fence_if_silent(self) -> None:
        """Past fence_seconds without a reply, stop everything: the scheduler may requeue it."""
        silent = self.clock() - self.last_heartbeat_ok
        if silent < self.fence_seconds:
            return
        if not self.fenced:
            log.warning("node %s: no successful heartbeat for %.0f s; fencing: stopping %d "
                        "replicas", self.name, silent, len(self.runner.running()))
            self.fenced = True
        # Every tick while fenced, so that nothing adopted or missed keeps running.
        self.runner.stop_all(reason=f"the agent fenced itself: no successful heartbeat for "
                                    f"{silent:.0f} s (fence_seconds {self.fence_seconds:g})")

    def _attribute(
        self, samples: list[GpuSample]
    ) -> tuple[list[dict[str, Any]], dict[ReplicaKey, dict[str, int]]]:
        """Telemetry with each GPU process named by its replica, and MiB per replica per GPU."""
        sessions = self.runner.sessions()
        leaders = set(sessions)
        usage: dict[ReplicaKey, dict[str, int]] = {}
        telemetry = []
        for sample in samples:
            procs = []
            for proc in sample.processes:
                leader = procfs.owning_session(proc.pid, leaders) if leaders else None
                key = sessions.get(leader) if leader is not None else None
                procs.append({"pid": proc.pid, "memory_mib": proc.memory_mib,
                              "job_id": key[0] if key else None,
                              "replica": key[1] if key else None})
                if key is not None:
                    per_gpu = usage.setdefault(key, {})
                    per_gpu[sample.uuid] = per_gpu.get(sample.uuid, 0) + proc.memory_mib
            telemetry.append(sample_to_json(sample, procs))
        return telemetry, usage

    def _police(self, usage: dict[ReplicaKey, dict[str, int]], gpu_memory: dict[str, int]) -> None:
        running = {k: r for k, r in self.runner.replicas.items() if r.state == "running"}
        limits = {k: memory_limit_mib(r.spec, gpu_memory) for k, r in running.items()}
        over = {v.key: v for v in self.watchdog.check(usage=usage, limits=limits)}
        for key, rep in running.items():
            if rep.stop_deadline is not None:
                continue  # already being stopped; keep the reason it is stopped for
            verdict = over.get(key)
            if verdict is None:
                rep.over_grant = False
                continue
            if not rep.over_grant:
                log.warning("%s/%d %s", key[0], key[1], verdict.describe())
            rep.over_grant, rep.message = True, verdict.describe()
            if rep.spec.kill_over_grant:
                self.runner.stop(key, reason="killed by the watchdog: " + verdict.describe())

    def _feed_simulation(self) -> None:
        set_load = getattr(self.source, "set_load", None)
        if set_load is None:
            return
        load: dict[str, int] = {}
        for rep in self.runner.replicas.values():
            if rep.state == "running":
                for gpu in rep.spec.gpus:
                    load[gpu.uuid] = load.get(gpu.uuid, 0) + gpu.milli
        set_load(load)

    def _upload_logs(self) -> None:
        changed = False
        for key, rep in self.runner.replicas.items():
            try:
                offset = self.reporter.upload_log(job_id=key[0], replica=key[1], attempt=key[2],
                                                  path=self.runner.log_path(key),
                                                  offset=rep.log_offset)
            except OSError as exc:  # an unreadable log must not stop the heartbeat after it
                log.warning("node %s: cannot read the log of %s: %s", self.name, key, exc)
                continue
            changed |= offset != rep.log_offset
            rep.log_offset = offset
        if changed:
            self.runner.save()

    def _log_flushed(self, key: ReplicaKey) -> bool:
        rep = self.runner.replicas.get(key)
        if not self.upload_logs or rep is None:
            return True
        try:
            return self.runner.log_path(key).stat().st_size <= rep.log_offset
        except FileNotFoundError:
            return True

    def close(self) -> None:
        """Stop talking and release devices; the replicas keep running for the next agent."""
        self.runner.save()
        self.reporter.close()
        self.source.close()
        if self.stream is not None:
            self.stream.close()
        if self.lock is not None:
            self.lock.close()


def _parse_desired(
    entries: list[Any],
) -> tuple[list[protocol.DesiredReplica], frozenset[ReplicaKey]]:
    """Valid entries, and the keys of invalid ones (left as they are rather than stopped)."""
    specs: list[protocol.DesiredReplica] = []
    keep: set[ReplicaKey] = set()
    for entry in entries if isinstance(entries, list) else []:
        try:
            specs.append(protocol.DesiredReplica.model_validate(entry))
        except ValidationError as exc:
            job_id = entry.get("job_id") if isinstance(entry, dict) else None
            log.error("ignoring a desired replica the agent cannot run (job %r): %s",
                      job_id, _first_error(exc))
            if isinstance(entry, dict) and isinstance(entry.get("replica"), int):
                attempt = entry.get("attempt", 1)
                keep.add((str(entry.get("job_id")), entry["replica"],
                          attempt if isinstance(attempt, int) else 1))
    return specs, frozenset(keep)


def _parse_acknowledged(entries: Any) -> set[ReplicaKey]:
    """The (job, replica, attempt) keys the scheduler recorded; malformed entries are skipped."""
    keys: set[ReplicaKey] = set()
    for entry in entries if isinstance(entries, list) else []:
        try:
            acked = protocol.ReplicaKey.model_validate(entry)
        except ValidationError:
            continue
        keys.add((acked.job_id, acked.replica, acked.attempt))
    return keys


def _first_error(error: ValidationError) -> str:
    """The first problem, naming the field: one line for the log."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the entry"
    return f"{where}: {first['msg']}"
