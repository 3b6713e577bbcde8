"""What crosses the wire between the scheduler and its agents, declared once for both ends.

The API validates the agent's bodies with these models and builds its replies from them; the
agent builds its bodies from them and parses the replies with them (docs/agent-protocol.md).
The pending reason stored per job, and the job and replica states, are declared here too.
Only pydantic, the standard library and the pure core's enums are imported: the agent uses
this module without the store, the service or the API.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scheduler.core.decisions import WaitKind
from scheduler.core.model import JobStatus
from scheduler.protocol_types import (
    INT64_MAX,
    Int64,
    NodeName,
    Text,
    Whole,
    as_whole,
    check_json_text,
)

__all__ = [
    "FINAL_STATUSES",
    "FINISHED_STATES",
    "MAX_ATTEMPT",
    "DesiredGpu",
    "DesiredReplica",
    "GpuSample",
    "GpuSpec",
    "Heartbeat",
    "HeartbeatReply",
    "JobStatus",
    "NodeSpec",
    "PendingReasonJson",
    "ProcessSample",
    "ReasonItemJson",
    "ReplicaKey",
    "ReplicaReport",
    "ReplicaState",
    "WaitKind",
]

# Strict like the user-facing bodies (`true` is not 1, "1" is not 1); Whole still takes 2.0.
_WIRE = ConfigDict(strict=True)
MAX_ATTEMPT = 2_147_483_647


class ReplicaState(enum.StrEnum):
    """A replica as its agent reports it; every state but `running` is final."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    """The agent lost it or stopped it on its own (fenced): the job is requeued, not failed."""
    KILLED = "killed"
    """Stopped by the agent: no longer desired, or over its grant."""

    @property
    def finished(self) -> bool:
        return self is not ReplicaState.RUNNING


FINISHED_STATES = frozenset(state for state in ReplicaState if state.finished)
FINAL_STATUSES = frozenset(status for status in JobStatus if status.final)
"""Job statuses it does not leave: succeeded, failed, preempted, cancelled."""


# -- the node's inventory ------------------------------------------------------------------


class GpuSpec(BaseModel):
    """One GPU of the node's inventory (NODE.gpus[])."""

    model_config = ConfigDict(strict=True, frozen=True)

    index: Whole = Field(ge=0, le=1023)
    uuid: Text = Field(max_length=96)
    model: Text = Field(max_length=64)
    memory_mib: Whole = Field(ge=0, le=100_000_000)
    compute_capability: Text = Field(default="", max_length=16)
    mig_mode: bool = False


class NodeSpec(BaseModel):
    """A node as its agent sees it (NODE): sent at join and in every heartbeat."""

    model_config = _WIRE

    name: NodeName
    cpu_millis: Whole = Field(ge=0, le=1_000_000_000)
    memory_mib: Whole = Field(ge=0, le=1_000_000_000_000)
    labels: dict[Text, Text] = Field(default_factory=dict, max_length=256)
    enforcement: Literal["none", "watchdog", "mps"] = "none"
    gpus: list[GpuSpec] = Field(default_factory=list, max_length=1024)

    @field_validator("gpus")
    @classmethod
    def _unique_indices(cls, gpus: list[GpuSpec]) -> list[GpuSpec]:
        indices = [gpu.index for gpu in gpus]
        if len(set(indices)) != len(indices):
            raise ValueError(f"GPU indices must be unique; got {indices}")
        return gpus


# -- the heartbeat ---------------------------------------------------------------------------


class ProcessSample(BaseModel):
    """A process seen on a GPU, named by the replica it belongs to when the agent knows it."""

    model_config = _WIRE

    pid: Whole = Field(ge=0, le=INT64_MAX)
    memory_mib: float = Field(default=0, ge=0, le=1e15, allow_inf_nan=False)
    job_id: Text | None = Field(default=None, max_length=32)
    replica: Annotated[int, Field(ge=0, le=100_000), as_whole] | None = None


class GpuSample(BaseModel):
    """The latest reading of one GPU; unknown extra fields are kept with the sample."""

    model_config = ConfigDict(extra="allow", strict=True)

    index: Whole = Field(ge=0, le=1023)
    uuid: Text = Field(default="", max_length=96)
    utilization: float | None = Field(default=None, allow_inf_nan=False)
    memory_used_mib: Annotated[int, Field(ge=0, le=INT64_MAX), as_whole] | None = None
    temperature_c: float | None = Field(default=None, allow_inf_nan=False)
    power_w: float | None = Field(default=None, allow_inf_nan=False)
    sm_clock_mhz: Int64 | None = None
    mem_clock_mhz: Int64 | None = None
    ecc_double_bit: Int64 = 0
    xid_errors: list[Int64] = Field(default_factory=list, max_length=10_000)
    healthy: bool = True
    health_reason: Text = Field(default="", max_length=10_000)
    processes: list[ProcessSample] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _extras_are_text(self) -> GpuSample:
        for key, value in (self.model_extra or {}).items():
            check_json_text(key, "a field name")
            check_json_text(value, key)
        return self


