"""Job order inside a queue: higher priority first, then older first (the session adds age and id)."""

from __future__ import annotations

from scheduler.core.hooks import Hooks
from scheduler.core.model import Job


def _priority_key(job: Job) -> object:
    return -job.priority


class PriorityPlugin:
    name = "priority"

    def on_session_open(self, hooks: Hooks) -> None:
        hooks.add_job_order(_priority_key)
