"""A replica the scheduler wants on this node (one entry of the heartbeat reply's `desired`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ReplicaKey = tuple[str, int, int]
"""(job_id, replica index, attempt): one run of one replica; a requeued job's next bind is new."""


@dataclass(frozen=True, slots=True)
class GrantedGpu:
    """A GPU (or a share of it, in thousandths) granted to a replica."""

    index: int
    uuid: str
    milli: int = 1000


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    """What to run and with which grant; validated on the way in."""

    job_id: str
    replica: int
    command: list[str]
    replicas: int = 1
    env: dict[str, str] = field(default_factory=dict)
    gpus: list[GrantedGpu] = field(default_factory=list)
    gpu_memory_limit_mib: int | None = None
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    grace_seconds: float = 30.0
    kill_over_grant: bool = False
    attempt: int = 1
    """The job's attempt counter at the bind that placed this replica (1 for old schedulers)."""

    @property
    def key(self) -> ReplicaKey:
        return (self.job_id, self.replica, self.attempt)

    @property
    def gpu_fraction(self) -> float:
        """GPUs granted in total (0.5 for half a GPU, 2 for two whole GPUs)."""
        return sum(g.milli for g in self.gpus) / 1000

    def memory_limit_mib(self, gpu_memory_mib: dict[str, int]) -> int | None:
        """Per-GPU memory grant: the explicit limit, else the share of a shared GPU, else None."""
        if self.gpu_memory_limit_mib:
            return self.gpu_memory_limit_mib
        shares = [g.milli * gpu_memory_mib[g.uuid] // 1000 for g in self.gpus
                  if g.milli < 1000 and gpu_memory_mib.get(g.uuid)]
        return min(shares) if shares else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ReplicaSpec:
        """Build from the protocol's JSON; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"a desired replica must be an object, got {type(data).__name__}")
        try:
            job_id, replica = data["job_id"], data["replica"]
            command = data["command"]
        except KeyError as exc:
            raise ValueError(f"desired replica lacks {exc.args[0]!r}") from None
        if not isinstance(job_id, str) or not job_id or "/" in job_id or job_id.startswith("."):
            raise ValueError(f"bad job_id {job_id!r}")
        if not isinstance(replica, int) or replica < 0:
            raise ValueError(f"bad replica index {replica!r} for job {job_id}")
        if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
            raise ValueError(f"job {job_id}: command must be a list of strings")
        attempt = data.get("attempt", 1)  # schedulers before attempts sent none
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"bad attempt {attempt!r} for job {job_id}")
        env = data.get("env") or {}
        if not isinstance(env, dict):
            raise ValueError(f"job {job_id}: env must be an object")
        try:
            gpus = [GrantedGpu(int(g["index"]), str(g["uuid"]), int(g.get("milli", 1000)))
                    for g in data.get("gpus") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"job {job_id}: bad gpus entry ({exc})") from None
        limit = data.get("gpu_memory_limit_mib")
        return cls(
            job_id=job_id,
            replica=replica,
            command=list(command),
            replicas=int(data.get("replicas") or 1),
            env={str(k): str(v) for k, v in env.items()},
            gpus=gpus,
            gpu_memory_limit_mib=int(limit) if limit else None,
            master_addr=str(data.get("master_addr") or "127.0.0.1"),
            master_port=int(data.get("master_port") or 29500),
            grace_seconds=float(data.get("grace_seconds", 30.0)),
            kill_over_grant=bool(data.get("kill_over_grant", False)),
            attempt=attempt,
        )
