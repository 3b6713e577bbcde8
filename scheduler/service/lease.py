"""The leader lease the service runs with: a store row, so that the transaction committing the
decisions also checks it (the standalone sink fences with scheduler.store.lease.fence)."""

from __future__ import annotations

from scheduler.ports import NotLeader
from scheduler.settings import Settings
from scheduler.store import lease
from scheduler.store.db import SessionFactory

__all__ = ["NotLeader", "StoreLease"]


class StoreLease:
    """Takes, renews and gives up the store's lease, each in its own transaction."""

    def __init__(self, sessions: SessionFactory, *, holder: str, settings: Settings) -> None:
        self.sessions = sessions
        self.holder = holder
        self.settings = settings

    def acquire(self, *, now: float) -> bool:
        with self.sessions() as session:
            return lease.acquire(session, holder=self.holder, now=now, ttl=self.settings.leader_lease_seconds)

    def release(self) -> None:
        with self.sessions() as session:
            lease.release(session, holder=self.holder)
