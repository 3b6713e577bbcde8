"""The scheduling loop: leader lease → lost nodes → snapshot → run_cycle → the sink.

It sees the cluster only through the ports (scheduler.ports); scheduler.service.build wires
them to a backend."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import CycleResult
from scheduler.core.model import JobStatus, Snapshot
from scheduler.metrics import ServiceMetrics
from scheduler.ports import (
    Applied,
    ClusterSource,
    DecisionSink,
    LeaderLease,
    NodeLiveness,
    NotLeader,
)
from scheduler.service.clock import LoopClock, SystemClock
from scheduler.service.redis_link import RedisLink
from scheduler.service.usage import QueueUsage
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a cycle runs.

    A cycle builds and drops a few hundred thousand acyclic objects (the snapshot, the session,
    the decisions); reference counting frees them, but their number alone triggers full
    collections that walk the whole heap (0.1-0.2 s each on 10,000 jobs). Collection resumes
    when the cycle's objects are gone.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


Decide = Callable[[Snapshot, CycleConfig, float], CycleResult]


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one pass of the loop did."""

    leader: bool
    bound: int = 0
    evicted: int = 0
    pending: int = 0
    lost_jobs: int = 0
    seconds: float = 0.0


def cycle_spacing(settings: Settings, busy_seconds: float) -> float:
    """Least time from one cycle's start to the next's, after a cycle of `busy_seconds`.

    At least `min_cycle_interval_seconds`, and long enough that cycles fill no more than
    `max_cycle_share` of the time: a cycle over many pending jobs during a storm of submits
    then leaves the CPU (and, in-process, the GIL) to the API instead of running back to back.
    """
    return max(settings.min_cycle_interval_seconds, busy_seconds / settings.max_cycle_share)


