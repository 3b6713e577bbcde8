"""run_cycle: one pure scheduling cycle from a snapshot to decisions."""

from __future__ import annotations

from collections.abc import Callable

from scheduler.core.actions.allocate import allocate, pending_jobs
from scheduler.core.config import CycleConfig
from scheduler.core.decisions import CycleResult
from scheduler.core.explain import explain
from scheduler.core.model import Snapshot
from scheduler.core.plugins.priority import PriorityPlugin
from scheduler.core.session import Plugin, Session
from scheduler.core.statement import Statement

Action = Callable[[Session, Statement], None]

ACTIONS: dict[str, Action] = {"allocate": allocate}


def default_plugins() -> tuple[Plugin, ...]:
    return (PriorityPlugin(),)


def open_session(snapshot: Snapshot, config: CycleConfig, now: float) -> Session:
    """A session over `snapshot` with the default plugins registered."""
    return Session(snapshot, config, now=now, plugins=default_plugins())


def run_cycle(snapshot: Snapshot, config: CycleConfig, now: float) -> CycleResult:
    """Decide binds and evictions for `snapshot` at time `now`, with a reason for every pending job."""
    session = open_session(snapshot, config, now)
    statement = session.statement()
    for name in config.actions:
        action = ACTIONS.get(name)
        if action is not None:
            action(session, statement)
    reasons = {}
    if config.explain:
        reasons = {job.id: explain(session, job) for job in pending_jobs(session)}
    return CycleResult(statement.decisions(), reasons, {})
