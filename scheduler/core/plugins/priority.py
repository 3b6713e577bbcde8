"""Job order inside a queue: higher priority first, then older first (the session adds age and id)."""

from __future__ import annotations

from scheduler.core.model import Job
from scheduler.core.session import Session


def _priority_key(job: Job) -> object:
    return -job.priority


class PriorityPlugin:
    name = "priority"

    def on_session_open(self, session: Session) -> None:
        session.job_order_keys.append(_priority_key)
