"""Agent protocol bodies (docs/agent-protocol.md): join, heartbeat, desired replicas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.common import NodeName


class GpuSpec(BaseModel):
    index: int = Field(ge=0, le=1023)
    uuid: str = Field(max_length=96)
    model: str = Field(max_length=64)
    memory_mib: int = Field(ge=0, le=100_000_000)
    compute_capability: str = Field(default="", max_length=16)
    mig_mode: bool = False


class NodeSpec(BaseModel):
    name: NodeName
    cpu_millis: int = Field(ge=0, le=1_000_000_000)
    memory_mib: int = Field(ge=0, le=1_000_000_000_000)
    labels: dict[str, str] = Field(default_factory=dict, max_length=256)
    enforcement: Literal["none", "watchdog", "mps"] = "none"
    gpus: list[GpuSpec] = Field(default_factory=list, max_length=1024)

    @field_validator("gpus")
    @classmethod
    def _unique_indices(cls, gpus: list[GpuSpec]) -> list[GpuSpec]:
        indices = [gpu.index for gpu in gpus]
        if len(set(indices)) != len(indices):
            raise ValueError(f"GPU indices must be unique; got {indices}")
        return gpus


class JoinTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: float = Field(default=86_400.0, gt=0, le=31_536_000, allow_inf_nan=False)
    uses: int = Field(default=1, ge=1, le=1_000_000, strict=True,
                      description="How many joins the token allows (single-use by default).")
    allow_replace: bool = Field(
        default=False, strict=True,
        description="A join with `replace: true` may take over the name of a node that is "
        "not ready (lost). The name of a ready node is never taken over.",
    )


class JoinTokenPublic(BaseModel):
    token: str
    expires_at: float
    uses: int
    allow_replace: bool


class JoinRequest(BaseModel):
    join_token: str = Field(max_length=256)
    node: NodeSpec
    replace: bool = Field(
        default=False, strict=True,
        description="Take over the name of a lost (not ready) node; the join token must allow it.",
    )


class JoinReply(BaseModel):
    node: str
    token: str


class ProcessSample(BaseModel):
    pid: int
    memory_mib: float = 0
    job_id: str | None = None
    replica: int | None = None


class GpuSample(BaseModel):
    """The latest reading of one GPU; unknown extra fields are kept with the sample."""

    model_config = ConfigDict(extra="allow")

    index: int = Field(ge=0, le=1023)
    uuid: str = Field(default="", max_length=96)
    utilization: float | None = Field(default=None, allow_inf_nan=False)
    memory_used_mib: int | None = None
    temperature_c: float | None = Field(default=None, allow_inf_nan=False)
    power_w: float | None = Field(default=None, allow_inf_nan=False)
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    ecc_double_bit: int = 0
    xid_errors: list[int] = Field(default_factory=list)
    healthy: bool = True
    health_reason: str = ""
    processes: list[ProcessSample] = Field(default_factory=list)


MAX_ATTEMPT = 2_147_483_647


class ReplicaReport(BaseModel):
    job_id: str = Field(max_length=32)
    replica: int = Field(ge=0)
    attempt: int = Field(ge=1, le=MAX_ATTEMPT)
    """Echoed from the desired entry that started it: the report applies to that binding only."""
    state: Literal["running", "succeeded", "failed", "lost", "killed"]
    pid: int | None = None
    exit_code: int | None = None
    started_at: float | None = Field(default=None, allow_inf_nan=False)
    finished_at: float | None = Field(default=None, allow_inf_nan=False)
    over_grant: bool = False
    message: str = Field(default="", max_length=10_000)


class Heartbeat(BaseModel):
    node: NodeSpec
    telemetry: list[GpuSample] = Field(default_factory=list, max_length=1024)
    replicas: list[ReplicaReport] = Field(default_factory=list, max_length=10_000)


class DesiredGpu(BaseModel):
    index: int
    uuid: str
    milli: int


class DesiredReplica(BaseModel):
    job_id: str
    replica: int
    attempt: int = Field(ge=1)
    """The job's attempt at the bind that made this binding (also GPUSCHED_ATTEMPT)."""
    replicas: int
    command: list[str]
    env: dict[str, str]
    gpus: list[DesiredGpu]
    gpu_memory_limit_mib: int | None
    master_addr: str
    master_port: int
    grace_seconds: float
    kill_over_grant: bool


class ReplicaKey(BaseModel):
    job_id: str
    replica: int
    attempt: int


class HeartbeatReply(BaseModel):
    desired: list[DesiredReplica]
    heartbeat_seconds: float
    fence_seconds: float
    """Without a successful heartbeat this long, the agent stops all its replicas."""
    acknowledged: list[ReplicaKey] = Field(default_factory=list)
    """Every finished replica report of the heartbeat, recorded (or ignored as stale): the agent
    forgets each once it is acknowledged and no longer desired."""


class TokenCreate(BaseModel):
    """A user or admin token; a user token is limited to `queues`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["admin", "user"]
    name: str = Field(min_length=1, max_length=128)
    queues: list[str] = Field(default_factory=list, max_length=1000)


class TokenPublic(BaseModel):
    id: int
    kind: str
    name: str
    queues: list[str]
    node: str | None
    created_at: float
    expires_at: float | None
    token: str | None = None
    """The clear text, only in the reply that created it."""
