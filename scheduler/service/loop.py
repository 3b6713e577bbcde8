"""The scheduling loop: leader lease → lost nodes → snapshot → run_cycle → one commit."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import CycleResult
from scheduler.core.model import Snapshot
from scheduler.metrics import ServiceMetrics
from scheduler.service import apply, lease, liveness, snapshot
from scheduler.service.redis_link import RedisLink
from scheduler.service.settings import Settings
from scheduler.service.usage import QueueUsage
from scheduler.service.wakeup import Wakeup
from scheduler.store.tables import JobRow

log = logging.getLogger(__name__)
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
        sessions: sessionmaker[Session],
        settings: Settings,
        wakeup: Wakeup,
        metrics: ServiceMetrics,
        decide: Decide = run_cycle,
        redis: RedisLink | None = None,
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.settings = settings
        self.wakeup = wakeup
        self.metrics = metrics
        self.decide = decide
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.config = CycleConfig(
            placement=settings.placement,
            usage_half_life_seconds=settings.usage_half_life_seconds,
        )
        self.usage = QueueUsage(settings.usage_half_life_seconds)
        self._reasons: dict[str, str] = {}
        self.first_decision_at: float | None = None

    def run_once(self, now: float | None = None) -> CycleReport:
        """One pass: do nothing unless leader; otherwise decide and commit in one transaction."""
        started = time.perf_counter()
        now = time.time() if now is None else now
        ttl = self.settings.leader_lease_seconds
        leader = self._lead(now, ttl)
        self.metrics.is_leader.set(1 if leader else 0)
        if not leader:
            self._reasons.clear()  # another scheduler writes reasons meanwhile
            return CycleReport(leader=False)
        with self.sessions() as session:
            _, lost = liveness.expire_silent_nodes(
                session, now=now, timeout=self.settings.node_timeout_seconds
            )
            session.commit()
        self.metrics.jobs_lost.inc(lost)
        with self.sessions() as session:
            state = snapshot.load(session)
            session.rollback()  # release the read transaction before the (long) decision
        result = self._decide(self.usage.observe(state.snapshot, now), now)
        with self.sessions() as session:
            try:
                lease.fence(session, holder=self.holder, now=now, ttl=ttl)
                applied = apply.commit_decisions(
                    session, result=result, state=state, now=now, reasons_seen=self._reasons
                )
                session.commit()
            except Exception:
                self._reasons.clear()  # nothing of this cycle was stored
                raise
            self._refresh_job_gauges(session)
        if self.first_decision_at is None:
            self.first_decision_at = time.time()
        seconds = time.perf_counter() - started
        self._observe(state, result, applied, seconds)
        return CycleReport(
            leader=True,
            bound=len(applied.bound),
            evicted=len(applied.evicted),
            pending=len(result.reasons),
            lost_jobs=lost,
            seconds=seconds,
        )

    def _lead(self, now: float, ttl: float) -> bool:
        """Redis's lock picks who tries to lead; the store's lease (the commit fence) decides."""
        if self.redis is not None and self.redis.hold_lock(self.holder, ttl=ttl) is False:
            return False  # another replica holds the lock (None: Redis is down, the store decides)
        with self.sessions() as session:
            return lease.acquire(session, holder=self.holder, now=now, ttl=ttl)

    def _decide(self, snapshot_: Snapshot, now: float) -> CycleResult:
        return self.decide(snapshot_, self.config, now)

    async def run_forever(self) -> None:
        """Cycle on every wake-up (debounced) and at least every `cycle_period_seconds`."""
        event = self.wakeup.bind(asyncio.get_running_loop())
        listener = asyncio.create_task(self.wakeup.listen_redis())
        try:
            while True:
                last = time.monotonic()
                try:
                    await asyncio.to_thread(self.run_once)
                except lease.NotLeader as error:
                    log.warning("%s; decisions of this cycle were dropped", error)
                except Exception:
                    log.exception("scheduling cycle failed; retrying on the next wake-up")
                spacing = cycle_spacing(self.settings, time.monotonic() - last)
                try:
                    await asyncio.wait_for(event.wait(), timeout=self.settings.cycle_period_seconds)
                    gap = spacing - (time.monotonic() - last)
                    await asyncio.sleep(max(self.settings.wake_debounce_seconds, gap))
                except TimeoutError:
                    await asyncio.sleep(max(0.0, spacing - (time.monotonic() - last)))
                event.clear()
                self.wakeup.pending.clear()
        finally:
            listener.cancel()
            with self.sessions() as session:
                lease.release(session, holder=self.holder)
            if self.redis is not None:
                self.redis.release_lock(self.holder)

    def _refresh_job_gauges(self, session: Session) -> None:
        counts = dict(
            session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        )
        for status in ("pending", "running", "succeeded", "failed", "preempted", "cancelled"):
            self.metrics.jobs.labels(status).set(counts.get(status, 0))

    def _observe(
        self,
        state: snapshot.StoreState,
        result: CycleResult,
        applied: apply.Applied,
        seconds: float,
    ) -> None:
        m = self.metrics
        m.cycle_seconds.observe(seconds)
        m.jobs_bound.inc(len(applied.bound))
        for wait in applied.waits:
            m.wait_seconds.observe(wait)
        for _, action in applied.evicted:
            m.preemptions.labels(action).inc()
        for queue in state.snapshot.queues:
            m.queue_deserved.labels(queue.name).set(queue.deserved.gpus)
            share = result.fair_shares.get(queue.name)
            if share is not None:
                m.queue_fair_share.labels(queue.name).set(share.gpus)
        usable = sum(
            1 for node in state.snapshot.nodes if node.ready for gpu in node.gpus if gpu.healthy
        )
        m.cluster_gpus.set(usable)
        for node in state.snapshot.nodes:
            m.node_ready.labels(node.name).set(1 if node.ready else 0)
