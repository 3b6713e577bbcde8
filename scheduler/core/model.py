"""Plain data the core takes in and gives out: resources, GPUs, nodes, jobs, queues, decisions."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

MILLI_PER_GPU = 1000
"""GPU shares are counted in thousandths of one GPU so that fractions add up exactly."""


def gpus_to_milli(gpus: float) -> int:
    """Convert a GPU count (0.5, 1, 8) to thousandths of a GPU."""
    return round(gpus * MILLI_PER_GPU)


def milli_to_gpus(milli: int) -> float:
    """Convert thousandths of a GPU back to a GPU count."""
    return milli / MILLI_PER_GPU


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of the three scheduled resources."""

    cpu_millis: int = 0
    memory_mib: int = 0
    gpu_milli: int = 0

    @property
    def gpus(self) -> float:
        return milli_to_gpus(self.gpu_milli)

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis + other.cpu_millis,
            self.memory_mib + other.memory_mib,
            self.gpu_milli + other.gpu_milli,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis - other.cpu_millis,
            self.memory_mib - other.memory_mib,
            self.gpu_milli - other.gpu_milli,
        )

    def scaled(self, factor: int) -> Resources:
        return Resources(self.cpu_millis * factor, self.memory_mib * factor, self.gpu_milli * factor)

    def fits_in(self, other: Resources) -> bool:
        return (
            self.cpu_millis <= other.cpu_millis
            and self.memory_mib <= other.memory_mib
            and self.gpu_milli <= other.gpu_milli
        )


@dataclass(frozen=True, slots=True)
class GPU:
    """One physical GPU of a node. `healthy` False means nothing new is placed on it."""

    index: int
    model: str
    memory_mib: int
    uuid: str = ""
    healthy: bool = True


@dataclass(frozen=True, slots=True)
class Node:
    """A machine with CPU, memory and GPUs. Usage comes from the running jobs of the snapshot."""

    name: str
    cpu_millis: int
    memory_mib: int
    gpus: tuple[GPU, ...] = ()
    max_pods: int = 110
    ready: bool = True
    cordoned: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def gpu_model(self) -> str:
        """The node's GPU model ('' for a CPU-only node); nodes carry one model of GPU."""
        return self.gpus[0].model if self.gpus else ""


class JobStatus(enum.StrEnum):
    """A job's status: the one definition, used by the core, the store, the API and the CLI."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PREEMPTED = "preempted"
    """Evicted and not requeued (submitted with `requeue: false`)."""
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """The job will not run again."""
        return self not in (JobStatus.PENDING, JobStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class GpuGrant:
    """A share of one GPU given to one replica."""

    gpu_index: int
    milli: int


@dataclass(frozen=True, slots=True)
class ReplicaPlacement:
    """Where one replica of a job runs: a node and the GPU shares it holds there."""

    replica: int
    node: str
    gpus: tuple[GpuGrant, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplicaRequest:
    """What ONE replica asks for.

    `gpu_milli` below 1000 shares one GPU; a multiple of 1000 takes that many wholly free GPUs.
    `gpu_memory_mib`, when set and `gpu_milli` is 0, asks for that much memory of one GPU; it
    becomes the share `ceil(memory / gpu_memory × 1000)` of the GPU it lands on.
    """

    cpu_millis: int = 0
    memory_mib: int = 0
    gpu_milli: int = 0
    gpu_memory_mib: int = 0
    gpu_models: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.gpu_milli < 0 or self.cpu_millis < 0 or self.memory_mib < 0:
            raise ValueError("a replica request cannot be negative")
        if self.gpu_milli > MILLI_PER_GPU and self.gpu_milli % MILLI_PER_GPU:
            raise ValueError("more than one GPU must be a whole number of GPUs")
        if self.gpu_memory_mib < 0:
            raise ValueError("gpu_memory_mib cannot be negative")

    @property
    def whole_gpus(self) -> int:
        """GPUs taken wholly (0 for a sharing or CPU-only replica)."""
        return self.gpu_milli // MILLI_PER_GPU if self.gpu_milli >= MILLI_PER_GPU else 0

    @property
    def is_sharing(self) -> bool:
        """True when the replica takes a share of a single GPU."""
        return 0 < self.gpu_milli < MILLI_PER_GPU or (self.gpu_milli == 0 and self.gpu_memory_mib > 0)

    @property
    def wants_gpu(self) -> bool:
        return self.gpu_milli > 0 or self.gpu_memory_mib > 0

    def share_on(self, gpu_memory_mib: int) -> int:
        """The milli share this replica takes of one GPU with `gpu_memory_mib` of memory."""
        if self.gpu_milli:
            return self.gpu_milli
        if gpu_memory_mib <= 0:
            return MILLI_PER_GPU + 1  # cannot be placed: the GPU's memory is unknown
        return math.ceil(self.gpu_memory_mib * MILLI_PER_GPU / gpu_memory_mib)


@dataclass(frozen=True, slots=True)
class Job:
    """A job of `replicas` identical replicas; more than one replica is a gang (all or nothing)."""

    id: str
    queue: str
    request: ReplicaRequest
    replicas: int = 1
    priority: int = 0
    preemptible: bool = True
    created_at: float = 0.0
    user: str = ""
    status: JobStatus = JobStatus.PENDING
    placements: tuple[ReplicaPlacement, ...] = ()
    started_at: float | None = None
    last_checkpoint_at: float | None = None

    @property
    def is_gang(self) -> bool:
        return self.replicas > 1

    total_request: Resources = field(init=False, compare=False, repr=False)
    """What the whole job holds or asks for (a GPU-memory request counts once placed)."""

    def __post_init__(self) -> None:
        # Computed once: fair share and eviction ask for it in their inner loops.
        if self.placements:
            gpu_milli = sum(g.milli for p in self.placements for g in p.gpus)
        else:
            gpu_milli = self.request.gpu_milli * self.replicas
        object.__setattr__(self, "total_request", Resources(
            self.request.cpu_millis * self.replicas,
            self.request.memory_mib * self.replicas,
            gpu_milli,
        ))

    @property
    def gpu_milli_total(self) -> int:
        """GPU thousandths the whole job asks for (a memory request counts once placed)."""
        return self.total_request.gpu_milli


@dataclass(frozen=True, slots=True)
class Queue:
    """A node of the queue tree; only leaves hold jobs."""

    name: str
    parent: str | None = None
    deserved: Resources = Resources()
    limit: Resources | None = None
    over_quota_weight: float = 1.0
    priority: int = 0


@dataclass(frozen=True, slots=True)
class HeldShare:
    """Capacity on a node held by something the scheduler may not move: a replica of `owner`
    that is still stopping (its grace ends at `stopping_until`), or a process it does not run."""

    owner: str
    node: str
    gpus: tuple[GpuGrant, ...] = ()
    cpu_millis: int = 0
    memory_mib: int = 0
    stopping_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one cycle sees: nodes, queues, and the pending and running jobs."""

    nodes: tuple[Node, ...]
    jobs: tuple[Job, ...] = ()
    queues: tuple[Queue, ...] = ()
    queue_usage: Mapping[str, Resources] = field(default_factory=dict)
    """Decayed past usage per leaf queue (resource-seconds), for time-based fairness."""
    held: tuple[HeldShare, ...] = ()
    """Capacity no job of this snapshot holds and nothing may be placed on (counted against
    nodes, not queues)."""
