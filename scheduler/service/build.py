"""The loop a service runs, wired to its backend (today the standalone one, over the store)."""

from __future__ import annotations

import os
import socket
import uuid

from scheduler.backends.standalone.ports import StoreLiveness, StoreSink, StoreSource
from scheduler.core.cycle import run_cycle
from scheduler.metrics import ServiceMetrics
from scheduler.service.clock import LoopClock
from scheduler.service.lease import StoreLease
from scheduler.service.loop import Decide, SchedulerLoop
from scheduler.service.redis_link import RedisLink
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.store.db import SessionFactory


def standalone_loop(
    *,
    sessions: SessionFactory,
    settings: Settings,
    wakeup: Wakeup,
    metrics: ServiceMetrics,
    decide: Decide = run_cycle,
    redis: RedisLink | None = None,
    clock: LoopClock | None = None,
) -> SchedulerLoop:
    """A loop on the standalone backend: source, sink, liveness and lease all on `sessions`."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return SchedulerLoop(
        source=StoreSource(sessions),
        sink=StoreSink(sessions, holder=holder, settings=settings),
        liveness=StoreLiveness(sessions, settings=settings),
        lease=StoreLease(sessions, holder=holder, settings=settings),
        settings=settings,
        wakeup=wakeup,
        metrics=metrics,
        decide=decide,
        redis=redis,
        clock=clock,
    )


def build_loop(settings: Settings, sessions: SessionFactory) -> SchedulerLoop:
    """The loop a service runs, with the wake-ups, Redis link and metrics its API shares."""
    wakeup = Wakeup(settings.redis, channel=f"{settings.redis_prefix}wake")
    redis = RedisLink(settings.redis, prefix=settings.redis_prefix) if settings.redis else None
    return standalone_loop(
        sessions=sessions, settings=settings, wakeup=wakeup, metrics=ServiceMetrics(), redis=redis
    )