class ReplicaReport(BaseModel):
    """One replica the agent still knows: running, stopping, or finished and not yet forgotten."""

    model_config = _WIRE

    job_id: Text = Field(max_length=32)
    replica: Whole = Field(ge=0, le=100_000)
    attempt: Whole = Field(ge=1, le=MAX_ATTEMPT)
    """Echoed from the desired entry that started it: the report applies to that binding only."""
    # A JSON string, not an enum member: lax here takes exactly the state names.
    state: ReplicaState = Field(strict=False)
    pid: Annotated[int, Field(ge=0, le=INT64_MAX), as_whole] | None = None
    exit_code: Int64 | None = None
    started_at: float | None = Field(default=None, allow_inf_nan=False)
    finished_at: float | None = Field(default=None, allow_inf_nan=False)
    over_grant: bool = False
    message: Text = Field(default="", max_length=10_000)

    @property
    def key(self) -> ReplicaKey:
        return ReplicaKey(job_id=self.job_id, replica=self.replica, attempt=self.attempt)


class Heartbeat(BaseModel):
    """POST /v1/agents/{node}/heartbeat: what the agent sees now."""

    model_config = _WIRE

    node: NodeSpec
    telemetry: list[GpuSample] = Field(default_factory=list, max_length=1024)
    replicas: list[ReplicaReport] = Field(default_factory=list, max_length=10_000)


# -- the reply: what should run on the node --------------------------------------------------

JobId = Annotated[
    Text,
    Field(min_length=1, pattern=r"^[^./][^/]*$",
          description="A job id; it names the agent's log directory, so no '/' nor leading '.'."),
]


# The scheduler sends every field, so its reply's schema requires them all; the defaults are
# for the agent reading an older scheduler's reply.
_DESIRED = ConfigDict(strict=True, frozen=True, json_schema_serialization_defaults_required=True)


class DesiredGpu(BaseModel):
    """A GPU, or a share of it in thousandths, granted to a replica."""

    model_config = _DESIRED

    index: Whole = Field(ge=0, le=1023)
    uuid: Text = Field(max_length=96)
    milli: Whole = Field(default=1000, ge=0, le=1000)


class DesiredReplica(BaseModel):
    """One replica the scheduler wants on the node, with its grant and its place in the gang.

    The defaults are what a scheduler from before a field meant by leaving it out.
    """

    model_config = _DESIRED

    job_id: JobId
    replica: Whole = Field(ge=0, le=100_000)
    attempt: Whole = Field(default=1, ge=1, le=MAX_ATTEMPT)
    """The job's attempt at the bind that made this binding (also GPUSCHED_ATTEMPT)."""
    replicas: Whole = Field(default=1, ge=1, le=100_000)
    # Plain strings: a command the runner cannot exec (a NUL byte, an env name with '=') is
    # started and fails there, reported `failed` with the error, rather than never answered.
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    gpus: list[DesiredGpu] = Field(default_factory=list)
    gpu_memory_limit_mib: Annotated[int, Field(ge=0, le=INT64_MAX), as_whole] | None = None
    master_addr: str = "127.0.0.1"
    master_port: Whole = Field(default=29500, ge=0, le=INT64_MAX)
    grace_seconds: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    kill_over_grant: bool = False

    @property
    def key(self) -> tuple[str, int, int]:
        """(job_id, replica, attempt): one run of one replica."""
        return (self.job_id, self.replica, self.attempt)

    @property
    def gpu_fraction(self) -> float:
        """GPUs granted in total (0.5 for half a GPU, 2 for two whole GPUs)."""
        return sum(gpu.milli for gpu in self.gpus) / 1000


class ReplicaKey(BaseModel):
    """(job, replica, attempt): names one run of one replica in an acknowledgement."""

    model_config = _DESIRED

    job_id: Text
    replica: Whole = Field(ge=0)
    attempt: Whole = Field(default=1, ge=1)


class HeartbeatReply(BaseModel):
    """The heartbeat's answer: what should run on the node now, and the agent's timings."""

    desired: list[DesiredReplica]
    heartbeat_seconds: float
    fence_seconds: float
    """Without a successful heartbeat this long, the agent stops all its replicas."""
    acknowledged: list[ReplicaKey] = Field(default_factory=list)
    """Every finished replica report of the heartbeat, recorded (or ignored as stale): the agent
    forgets each once it is acknowledged and no longer desired."""


# -- the pending reason (jobs.reason, shown by the API) --------------------------------------


class ReasonItemJson(BaseModel):
    """One ranked cause: a stable code, a sentence with numbers, and the numbers themselves."""

    code: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class PendingReasonJson(BaseModel):
    """Why a job waits, as stored with it and shown by the API: most important cause first."""

    kind: WaitKind
    summary: str
    items: list[ReasonItemJson]
    node_failures: dict[str, int] = Field(default_factory=dict)
    """How many nodes failed for each filter code (e.g. {"gpu-model": 900, "cpu": 12})."""
