"""The session: one cycle's working copy of the cluster and the hooks plugins register.

Actions never import plugins; they call the session's hooks. A plugin's `on_session_open` only
registers callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

from scheduler.core import held
from scheduler.core.config import CycleConfig
from scheduler.core.decisions import ReasonItem
from scheduler.core.model import (
    Job,
    JobStatus,
    Queue,
    ReplicaPlacement,
    ReplicaRequest,
    Resources,
    Snapshot,
)
from scheduler.core.plugins.placement import Choice, PlacementContext, make_policy
from scheduler.core.plugins.placement.typical import typical_shapes
from scheduler.core.state import BoolArray, ClusterState
from scheduler.core.statement import Statement

JobHook = Callable[[Job], None]
Veto = Callable[[Job], ReasonItem | None]
"""Returns why `job` may not be placed now (e.g. its queue is at its limit), or None."""


class Plugin(Protocol):
    name: str

    def on_session_open(self, session: Session) -> None:
        ...


class Session:
    """Cluster state, jobs and plugin hooks for one cycle (or one simulator run)."""

    def __init__(
        self,
        snapshot: Snapshot,
        config: CycleConfig,
        *,
        now: float,
        plugins: tuple[Plugin, ...] = (),
        placement_context: PlacementContext | None = None,
    ) -> None:
        self.config = config
        self.now = now
        self.state = ClusterState(snapshot.nodes)
        self.jobs: dict[str, Job] = {job.id: job for job in snapshot.jobs}
        self.queues: dict[str, Queue] = {queue.name: queue for queue in snapshot.queues}
        self.placements: dict[str, tuple[ReplicaPlacement, ...]] = {}
        """Where every job that holds resources in this session sits (running or just bound)."""
        if placement_context is None:
            placement_context = PlacementContext(
                typical_shapes=typical_shapes(job.request for job in snapshot.jobs),
                seed=config.seed,
            )
        self.policy = make_policy(config.placement, placement_context)
        self._model_masks: dict[frozenset[str], BoolArray | None] = {}
        # Hooks, filled by plugins.
        self.job_order_keys: list[Callable[[Job], object]] = []
        self.queue_order_keys: list[Callable[[str], object]] = []
        self.allocate_vetoes: list[Veto] = []
        self.on_allocate: list[JobHook] = []
        self.on_deallocate: list[JobHook] = []
        self.reclaim_vetoes: list[Callable[[Job, Job], bool]] = []
        """(reclaimer, victim) → True when the victim may NOT be taken."""
        self.victim_queues: Callable[[Job], list[str]] | None = None
        """Queues whose jobs `job` may reclaim from at all (None: every other queue)."""
        self.reclaim_gates: list[Veto] = []
        """Why `job`'s queue may not reclaim from others now (e.g. it is at its fair share)."""
        self.shares: dict[str, Resources] = {}
        self.queue_status: Callable[[str], tuple[Fraction, Resources, Resources] | None] = (
            lambda queue: None
        )
        """(allocated/fair share, allocated, fair share) of a queue, when fair share is on."""
        # What the actions learned about jobs they could not place.
        self.waiting: dict[str, list[ReasonItem]] = {}
        """Vetoes: why a job was not even tried (queue limit, quota)."""
        self.notes: dict[str, list[ReasonItem]] = {}
        """Context for a waiting job: jobs ahead of it, why reclaim or preemption did not help."""
        self.replicas_fit: dict[str, int] = {}
        for job in snapshot.jobs:
            if job.status is JobStatus.RUNNING and job.placements:
                self.occupy(job, job.placements)
        self.held = snapshot.held
        """Capacity of stopping replicas: charged to nodes, never movable, no queue's."""
        held.charge(self.state, self.held)
        for plugin in plugins:
            plugin.on_session_open(self)

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
        for hook in self.on_allocate:
            hook(job)

    def vacate(self, job: Job) -> tuple[ReplicaPlacement, ...]:
        """Free what `job` holds; returns its placements."""
        placements = self.placements.pop(job.id)
        for placement in placements:
            i = self.state.index.get(placement.node)
            if i is not None:
                self.state.give_back(i, job.request, placement.gpus)
        for hook in self.on_deallocate:
            hook(job)
        return placements

    # -- questions actions ask --------------------------------------------------------------
    def feasible(self, request: ReplicaRequest) -> BoolArray:
        models = request.gpu_models
        if models not in self._model_masks:
            self._model_masks[models] = self.state.model_mask(models)
        return self.state.feasible(request, self._model_masks[models])

    def choose(self, request: ReplicaRequest) -> Choice | None:
        """Where the placement policy puts one replica now, or None when it fits nowhere."""
        mask = self.feasible(request)
        if not mask.any():
            return None  # no node passes the filters (or there are no nodes): nothing to score
        return self.policy.choose(self.state, request, mask)

    def veto(self, job: Job) -> ReasonItem | None:
        return _first(self.allocate_vetoes, job)

    def reclaim_gate(self, job: Job) -> ReasonItem | None:
        return _first(self.reclaim_gates, job)

    def note(self, job: Job, item: ReasonItem) -> None:
        self.notes.setdefault(job.id, []).append(item)

    def job_key(self, job: Job) -> tuple[object, ...]:
        return (*[key(job) for key in self.job_order_keys], job.created_at, job.id)

    def queue_key(self, queue: str) -> tuple[object, ...]:
        if not self.queue_order_keys:
            return (queue,)
        return (*[key(queue) for key in self.queue_order_keys], queue)


def _first(checks: list[Veto], job: Job) -> ReasonItem | None:
    for check in checks:
        reason = check(job)
        if reason is not None:
            return reason
    return None
