"""Agent protocol bodies (docs/agent-protocol.md): join, heartbeat, desired replicas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.common import (
    INT64_MAX,
    Int64,
    NodeName,
    Text,
    Whole,
    as_whole,
    check_json_text,
)

# Strict like the user-facing bodies (`true` is not 1, "1" is not 1); Whole still takes 2.0.
_WIRE = ConfigDict(strict=True)


class GpuSpec(BaseModel):
    model_config = _WIRE

    index: Whole = Field(ge=0, le=1023)
    uuid: Text = Field(max_length=96)
    model: Text = Field(max_length=64)
    memory_mib: Whole = Field(ge=0, le=100_000_000)
    compute_capability: Text = Field(default="", max_length=16)
    mig_mode: bool = False


class NodeSpec(BaseModel):
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


class JoinTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

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
    model_config = _WIRE

    join_token: Text = Field(max_length=256)
    node: NodeSpec
    replace: bool = Field(
        default=False, strict=True,
        description="Take over the name of a lost (not ready) node; the join token must allow it.",
    )


class JoinReply(BaseModel):
    node: str
    token: str


class ProcessSample(BaseModel):
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


MAX_ATTEMPT = 2_147_483_647


class ReplicaReport(BaseModel):
    model_config = _WIRE

    job_id: Text = Field(max_length=32)
    replica: Whole = Field(ge=0, le=100_000)
    attempt: Whole = Field(ge=1, le=MAX_ATTEMPT)
    """Echoed from the desired entry that started it: the report applies to that binding only."""
    state: Literal["running", "succeeded", "failed", "lost", "killed"]
    pid: Annotated[int, Field(ge=0, le=INT64_MAX), as_whole] | None = None
    exit_code: Int64 | None = None
    started_at: float | None = Field(default=None, allow_inf_nan=False)
    finished_at: float | None = Field(default=None, allow_inf_nan=False)
    over_grant: bool = False
    message: Text = Field(default="", max_length=10_000)


class Heartbeat(BaseModel):
    model_config = _WIRE

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
    """A user or admin token; a user token is limited to `queues` (at least one)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"properties": {"kind": {"const": "admin"}}},
                {"properties": {"queues": {"minItems": 1}}, "required": ["queues"]},
            ]
        },
    )

    kind: Literal["admin", "user"]
    name: Text = Field(min_length=1, max_length=128)
    queues: list[Text] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _user_has_queues(self) -> TokenCreate:
        if self.kind == "user" and not self.queues:
            raise ValueError("a user token needs at least one queue")
        return self


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