class SchedulerLoop:
    """Runs cycles while this process holds the leader lease; safe to run in several replicas."""

    def __init__(
        self,
        *,
        source: ClusterSource,
        sink: DecisionSink,
        liveness: NodeLiveness,
        lease: LeaderLease,
        settings: Settings,
        wakeup: Wakeup,
        metrics: ServiceMetrics,
        decide: Decide = run_cycle,
        redis: RedisLink | None = None,
        clock: LoopClock | None = None,
    ) -> None:
        self.clock: LoopClock = SystemClock() if clock is None else clock
        self.source = source
        self.sink = sink
        self.liveness = liveness
        self.lease = lease
        self.redis = redis
        self.settings = settings
        self.wakeup = wakeup
        self.metrics = metrics
        self.decide = decide
        self.holder = lease.holder
        self.config = CycleConfig(
            placement=settings.placement,
            usage_half_life_seconds=settings.usage_half_life_seconds,
        )
        self.usage = QueueUsage(settings.usage_half_life_seconds)
        self.first_decision_at: float | None = None
        self.leading_since: float | None = None
        """When this process last became leader: node silence is counted from then at the earliest."""
        self._early: threading.Thread | None = None

    def start_early(self) -> None:
        """Run the first cycle now, in a thread, while the rest of the service (the web stack)
        is still importing: a restart decides sooner. `run_forever` waits for it."""

        def first_cycle() -> None:
            try:
                self.run_once()
            except Exception:
                log.exception("first scheduling cycle failed; the loop retries")

        self._early = threading.Thread(target=first_cycle, name="first-cycle", daemon=True)
        self._early.start()

    def run_once(self, now: float | None = None) -> CycleReport:
        """One pass: do nothing unless leader; otherwise decide, commit the decisions in one
        transaction, then the pending reasons in another."""
        started = time.perf_counter()
        now = time.time() if now is None else now
        ttl = self.settings.leader_lease_seconds
        leader = self._lead(now, ttl)
        self.metrics.is_leader.set(1 if leader else 0)
        if not leader:
            self.sink.forget()  # another scheduler writes reasons meanwhile
            self.leading_since = None
            return CycleReport(leader=False)
        if self.leading_since is None:
            self.leading_since = now
        lost = self.liveness.expire_silent(now=now, since=self.leading_since)
        self.metrics.jobs_lost.inc(lost)
        with _gc_paused():
            bound, evicted, pending = self._snapshot_decide_commit(now, started)
        if self.first_decision_at is None:
            self.first_decision_at = time.time()
        return CycleReport(
            leader=True,
            bound=bound,
            evicted=evicted,
            pending=pending,
            lost_jobs=lost,
            seconds=time.perf_counter() - started,
        )

    def _snapshot_decide_commit(self, now: float, started: float) -> tuple[int, int, int]:
        """Snapshot → decide → the sink (decisions, then reasons); (bound, evicted, pending)."""
        observed = self.usage.observe(self.source.snapshot(), now)
        result = self._decide(observed, now)
        applied = self.sink.apply(result, snapshot=observed, now=now)
        self._refresh_job_gauges(applied.jobs_by_status)
        self._observe(observed, result, applied, time.perf_counter() - started)
        return len(applied.bound), len(applied.evicted), len(result.reasons)

    def _lead(self, now: float, ttl: float) -> bool:
        """Redis's lock picks who tries to lead; the store's lease (the commit fence) decides."""
        if self.redis is not None and self.redis.hold_lock(self.holder, ttl=ttl) is False:
            return False  # another replica holds the lock (None: Redis is down, the store decides)
        return self.lease.acquire(now=now)

    def _decide(self, snapshot_: Snapshot, now: float) -> CycleResult:
        return self.decide(snapshot_, self.config, now)

    async def run_forever(self) -> None:
        """Cycle on every wake-up (debounced) and at least every `cycle_period_seconds`."""
        event = self.wakeup.bind(asyncio.get_running_loop())
        if self._early is not None:
            await asyncio.to_thread(self._early.join)  # never two cycles at once
        listener = asyncio.create_task(self.wakeup.listen_redis())
        clock = self.clock
        try:
            while True:
                last = clock.monotonic()
                try:
                    await asyncio.to_thread(self.run_once)
                except NotLeader as error:
                    log.warning("%s; decisions of this cycle were dropped", error)
                except Exception:
                    log.exception("scheduling cycle failed; retrying on the next wake-up")
                spacing = cycle_spacing(self.settings, clock.monotonic() - last)
                if await clock.wait(event, self.settings.cycle_period_seconds):
                    gap = spacing - (clock.monotonic() - last)
                    await clock.sleep(max(self.settings.wake_debounce_seconds, gap))
                else:
                    await clock.sleep(max(0.0, spacing - (clock.monotonic() - last)))
                event.clear()
                self.wakeup.pending.clear()
        finally:
            listener.cancel()
            self.lease.release()
            if self.redis is not None:
                self.redis.release_lock(self.holder)

    def _refresh_job_gauges(self, counts: Mapping[str, int]) -> None:
        for status in JobStatus:
            self.metrics.jobs.labels(status.value).set(counts.get(status.value, 0))

    def _observe(
        self,
        snapshot: Snapshot,
        result: CycleResult,
        applied: Applied,
        seconds: float,
    ) -> None:
        m = self.metrics
        m.cycle_seconds.observe(seconds)
        m.jobs_bound.inc(len(applied.bound))
        for wait in applied.waits:
            m.wait_seconds.observe(wait)
        for _, action in applied.evicted:
            m.preemptions.labels(action).inc()
        for queue in snapshot.queues:
            m.queue_deserved.labels(queue.name).set(queue.deserved.gpus)
            share = result.fair_shares.get(queue.name)
            if share is not None:
                m.queue_fair_share.labels(queue.name).set(share.gpus)
        usable = sum(
            1 for node in snapshot.nodes if node.ready for gpu in node.gpus if gpu.healthy
        )
        m.cluster_gpus.set(usable)
        for node in snapshot.nodes:
            m.node_ready.labels(node.name).set(1 if node.ready else 0)

