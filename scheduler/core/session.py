"""The session: one cycle's working copy of the cluster and the hooks plugins register.

Actions never import plugins; they ask the session, which asks the hooks plugins registered
(scheduler.core.hooks). A plugin's `on_session_open` only registers callbacks.
"""

from __future__ import annotations

from collections.abc import Iterable

from scheduler.core import held
from scheduler.core.config import CycleConfig
from scheduler.core.decisions import ReasonItem
from scheduler.core.filters import capacity_fit, static_fit
from scheduler.core.hooks import (
    AllocateVeto,
    AllocationHook,
    FairShares,
    JobOrderKey,
    Plugin,
    QueueOrderKey,
    QueueStanding,
    QueueStatus,
    ReclaimGate,
    ReclaimVeto,
    VictimQueues,
)
from scheduler.core.model import (
    Job,
    JobStatus,
    Queue,
    ReplicaPlacement,
    ReplicaRequest,
    Resources,
    Snapshot,
)
from scheduler.core.policy import Choice, PlacementPolicy
from scheduler.core.state import BoolArray, ClusterState
from scheduler.core.statement import Statement


class Session:
    """Cluster state, jobs and plugin hooks for one cycle (or one simulator run).

    Whoever opens the session chooses the placement policy (see `scheduler.core.cycle`).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        config: CycleConfig,
        *,
        now: float,
        policy: PlacementPolicy,
        plugins: tuple[Plugin, ...] = (),
    ) -> None:
        self.config = config
        self.now = now
        self.policy = policy
        self.state = ClusterState(snapshot.nodes)
        self.jobs: dict[str, Job] = {job.id: job for job in snapshot.jobs}
        self.queues: dict[str, Queue] = {queue.name: queue for queue in snapshot.queues}
        self.placements: dict[str, tuple[ReplicaPlacement, ...]] = {}
        """Where every job that holds resources in this session sits (running or just bound)."""
        self._static_fit: dict[tuple[frozenset[str], bool], BoolArray] = {}
        self._job_order: list[JobOrderKey] = []
        self._queue_order: list[QueueOrderKey] = []
        self._allocate_vetoes: list[AllocateVeto] = []
        self._on_allocate: list[AllocationHook] = []
        self._on_deallocate: list[AllocationHook] = []
        self._reclaim_gates: list[ReclaimGate] = []
        self._reclaim_vetoes: list[ReclaimVeto] = []
        self._victim_queues: list[VictimQueues] = []
        self._queue_status: list[QueueStatus] = []
        self._fair_shares: list[FairShares] = []
        # What the actions learned about jobs they could not place.
        self.waiting: dict[str, list[ReasonItem]] = {}
        """Vetoes: why a job was not even tried (queue limit, quota)."""
        self.notes: dict[str, list[ReasonItem]] = {}
        """Context for a waiting job: jobs ahead of it, why reclaim or preemption did not help."""
        self.replicas_fit: dict[str, int] = {}
        for plugin in plugins:
            plugin.on_session_open(self)
        # After the plugins: their allocation hooks count what already runs.
        for job in snapshot.jobs:
            if job.status is JobStatus.RUNNING and job.placements:
                self.occupy(job, job.placements)
        self.held = snapshot.held
        """Capacity of stopping replicas: charged to nodes, never movable, no queue's."""
        held.charge(self.state, self.held)

    # -- registration (see scheduler.core.hooks.Hooks for how several answers combine) ------
    def add_job_order(self, key: JobOrderKey) -> None:
        self._job_order.append(key)

    def add_queue_order(self, key: QueueOrderKey) -> None:
        self._queue_order.append(key)

    def add_allocate_veto(self, veto: AllocateVeto) -> None:
        self._allocate_vetoes.append(veto)

    def add_on_allocate(self, hook: AllocationHook) -> None:
        self._on_allocate.append(hook)

    def add_on_deallocate(self, hook: AllocationHook) -> None:
        self._on_deallocate.append(hook)

    def add_reclaim_gate(self, gate: ReclaimGate) -> None:
        self._reclaim_gates.append(gate)

    def add_reclaim_veto(self, veto: ReclaimVeto) -> None:
        self._reclaim_vetoes.append(veto)

    def add_victim_queues(self, queues: VictimQueues) -> None:
        self._victim_queues.append(queues)

    def add_queue_status(self, status: QueueStatus) -> None:
        self._queue_status.append(status)

    def add_fair_shares(self, shares: FairShares) -> None:
        self._fair_shares.append(shares)

    # -- cluster changes (through a Statement) ------------------------------------------------
    def statement(self) -> Statement:
        return Statement(self)

    def occupy(self, job: Job, placements: tuple[ReplicaPlacement, ...]) -> None:
        """Reserve what `placements` name for `job` and tell the plugins."""
        for placement in placements:
            i = self.state.index.get(placement.node)
            if i is not None:  # a node gone from the snapshot holds nothing we can use
                self.state.take(i, job.request, placement.gpus)
        self.placements[job.id] = placements
        for hook in self._on_allocate:
            hook(job)

    def vacate(self, job: Job) -> tuple[ReplicaPlacement, ...]:
        """Free what `job` holds; returns its placements."""
        placements = self.placements.pop(job.id)
        for placement in placements:
            i = self.state.index.get(placement.node)
            if i is not None:
                self.state.give_back(i, job.request, placement.gpus)
        for hook in self._on_deallocate:
            hook(job)
        return placements

    # -- questions actions ask --------------------------------------------------------------
    def feasible(self, request: ReplicaRequest) -> BoolArray:
        """Nodes where one replica of `request` passes every filter now (scheduler.core.filters)."""
        key = (request.gpu_models, request.wants_gpu)
        static = self._static_fit.get(key)
        if static is None:  # nodes do not change within a session: once per model set
            static = self._static_fit[key] = static_fit(self.state, request)
        return capacity_fit(self.state, request, static)

    def choose(self, request: ReplicaRequest) -> Choice | None:
        """Where the placement policy puts one replica now, or None when it fits nowhere."""
        mask = self.feasible(request)
        if not mask.any():
            return None  # no node passes the filters (or there are no nodes): nothing to score
        return self.policy.choose(self.state, request, mask)

    def veto(self, job: Job) -> ReasonItem | None:
        """Why `job` may not be placed now, or None."""
        for veto in self._allocate_vetoes:
            reason = veto(job)
            if reason is not None:
                return reason
        return None

    @property
    def reclaims(self) -> bool:
        """Whether any plugin lends capacity between queues (registered a reclaim gate)."""
        return bool(self._reclaim_gates)

    def reclaim_gate(self, job: Job) -> ReasonItem | None:
        """Why `job`'s queue may not reclaim now, or None."""
        for gate in self._reclaim_gates:
            reason = gate(job)
            if reason is not None:
                return reason
        return None

    def may_reclaim(self, job: Job, victim: Job) -> bool:
        """Whether no reclaim veto spares `victim` from eviction for `job`."""
        return not any(veto(job, victim) for veto in self._reclaim_vetoes)

    def victim_queues(self, job: Job, candidates: Iterable[str]) -> list[str]:
        """The queues of `candidates` other than the job's own that every victim-queues hook names."""
        allowed = [queue for queue in candidates if queue != job.queue]
        for hook in self._victim_queues:
            named = set(hook(job))
            allowed = [queue for queue in allowed if queue in named]
        return allowed

    def queue_standing(self, queue: str) -> QueueStanding | None:
        """Where `queue` stands against its fair share (None when no hook knows it)."""
        for status in self._queue_status:
            standing = status(queue)
            if standing is not None:
                return standing
        return None

    def fair_shares(self) -> dict[str, Resources]:
        """Every queue's fair share this cycle, merged over the hooks that report them."""
        merged: dict[str, Resources] = {}
        for shares in self._fair_shares:
            for queue, share in shares().items():
                merged.setdefault(queue, share)
        return merged

    def note(self, job: Job, item: ReasonItem) -> None:
        self.notes.setdefault(job.id, []).append(item)

    def job_key(self, job: Job) -> tuple[object, ...]:
        return (*[key(job) for key in self._job_order], job.created_at, job.id)

    def queue_key(self, queue: str) -> tuple[object, ...]:
        if not self._queue_order:
            return (queue,)
        return (*[key(queue) for key in self._queue_order], queue)
