"""run_cycle: one pure scheduling cycle from a snapshot to decisions."""

from __future__ import annotations

from collections.abc import Callable

from scheduler.core.actions.allocate import allocate, pending_jobs
from scheduler.core.actions.preempt import preempt
from scheduler.core.actions.reclaim import reclaim
from scheduler.core.config import CycleConfig
from scheduler.core.decisions import CycleResult
from scheduler.core.explain import explain_all
from scheduler.core.hooks import Plugin
from scheduler.core.model import Snapshot
from scheduler.core.plugins.placement import PlacementContext, make_policy
from scheduler.core.plugins.placement.typical import typical_shapes
from scheduler.core.plugins.priority import PriorityPlugin
from scheduler.core.plugins.proportion import ProportionPlugin
from scheduler.core.session import Session
from scheduler.core.statement import Statement

Action = Callable[[Session, Statement], None]

ACTIONS: dict[str, Action] = {"allocate": allocate, "reclaim": reclaim, "preempt": preempt}


def default_plugins(snapshot: Snapshot, config: CycleConfig) -> tuple[Plugin, ...]:
    time_based = config.usage_half_life_seconds is not None
    return (PriorityPlugin(), ProportionPlugin(snapshot, time_based=time_based))


def open_session(snapshot: Snapshot, config: CycleConfig, now: float) -> Session:
    """A session over `snapshot` with the configured placement policy and the default plugins."""
    context = PlacementContext(typical_shapes=typical_shapes(job.request for job in snapshot.jobs),
                               seed=config.seed)
    return Session(snapshot, config, now=now, policy=make_policy(config.placement, context),
                   plugins=default_plugins(snapshot, config))


def run_cycle(snapshot: Snapshot, config: CycleConfig, now: float) -> CycleResult:
    """Decide binds and evictions for `snapshot` at time `now`, with a reason for every pending job."""
    unknown = [name for name in config.actions if name not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")
    session = open_session(snapshot, config, now)
    statement = session.statement()
    for name in config.actions:
        ACTIONS[name](session, statement)
    reasons = {}
    if config.explain:
        reasons = explain_all(session, pending_jobs(session))
    return CycleResult(statement.decisions(), reasons, session.fair_shares())
