"""The standalone runner: starts replicas as process groups, stops them, survives restarts."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agent import procfs
from agent.lease import WRAPPER, write_lease
from agent.replica import STATE_VERSION, Replica, describe, file_stem
from agent.spec import ReplicaKey, memory_limit_mib
from scheduler.protocol import FINISHED_STATES, DesiredReplica

log = logging.getLogger(__name__)


class Runner:
    """Keeps the node's processes in line with `desired`; one log per replica and attempt."""

    def __init__(
        self,
        *,
        log_dir: Path,
        state_file: Path,
        mps_available: bool = False,
        lease_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log_dir = log_dir
        self._lease_file = lease_file
        self._state_file = state_file
        self._run_dir = state_file.parent / "run"
        self._mps = mps_available
        self._clock = clock
        self._children: dict[ReplicaKey, subprocess.Popen[bytes]] = {}
        self.replicas: dict[ReplicaKey, Replica] = {}
        self._load()

    # -- the desired set -----------------------------------------------------------------
    def reconcile(
        self,
        desired: Iterable[DesiredReplica],
        *,
        gpu_memory: dict[str, int],
        keep: frozenset[ReplicaKey] = frozenset(),
    ) -> None:
        """Start what is desired and not known, stop what runs and is not desired (or kept).

        A finished replica is forgotten once acknowledged and no longer desired; a desired one
        that this node ran already (the same attempt) is never started again.
        """
        wanted = {spec.key: spec for spec in desired}
        changed = False
        for key, spec in wanted.items():
            if key not in self.replicas:
                self._start(spec, gpu_memory)
                changed = True
        newer = {(job_id, replica): attempt for job_id, replica, attempt in wanted}
        for key, rep in list(self.replicas.items()):
            if key in wanted or key in keep:
                continue
            try:
                if rep.state == "running":
                    self.stop(key, reason=_why_undesired(key, newer))
                elif rep.state in FINISHED_STATES and rep.acknowledged:
                    self._forget(key)
                    changed = True
            except Exception:
                # One replica that cannot be handled must not keep the node from the others.
                log.exception("handling %s failed; the other replicas carry on", describe(key))
        if changed:
            self.save()

    def log_path(self, key: ReplicaKey) -> Path:
        """JOB/REPLICA.log for attempt 1 (the name before attempts), JOB/REPLICA.ATTEMPT.log after."""
        return self.log_dir / key[0] / f"{file_stem(key)}.log"

    def _start(self, spec: DesiredReplica, gpu_memory: dict[str, int]) -> None:
        rep = Replica(spec=spec, started_at=self._clock())
        self.replicas[spec.key] = rep
        if not spec.command:
            self._finish(rep, "failed", message="the job has no command")
            return
        missing = [g.uuid for g in spec.gpus if g.uuid not in gpu_memory]
        if missing:
            # CUDA would silently see no device; refuse loudly instead.
            self._finish(rep, "failed", message=f"granted GPU(s) not on this node: {missing}")
            return
        try:
            child = self._spawn(spec, gpu_memory)
        except Exception as exc:
            # Popen raises ValueError as well as OSError (a '=' in an env name, a NUL byte), and
            # whatever fails here, the replica must not stay "running" with no pid.
            self._finish(rep, "failed", message=f"could not start: {exc}")
            log.warning("could not start %s: %s", describe(spec.key), exc)
            return
        self._children[spec.key] = child
        rep.pid = child.pid
        stat = procfs.read_stat(child.pid)
        rep.start_ticks = stat.start_ticks if stat else 0
        log.info("started %s as pid %d", describe(spec.key), child.pid)

    def _spawn(self, spec: DesiredReplica, gpu_memory: dict[str, int]) -> subprocess.Popen[bytes]:
        log_path = self.log_path(spec.key)
        exit_file = self._exit_file(spec.key)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._run_dir.mkdir(parents=True, exist_ok=True)
        exit_file.unlink(missing_ok=True)
        env = {**os.environ, **self.replica_env(spec, gpu_memory),
               "GPUSCHED_EXIT_FILE": str(exit_file)}
        with open(log_path, "ab") as out:
            return subprocess.Popen(
                ["/bin/sh", "-c", WRAPPER, "gpusched-replica", *spec.command],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )

    def replica_env(self, spec: DesiredReplica, gpu_memory: dict[str, int]) -> dict[str, str]:
        """The environment a replica gets: its devices, its grant, and its place in the gang."""
        env = dict(spec.env)
        env.update({
            "CUDA_VISIBLE_DEVICES": ",".join(g.uuid for g in spec.gpus),
            "GPUSCHED_JOB_ID": spec.job_id,
            "GPUSCHED_REPLICA_INDEX": str(spec.replica),
            "GPUSCHED_REPLICAS": str(spec.replicas),
            "GPUSCHED_ATTEMPT": str(spec.attempt),
            **({"GPUSCHED_LEASE_FILE": str(self._lease_file),
                "GPUSCHED_FENCE_GRACE": f"{max(0.0, spec.grace_seconds):g}"}
               if self._lease_file else {}),
            "GPUSCHED_GPU_FRACTION": f"{spec.gpu_fraction:g}",
            "MASTER_ADDR": spec.master_addr,
            "MASTER_PORT": str(spec.master_port),
            "WORLD_SIZE": str(spec.replicas),
            "RANK": str(spec.replica),
            "LOCAL_RANK": "0",
            "LOCAL_WORLD_SIZE": "1",
        })
        limit = memory_limit_mib(spec, gpu_memory)
        if limit:
            env["GPUSCHED_GPU_MEMORY_LIMIT_MIB"] = str(limit)
        shared = [g for g in spec.gpus if g.milli < 1000]
        if self._mps and shared:
            # Device ordinals as the replica sees them, after CUDA_VISIBLE_DEVICES renumbering.
            if limit:
                env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = ",".join(
                    f"{i}={limit}M" for i in range(len(spec.gpus)))
            percent = max(1, min(100, round(min(g.milli for g in shared) / 10)))
            env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(percent)
        return env

    # -- watching ------------------------------------------------------------------------
    def poll(self) -> None:
        """Notice exits and carry stops forward (SIGKILL once a grace period runs out)."""
        changed = False
        for key, rep in self.replicas.items():
            if rep.state != "running":
                continue
            try:
                changed |= self._poll_one(key, rep)
            except Exception:
                log.exception("watching %s failed; the other replicas carry on", describe(key))
        if changed:
            self.save()

    def _poll_one(self, key: ReplicaKey, rep: Replica) -> bool:
        """Carry one running replica forward; True when its state changed."""
        if rep.pid is None:  # a state file from an agent whose spawn failed uncaught
            self._finish(rep, "failed", message=rep.message or "never started: no process")
            return True
        owned = key in self._children
        code, gone = self._leader_exit(key, rep)
        if rep.stop_deadline is not None:
            if gone and not procfs.group_alive(rep.pid):
                self._finish(rep, rep.stopped_as, exit_code=code, message=rep.message)
                return True
            if self._clock() >= rep.stop_deadline and not rep.killed_hard:
                _signal_group(rep.pid, signal.SIGKILL)
                rep.killed_hard = True
                return True
            return False
        if not gone:
            return False
        if owned:
            # The job's processes end with it, as in a container. Only for a leader
            # we reaped ourselves: its pgid cannot have been reused yet.
            _signal_group(rep.pid, signal.SIGKILL)
        if self._fenced_file(key).exists():
            # The same prefix as a live agent's fence: the scheduler may tell them by it.
            self._finish(rep, "lost", exit_code=code, message="the agent fenced itself: its "
                         "lease ran out while it was down (SIGTERM, grace, SIGKILL by the "
                         "replica's watcher)")
        elif code is None:
            self._finish(rep, "lost", message="ended while the agent was away; "
                         "exit status unknown")
        else:
            self._finish(rep, "succeeded" if code == 0 else "failed", exit_code=code)
        return True

    def _leader_exit(self, key: ReplicaKey, rep: Replica) -> tuple[int | None, bool]:
        """(exit code if known, whether the replica's leader process is gone)."""
        child = self._children.get(key)
        if child is not None:
            code = child.poll()
            if code is None:
                return None, False
            del self._children[key]
            return (128 - code if code < 0 else code), True
        if rep.pid is None:
            return None, True
        if procfs.is_same_process(rep.pid, rep.start_ticks):
            return None, False
        return self._read_exit_file(key), True

    def stop(self, key: ReplicaKey, *, reason: str, outcome: str = "killed") -> None:
        """SIGTERM the replica's process group now, SIGKILL after its grace period; once gone it
        is reported as `outcome`."""
        rep = self.replicas.get(key)
        if rep is None or rep.state != "running" or rep.stop_deadline is not None:
            return
        rep.message = reason
        rep.stopped_as = outcome
        if rep.pid is None:
            self._finish(rep, outcome, message=reason)
        else:
            rep.stop_deadline = self._clock() + max(0.0, rep.spec.grace_seconds)
            _signal_group(rep.pid, signal.SIGTERM)
        log.info("stopping %s: %s", describe(key), reason)
        self.save()

    def stop_all(self, *, reason: str) -> None:
        """Stop every running replica on the agent's own account (fencing, `gpusched up`
        stopping): each is reported `lost`, so its job is requeued. One failure stops none."""
        for key in list(self.replicas):
            try:
                self.stop(key, reason=reason, outcome="lost")
            except Exception:
                log.exception("stopping %s failed; the other replicas carry on", describe(key))

    def running(self) -> list[ReplicaKey]:
        return [key for key, rep in self.replicas.items() if rep.state == "running"]

    def _finish(self, rep: Replica, state: str, *, exit_code: int | None = None,
                message: str = "") -> None:
        # The exit file stays until the replica is forgotten: with the state file, it is the
        # record of how the replica ended until the scheduler acknowledges it.
        rep.state, rep.exit_code, rep.message = state, exit_code, message
        rep.finished_at = self._clock()
        rep.stop_deadline = None

    def _forget(self, key: ReplicaKey) -> None:
        del self.replicas[key]
        self._exit_file(key).unlink(missing_ok=True)
        self._fenced_file(key).unlink(missing_ok=True)

    def renew_lease(self, *, seconds: float) -> None:
        """Let the replicas run `seconds` more without a heartbeat (no-op without a lease file)."""
        if self._lease_file is None:
            return
        write_lease(self._lease_file, until=self._clock() + seconds)

    def acknowledge(self, keys: Iterable[ReplicaKey]) -> None:
        """The scheduler recorded these finished replicas; they go once no longer desired."""
        changed = False
        for key in keys:
            rep = self.replicas.get(key)
            if rep is not None and rep.state in FINISHED_STATES and not rep.acknowledged:
                rep.acknowledged = changed = True
        if changed:
            self.save()

    def sessions(self) -> dict[int, ReplicaKey]:
        """Session id (the leader's pid) → replica, for every running replica."""
        return {r.pid: k for k, r in self.replicas.items() if r.state == "running" and r.pid}

    def report(self) -> list[dict[str, Any]]:
        return [rep.to_report() for rep in self.replicas.values()]

    # -- persistence ---------------------------------------------------------------------
    def _exit_file(self, key: ReplicaKey) -> Path:
        return self._run_dir / f"{key[0]}.{file_stem(key)}.exit"

    def _fenced_file(self, key: ReplicaKey) -> Path:
        """Made by the lease watcher before it stops the group (the name the wrapper derives)."""
        return self._run_dir / f"{key[0]}.{file_stem(key)}.fenced"

    def _read_exit_file(self, key: ReplicaKey) -> int | None:
        try:
            return int(self._exit_file(key).read_text().strip())
        except (OSError, ValueError):
            return None

    def save(self) -> None:
        """Write the state file atomically (a crash leaves the old or the new one, never half)."""
        rows = [rep.to_row() for rep in self.replicas.values()]
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": STATE_VERSION, "replicas": rows}))
        os.replace(tmp, self._state_file)

    def _load(self) -> None:
        """Adopt replicas a previous agent started that still run; the rest are finished."""
        try:
            data = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.error("agent state %s is unreadable (%s); starting empty", self._state_file, exc)
            return
        for row in data.get("replicas", []):
            try:
                rep = Replica.from_row(row)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                log.error("skipping an unreadable replica in %s: %s", self._state_file, exc)
                continue
            self.replicas[rep.spec.key] = rep
            if rep.state == "running" and rep.pid:
                # poll() then reads the exit file of one that ended, or reports it lost.
                alive = procfs.is_same_process(rep.pid, rep.start_ticks)
                log.info("%s %s (pid %d)", "adopted" if alive else "found ended",
                         describe(rep.spec.key), rep.pid)
        self.poll()


def _why_undesired(key: ReplicaKey, desired_attempts: dict[tuple[str, int], int]) -> str:
    attempt = desired_attempts.get(key[:2])
    if attempt is not None and attempt > key[2]:
        return f"replaced by attempt {attempt} of this replica"
    return "no longer desired on this node (evicted or cancelled)"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
