"""One replica as the agent keeps it: its state, its report, its row in the state file."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from agent.spec import ReplicaKey
from scheduler.protocol import DesiredReplica

STATE_VERSION = 2
"""Version 2 keys replicas by attempt; version 1 files (no attempt, `reported`) still load."""


@dataclass
class Replica:
    """One replica this node runs or ran, as it is reported in heartbeats."""

    spec: DesiredReplica
    state: str = "running"
    pid: int | None = None
    start_ticks: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    over_grant: bool = False
    message: str = ""
    stop_deadline: float | None = None
    """Set while stopping: when SIGKILL follows the SIGTERM already sent."""
    killed_hard: bool = False
    stopped_as: str = "killed"
    """The state reported once a stop completes: `killed` when the scheduler no longer wants the
    replica, `lost` when the agent stopped it on its own (fenced, or `gpusched up` stopping), so
    the scheduler requeues the job instead of failing it."""
    acknowledged: bool = False
    """The scheduler recorded this finished replica; it is forgotten once no longer desired."""
    log_offset: int = 0
    """Bytes of its log already uploaded to the scheduler."""

    def to_report(self) -> dict[str, Any]:
        return {
            "job_id": self.spec.job_id, "replica": self.spec.replica,
            "attempt": self.spec.attempt, "state": self.state,
            "pid": self.pid, "exit_code": self.exit_code, "started_at": self.started_at,
            "finished_at": self.finished_at, "over_grant": self.over_grant, "message": self.message,
        }

    def to_row(self) -> dict[str, Any]:
        """The replica as a row of the state file."""
        row = {k: v for k, v in vars(self).items() if k != "spec"}
        return {"spec": self.spec.model_dump(mode="json"), **row}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Replica:
        """Read a state-file row of either version; raises KeyError/TypeError/ValueError."""
        row = dict(row)
        spec = DesiredReplica.model_validate(row.pop("spec"))  # version 1 has no attempt: 1
        if "reported" in row:  # version 1: "a heartbeat carried its end" served as the ack
            row.setdefault("acknowledged", row.pop("reported"))
        known = {f.name for f in fields(cls)} - {"spec"}
        return cls(spec=spec, **{k: v for k, v in row.items() if k in known})


def file_stem(key: ReplicaKey) -> str:
    """REPLICA for attempt 1 (the name from before attempts), REPLICA.ATTEMPT after."""
    _, replica, attempt = key
    return str(replica) if attempt == 1 else f"{replica}.{attempt}"


def describe(key: ReplicaKey) -> str:
    return f"{key[0]}/{key[1]} (attempt {key[2]})"
