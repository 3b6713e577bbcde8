"""The scheduling loop: leader lease → lost nodes → snapshot → run_cycle → one commit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.backends.standalone import apply, liveness, snapshot
from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import CycleResult, PendingReason
from scheduler.core.model import Snapshot
from scheduler.metrics import ServiceMetrics
from scheduler.service import lease
from scheduler.service.clock import LoopClock, SystemClock
from scheduler.service.redis_link import RedisLink
from scheduler.service.usage import QueueUsage
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.store.tables import JobRow

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
        sessions: sessionmaker[Session],
        settings: Settings,
        wakeup: Wakeup,
        metrics: ServiceMetrics,
        decide: Decide = run_cycle,
        redis: RedisLink | None = None,
        clock: LoopClock | None = None,
    ) -> None:
        self.clock: LoopClock = SystemClock() if clock is None else clock
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
        self._reasons: dict[str, PendingReason] = {}
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
            self._reasons.clear()  # another scheduler writes reasons meanwhile
            self.leading_since = None
            return CycleReport(leader=False)
        if self.leading_since is None:
            self.leading_since = now
        with self.sessions() as session:
            _, lost = liveness.expire_silent_nodes(
                session,
                now=now,
                timeout=self.settings.node_timeout_seconds,
                since=self.leading_since,
                grace=self.settings.grace_seconds,
            )
            session.commit()
        self.metrics.jobs_lost.inc(lost)
        with _gc_paused():
            bound, evicted, pending = self._snapshot_decide_commit(now, ttl, started)
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

    def _snapshot_decide_commit(
        self, now: float, ttl: float, started: float
    ) -> tuple[int, int, int]:
        """Snapshot → decide → decisions committed → reasons; (bound, evicted, pending) counts."""
        with self.sessions() as session:
            state = snapshot.load(session)
            session.rollback()  # release the read transaction before the (long) decision
        result = self._decide(self.usage.observe(state.snapshot, now), now)
        with self.sessions() as session:
            lease.fence(session, holder=self.holder, now=now, ttl=ttl)
            applied = apply.write_decisions(
                session, result=result, state=state, now=now, grace=self.settings.grace_seconds
            )
            session.commit()
        # The reasons follow in their own transaction: the decisions are visible (and agents can
        # start jobs) without waiting for thousands of explanations to be written.
        with self.sessions() as session:
            try:
                lease.fence(session, holder=self.holder, now=now, ttl=ttl)
                apply.write_reasons(session, result.reasons, self._reasons)
                session.commit()
            except Exception:
                self._reasons.clear()  # what was stored is unknown now: rewrite all next time
                raise
            self._refresh_job_gauges(session)
        self._observe(state, result, applied, time.perf_counter() - started)
        return len(applied.bound), len(applied.evicted), len(result.reasons)

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
        if self._early is not None:
            await asyncio.to_thread(self._early.join)  # never two cycles at once
        listener = asyncio.create_task(self.wakeup.listen_redis())
        clock = self.clock
        try:
            while True:
                last = clock.monotonic()
                try:
                    await asyncio.to_thread(self.run_once)
                except lease.NotLeader as error:
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


def build_loop(settings: Settings, sessions: sessionmaker[Session]) -> SchedulerLoop:
    """The loop a service runs, with the wake-ups, Redis link and metrics its API shares."""
    wakeup = Wakeup(settings.redis, channel=f"{settings.redis_prefix}wake")
    redis = RedisLink(settings.redis, prefix=settings.redis_prefix) if settings.redis else None
    return SchedulerLoop(
        sessions=sessions, settings=settings, wakeup=wakeup, metrics=ServiceMetrics(), redis=redis
    )
